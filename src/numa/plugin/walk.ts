// The NUMA steps in the static walk: the VM must have the NUMA cells the step names, with CPUs,
// room for the working set on both sides, no NVDIMM (on QEMU 7.2 the access counter cannot tell
// an NVDIMM's accesses from node 1's: src/numa/plugin/counters.ts), and the project mounted.
import { sizeBytes } from '../../shared/size.js';
import type { WalkApi } from '../../scenario/walk.js';
import type { HotMigrationStep, PlacementStep } from './schema.js';

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
}

export function walkPlacement(w: WalkApi, s: PlacementStep): void {
  if (!w.needOn(s.vm)) return;
  const vm = w.vmFile(s.vm);
  if (!vm.numa || vm.numa.length < 2) return w.bad('vm', `VM ${s.vm} needs at least two NUMA cells (numa:) to place tenants on`);
  if (vm.nvdimms?.length) w.bad('vm', `VM ${s.vm} has NVDIMMs: on QEMU 7.2 the access counter cannot tell their accesses from node 1's; use a VM without them`);
  if (!vm.code) w.bad('vm', `VM ${s.vm} needs code: true (the guest runs src/numa from the project mount)`);
  const cpus = vm.numa.flatMap((c) => c.cpus);
  if (!cpus.includes(s.controllerCpu)) w.bad('controllerCpu', `VM ${s.vm} has no vCPU ${s.controllerCpu} in its cells (${cpus.join(', ')})`);
  const tenantNodes = vm.numa.filter((c) => c.cpus.some((x) => x !== s.controllerCpu));
  if (tenantNodes.length < 2) w.bad('controllerCpu', 'leaves fewer than two nodes with a CPU for tenants');
  const names = s.tenants.map((t) => t.name);
  names.forEach((n, i) => { if (names.indexOf(n) !== i) w.bad(['tenants', i, 'name'], `tenant "${n}" twice`); });
  const total = s.tenants.reduce((a, t) => a + sizeBytes(t.wss), 0);
  const mem = vm.numa.reduce((a, c) => a + sizeBytes(c.memory), 0);
  if (total * 2 > mem) w.bad('tenants', `their working sets (${total / MiB} MiB) need at most half the guest's memory (${mem / MiB} MiB)`);
  s.tenants.forEach((t, i) => { if (t.at >= s.duration) w.bad(['tenants', i, 'at'], `arrives at ${t.at} ms, after the controller stops (duration ${s.duration})`); });
  if (s.moveMemory) {
    if (!names.includes(s.moveMemory.tenant)) w.bad(['moveMemory', 'tenant'], `no tenant "${s.moveMemory.tenant}" (tenants: ${names.join(', ')})`);
    if (!vm.numa[s.moveMemory.to]) w.bad(['moveMemory', 'to'], `VM ${s.vm} has no NUMA cell ${s.moveMemory.to}`);
    const arr = s.tenants.find((t) => t.name === s.moveMemory!.tenant)?.at ?? 0;
    if (s.moveMemory.at <= arr) w.bad(['moveMemory', 'at'], 'comes before the tenant arrives');
    if (s.moveMemory.at + (s.within ?? 8000) > s.duration) w.bad(['moveMemory', 'at'], `leaves less than within (${s.within ?? 8000} ms) before the controller stops`);
  }
}
