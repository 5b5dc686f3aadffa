// Power faults. A power cut is `virsh destroy`: QEMU stops at once, nothing is flushed, and
// what the NVDIMM backing file holds at that instant is the truth of what the PMEM held. The
// fault stays open (VM off) until the VM boots again.
import { readFile } from 'node:fs/promises';
import type { RunContext } from '../runner/context.js';

export async function powerCut(ctx: RunContext, vm: string, label: string, params: Record<string, unknown> = {}): Promise<void> {
  const f = ctx.history.faultStart('power-cut', label, { vm, ...params });
  await ctx.history.op('nemesis', 'virsh-destroy', { vm }, () => ctx.lab.vm(vm).destroy());
  ctx.openFaults.set(vm, f);
  // The backing file right after the cut: ground truth for checkers that run later.
  const nv = ctx.specs.get(vm)!.nvdimms[0];
  if (nv) ctx.snapshots.set(`cut:${vm}`, await readFile(nv.backingFile));
}

/** AC-loss notice through qemu-guest-agent into the HA agent's control file. */
export async function sendControl(ctx: RunContext, vm: string, event: Record<string, unknown>): Promise<void> {
  const line = `${JSON.stringify(event)}\n`;
  await ctx.history.op('nemesis', 'control', { vm, ...event }, () => ctx.lab.vm(vm).agent.writeFile('/run/fthctl/control.jsonl', line, 'a'));
}
