// Network faults: take a guest's NIC link down (the guest sees carrier loss), bring it back.
import type { RunContext } from '../runner/context.js';
import { virsh } from '../vm/libvirt.js';

export type NicSel = 'link' | 'user' | 'all';

function macs(ctx: RunContext, vm: string, sel: NicSel): string[] {
  const spec = ctx.specs.get(vm)!;
  return spec.nics.filter((n) => sel === 'all' || (sel === 'link' ? n.kind === 'udp' : n.kind === 'user')).map((n) => n.mac!).filter(Boolean);
}

export async function setLinks(ctx: RunContext, vm: string, sel: NicSel, state: 'up' | 'down'): Promise<void> {
  const list = macs(ctx, vm, sel);
  if (!list.length) throw new Error(`net-${state === 'down' ? 'cut' : 'restore'}: VM ${vm} has no ${sel} NIC`);
  if (state === 'down') {
    ctx.openFaults.set(`net:${vm}:${sel}`, ctx.history.faultStart('network-cut', `${vm} ${sel} NIC down`, { vm, nic: sel }));
  }
  for (const mac of list) {
    const r = await virsh(['domif-setlink', ctx.specs.get(vm)!.name, mac, state]);
    if (r.exitCode !== 0) throw new Error(`virsh domif-setlink ${mac} ${state}: ${r.stderr.trim()}`);
  }
  if (state === 'up') {
    const f = ctx.openFaults.get(`net:${vm}:${sel}`);
    if (f) { ctx.history.faultEnd(f); ctx.openFaults.delete(`net:${vm}:${sel}`); }
  }
}
