// The NUMA steps in the static walk: the VM must have the NUMA cells the step names, with CPUs,
// room for the working set on both sides, no NVDIMM (on QEMU 7.2 the access counter cannot tell
// an NVDIMM's accesses from node 1's: src/numa/plugin/counters.ts), and the project mounted.
import { sizeBytes } from '../../shared/size.js';
import type { WalkApi } from '../../scenario/walk.js';
import type { HotMigrationStep } from './schema.js';

const MiB = 2 ** 20;

export function walkHotMigration(w: WalkApi, s: HotMigrationStep): void {
  if (!w.needOn(s.vm)) return;
  const vm = w.vmFile(s.vm);
  if (!vm.numa || vm.numa.length < 2) return w.bad('vm', `VM ${s.vm} needs at least two NUMA cells (numa:) to move between`);
  if (vm.nvdimms?.length) w.bad('vm', `VM ${s.vm} has NVDIMMs: on QEMU 7.2 the access counter cannot tell their accesses from node 1's; use a VM without them`);
  if (!vm.code) w.bad('vm', `VM ${s.vm} needs code: true (the guest runs src/numa from the project mount)`);
  const wss = sizeBytes(s.wss);
  if (wss < MiB) w.bad('wss', `the working set must be at least 1MiB, not ${wss} bytes`);
  for (const f of ['from', 'to'] as const) {
    const cell = vm.numa[s[f]];
    if (!cell) { w.bad(f, `VM ${s.vm} has no NUMA cell ${s[f]} (cells 0–${vm.numa.length - 1})`); continue; }
    // Room for the working set, the guest's own use and a copy in flight.
    if (wss * 2 > sizeBytes(cell.memory)) w.bad('wss', `${wss / MiB} MiB does not fit twice into cell ${s[f]} (${sizeBytes(cell.memory) / MiB} MiB)`);
  }
  if (s.from === s.to) w.bad('to', 'from and to are the same node: nothing would move');
  if (s.policies.includes('hot-first') && !s.policies.includes('all-at-once') && s.expect?.vsAllAtOnce !== undefined) w.bad('expect', 'vsAllAtOnce needs the all-at-once policy in policies');
  if (s.expect?.precision !== undefined && !s.policies.includes('hot-first')) w.bad('expect', 'precision judges hot-first: add it to policies');
  w.sutVm(s.vm).counter = true;
}
