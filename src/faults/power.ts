// Power faults. A power cut is `virsh destroy`: QEMU stops at once, nothing is flushed, and what
// the NVDIMM backing files hold at that instant is the truth of what the PMEM held. The fault
// stays open (VM off) until the VM boots again.
import { readFile } from 'node:fs/promises';
import type { RunContext } from '../runner/context.js';
import type { Fault } from './fault.js';

export interface PowerCutParams { vm: string; why?: string; phase?: string }

export const powerCutFault: Fault<PowerCutParams> = {
  kind: 'power-cut',
  colour: '#7b1fa2',
  needs: ['vm'],
  label: (p) => p.why ?? `power cut ${p.vm}`,
  async inject(ctx, p) {
    await ctx.history.op('nemesis', 'virsh-destroy', { vm: p.vm }, () => ctx.lab.vm(p.vm).destroy());
    // Every NVDIMM right after the cut: ground truth for checkers that run later.
    for (const [i, nv] of ctx.specs.get(p.vm)!.nvdimms.entries()) ctx.cuts.set(`${p.vm}:${i}`, await readFile(nv.backingFile));
    return undefined; // the VM stays off; its next boot closes the interval
  },
};

export const powerKey = (vm: string) => `power:${vm}`;

export async function powerCut(ctx: RunContext, vm: string, why?: string, extra: Omit<PowerCutParams, 'vm' | 'why'> = {}): Promise<void> {
  await ctx.nemesis.inject(powerCutFault, { vm, why, ...extra }, { key: powerKey(vm) });
}
