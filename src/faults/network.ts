// Network faults: a guest's NIC link down (the guest sees carrier loss) until healed.
import type { RunContext } from '../runner/context.js';
import { virsh } from '../vm/libvirt.js';
import type { Fault } from './fault.js';

export type NicSel = 'link' | 'user' | 'all';
export interface LinkCutParams { vm: string; nic: NicSel }

function macs(ctx: RunContext, vm: string, sel: NicSel): string[] {
  const spec = ctx.specs.get(vm)!;
  return spec.nics.filter((n) => sel === 'all' || (sel === 'link' ? n.kind === 'udp' : n.kind === 'user')).map((n) => n.mac!).filter(Boolean);
}

async function setLinks(ctx: RunContext, vm: string, sel: NicSel, state: 'up' | 'down'): Promise<void> {
  const list = macs(ctx, vm, sel);
  if (!list.length) throw new Error(`VM ${vm} has no ${sel} NIC`);
  for (const mac of list) {
    const r = await virsh(['domif-setlink', ctx.specs.get(vm)!.name, mac, state]);
    if (r.exitCode !== 0) throw new Error(`virsh domif-setlink ${mac} ${state}: ${r.stderr.trim()}`);
  }
}

export const linkCutFault: Fault<LinkCutParams> = {
  kind: 'network-cut',
  colour: '#1565c0',
  needs: ['vm', 'link'],
  label: (p) => `${p.vm} ${p.nic} NIC down`,
  async inject(ctx, p) {
    await setLinks(ctx, p.vm, p.nic, 'down');
    // A VM powered off meanwhile has no link to bring up: its next boot starts with it up.
    return async () => { if (await ctx.lab.vm(p.vm).isRunning()) await setLinks(ctx, p.vm, p.nic, 'up'); };
  },
};

export const linkKey = (vm: string, nic: NicSel) => `net:${vm}:${nic}`;

export async function linkCut(ctx: RunContext, vm: string, nic: NicSel): Promise<void> {
  await ctx.nemesis.inject(linkCutFault, { vm, nic }, { key: linkKey(vm, nic) });
}

/** Bring the NICs back: heals the matching cut, or sets them up if none is open. */
export async function linkRestore(ctx: RunContext, vm: string, nic: NicSel): Promise<void> {
  if (ctx.nemesis.isOpen(linkKey(vm, nic))) await ctx.nemesis.heal(linkKey(vm, nic));
  else await setLinks(ctx, vm, nic, 'up');
}
