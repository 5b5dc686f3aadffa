// NUMA as a system under test: hottest-pages-first memory migration after a tenant's threads
// move to another node (US8719545B2), against all-at-once, address-order and the kernel's
// automatic NUMA balancing, judged on exact per-vCPU × node access counts from a TCG plugin.
// Placement (US20160085571A1): tenants placed and re-placed by the cost model (cost-model.ts),
// judged against the exhaustive oracle on the harness's own readings and on the same counters.
import type { SutPlugin } from '../../sut/api.js';
import { registerSut } from '../../sut/registry.js';
import { prepareCountedVm } from './counter-vm.js';
import { judgeHostCapable, judgeHotPrecision, judgeMigratedLocal, judgeVsAllAtOnce, judgeVsAutonuma } from './judge.js';
import { NUMA_STEP_SCHEMAS } from './schema.js';
import { walkHotMigration, walkPlacement } from './walk.js';
import { judgePlacementOptimal, judgeRestores, judgeTenantLocal } from './placement-judge.js';

const S = NUMA_STEP_SCHEMAS;
const f = (d: string) => ({ unit: 'fraction', description: d });

export const numa: SutPlugin = {
  name: 'numa',
  summary: 'NUMA: hottest-pages-first migration after a move, with baselines, on exact access counts from a TCG plugin (README "NUMA")',
  steps: {
    'numa-hot-migration': {
      schema: S['numa-hot-migration'], walk: walkHotMigration,
      run: async (ctx, s) => (await import('./steps.js')).numaHotMigration(ctx, s),
      describe: (s) => `numa-hot-migration ${s.vm} ${s.policies.join(',')}`,
    },
    'numa-placement': {
      schema: S['numa-placement'], walk: walkPlacement,
      run: async (ctx, s) => (await import('./placement-steps.js')).numaPlacement(ctx, s),
      describe: (s) => `numa-placement ${s.vm} ${s.tenants.map((t: { name: string }) => t.name).join(',')}`,
    },
    'numa-host-hot-migration': {
      schema: S['numa-host-hot-migration'], walk: (w, s) => { w.needOn(s.vm); },
      run: async (ctx, s) => (await import('./host-steps.js')).numaHostHotMigration(ctx, s),
      describe: (s) => `numa-host-hot-migration ${s.vm} host node ${s.from} → ${s.to}`,
    },
  },
  prepareVm: prepareCountedVm,
  checkers: {
    'migrated-local': judgeMigratedLocal,
    'vs-all-at-once': judgeVsAllAtOnce,
    'vs-autonuma': judgeVsAutonuma,
    'hot-precision': judgeHotPrecision,
    'host-capable': judgeHostCapable,
    'placement-optimal': judgePlacementOptimal,
    'tenant-local': judgeTenantLocal,
    'restores-locality': judgeRestores,
  },
  metrics: {
    numa_local_fraction: f('per policy{policy=…}: destination vCPUs\' local share of user accesses per counter interval, t = ms after the move'),
    numa_t90_ms: { unit: 'ms', description: 'per policy: move → 90 % local accesses, sustained over two intervals', missing: null },
    numa_final_local_fraction: f('per policy: local share over the last five intervals'),
    numa_pages_on_destination: { unit: 'pages', description: 'per policy: workload pages on the destination node at the end' },
    numa_pages_moved: { unit: 'pages', description: 'per policy (address, hot-first, all-at-once): pages moved', missing: null },
    numa_counter_slowdown: { unit: 'ratio', description: 'the tenant\'s pace with the access counter unarmed ÷ armed, measured at the start of the step', missing: null },
    numa_local_accesses_2s: { unit: 'accesses', description: 'per policy: local user accesses of the destination vCPUs in the first 2 s after the move' },
    numa_accesses_2s: { unit: 'accesses', description: 'per policy: all user accesses of the destination vCPUs in the first 2 s after the move' },
    numa_hot_pages_local_fraction: f('per policy: share of the warm-up\'s exact k hottest pages on the destination node at the end'),
    numa_restore_ms: { unit: 'ms', description: 'numa-placement: the harness moved a tenant\'s memory away → the controller made it 90 % local again', missing: null },
    numa_migration_ms: { unit: 'ms', description: 'per policy: move → last page moved (emulated copying under TCG)', missing: null },
  },
  guest: { 'hot-migration': 'src/numa/hot-migration.ts', placement: 'src/numa/placement.ts' },
};

registerSut(numa);
