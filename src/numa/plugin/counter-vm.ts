// The access counter on a scenario's VMs: which VMs get the TCG plugin (those a NUMA step
// judges), where its files go, and the plugin arguments in the VM's <qemu:commandline>.
import { join } from 'node:path';
import type { PrepareVm } from '../../sut/api.js';
import type { Step } from '../../scenario/schema.js';
import { counterPluginPath, counterQemuArgs } from './counters.js';

export const COUNTER_KIND = 'tcg-plugin (exact)';
/** Steps whose VM must carry the counter. */
export const COUNTED_STEPS: readonly string[] = ['numa-hot-migration', 'numa-placement'];
const INTERVAL_MS = 100;

export const counterFiles = (workDir: string, resultsDir: string, vm: string) => ({
  out: join(workDir, `${vm}.counters.bin`),
  map: join(workDir, `${vm}.counter-map.txt`),
  // the series is evidence: kept with the run
  series: join(resultsDir, `${vm}.access-series.jsonl`),
});

function* flat(steps: readonly Step[]): Generator<Record<string, unknown>> {
  for (const st of steps) {
    const o = st as unknown as Record<string, unknown>;
    if (Array.isArray(o.parallel)) yield* flat(o.parallel as Step[]);
    else yield o;
  }
}

export function prepareCountedVm(p: PrepareVm): void {
  if (![...flat(p.scenario.steps)].some((st) => COUNTED_STEPS.includes(st.do as string) && st.vm === p.vm.name)) return;
  const plugin = counterPluginPath();
  if (!plugin.so) throw new Error(`VM ${p.vm.name} needs the access-counter plugin for its NUMA steps: ${plugin.reason}`);
  const cells = p.spec.numa?.cells ?? [];
  p.spec.qemuArgs = [...(p.spec.qemuArgs ?? []), ...counterQemuArgs({
    so: plugin.so, ...counterFiles(p.workDir, p.resultsDir, p.vm.name), intervalMs: INTERVAL_MS,
    vcpus: p.spec.vcpus, nodes: Math.max(1, cells.length), pages: (p.spec.memoryMiB * 2 ** 20) / 4096,
  })];
}
