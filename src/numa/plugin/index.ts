// NUMA as a system under test: hottest-pages-first memory migration after a tenant's threads
// move to another node (US8719545B2), against all-at-once, address-order and the kernel's
// automatic NUMA balancing, judged on exact per-vCPU × node access counts from a TCG plugin.
// (The placement cost model of US20160085571A1 is in src/numa/cost-model.ts; no step uses it yet.)
import type { SutPlugin } from '../../sut/api.js';
import { registerSut } from '../../sut/registry.js';
import { prepareCountedVm } from './counter-vm.js';
import { judgeHotPrecision, judgeMigratedLocal, judgeVsAllAtOnce, judgeVsAutonuma } from './judge.js';
import { NUMA_STEP_SCHEMAS } from './schema.js';
import { walkHotMigration } from './walk.js';

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
  },
  prepareVm: prepareCountedVm,
  checkers: {
    'migrated-local': judgeMigratedLocal,
    'vs-all-at-once': judgeVsAllAtOnce,
    'vs-autonuma': judgeVsAutonuma,
    'hot-precision': judgeHotPrecision,
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
    numa_migration_ms: { unit: 'ms', description: 'per policy: move → last page moved (emulated copying under TCG)', missing: null },
  },
  guest: { 'hot-migration': 'src/numa/hot-migration.ts' },
};

registerSut(numa);
