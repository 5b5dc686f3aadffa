// Power faults. A power cut is `virsh destroy`: QEMU stops at once, nothing is flushed, and what
// the NVDIMM backing files hold at that instant is the truth of what the PMEM held. The fault
// stays open (VM off) until the VM boots again.
import { readFile } from 'node:fs/promises';
import type { RunContext } from '../runner/context.js';
import type { Fault } from './fault.js';
import { ipmiPower, type IpmiTarget } from './bmc.js';

export interface PowerCutParams { vm: string; why?: string; phase?: string }

export const powerCutFault: Fault<PowerCutParams> = {
  kind: 'power-cut',
  colour: '#7b1fa2',
  needs: ['vm'],
  label: (p) => p.why ?? `power cut ${p.vm}`,
  async inject(ctx, p) {
    const bmc = ctx.scenario.vms.find((v) => v.name === p.vm)?.power?.ipmi;
    if (bmc) await bmcCut(ctx, p.vm, bmc);
    else await ctx.history.op('nemesis', 'virsh-destroy', { vm: p.vm }, () => ctx.lab.vm(p.vm).destroy());
    // Every NVDIMM right after the cut: ground truth for checkers that run later.
    for (const [i, nv] of ctx.specs.get(p.vm)!.nvdimms.entries()) ctx.cuts.set(`${p.vm}:${i}`, await readFile(nv.backingFile));
    return undefined; // the VM stays off; its next boot closes the interval
  },
};

export const powerKey = (vm: string) => `power:${vm}`;

/** The cut through the VM's BMC: its answers (status, off, status) and times go into the history;
 *  the VM must then really be off (libvirt says so), or the BMC did not do what it said. */
async function bmcCut(ctx: RunContext, vm: string, t: IpmiTarget): Promise<void> {
  const ask = (a: 'off' | 'status') => ctx.history.op('nemesis', `ipmi-power-${a}`, { vm, bmc: `${t.user}@${t.host}:${t.port ?? 623}` }, () => ipmiPower(t, a));
  await ask('status');
  await ask('off');
  const t0 = Date.now();
  while (await ctx.lab.vm(vm).isRunning()) {
    if (Date.now() - t0 > 15_000) throw new Error(`BMC ${t.host} answered power off, but VM ${vm} still runs 15 s later`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await ask('status');
}

export async function powerCut(ctx: RunContext, vm: string, why?: string, extra: Omit<PowerCutParams, 'vm' | 'why'> = {}): Promise<void> {
  await ctx.nemesis.inject(powerCutFault, { vm, why, ...extra }, { key: powerKey(vm) });
}
