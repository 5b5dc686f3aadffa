// The NUMA steps' schemas: the scenario vocabulary this SUT adds.
import { Type, type Static } from '@sinclair/typebox';
import { Size, step, VmName } from '../../scenario/schema.js';
import { HOT_MIGRATION_POLICIES } from '../hot-migration-plan.js';

const Node = (d: string) => Type.Integer({ minimum: 0, maximum: 63, description: d });
const Ms = (d: string, min: number, max: number) => Type.Optional(Type.Integer({ minimum: min, maximum: max, description: `${d}, ms` }));

export const NUMA_STEP_SCHEMAS = {
  'numa-hot-migration': step('numa-hot-migration', {
    vm: VmName,
    wss: Size,
    hotFraction: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 0.5, description: 'share of the working set that is hot (default 0.1)' })),
    hotShare: Type.Optional(Type.Number({ minimum: 0.5, maximum: 1, description: 'share of the accesses that go to the hot set (default 0.95)' })),
    writeRatio: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'share of operations that write (soft-dirty sees writes only; default 0.5)' })),
    chunkPages: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536, description: 'pages per mapping of the workload (smaps Referenced is per mapping; default 16)' })),
    from: Node('source node: memory first-touched here, the thread on its CPUs'),
    to: Node('destination node: the thread moves to its CPUs'),
    policies: Type.Array(Type.Union(HOT_MIGRATION_POLICIES.map((p) => Type.Literal(p))), { minItems: 1, uniqueItems: true, description: `run in this order: ${HOT_MIGRATION_POLICIES.join(', ')}` }),
    warmup: Ms('before the move (hotness is measured in it)', 1000, 120_000),
    hold: Ms('from the move to the end of each policy', 2000, 600_000),
    rate: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'pages/s of address and hot-first moves (default 4096)' })),
    batch: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, description: 'pages per move_pages call (default 64)' })),
    expect: Type.Optional(Type.Object({
      vsAllAtOnce: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'hot-first reaches 90 % local in at most this × all-at-once\'s time (default 0.5)' })),
      vsAutonuma: Type.Optional(Type.Union([Type.Literal('t90'), Type.Literal('local-accesses-2s')], { description: 'how hot-first must beat autonuma: sooner to 90 % local (t90, default), or more local accesses served in the first 2 s (balancing stalls the tenant in hinting faults, so nearly all it serves is local at once)' })),
      precision: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'share of hot-first\'s first k moves among the exact k hottest pages (default 0.8)' })),
    }, { additionalProperties: false })),
  }, 'move a tenant\'s thread to another node, then migrate its memory by each policy in turn; judged on exact access counts (TCG plugin)'),
  'numa-placement': step('numa-placement', {
    vm: VmName,
    tenants: Type.Array(Type.Object({
      name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,20}$' }),
      wss: Size,
      at: Type.Integer({ minimum: 0, maximum: 600_000, description: 'ms after the controller starts' }),
    }, { additionalProperties: false }), { minItems: 1, maxItems: 6, description: 'tenants arriving (≤ 6: the harness checks placements against an exhaustive oracle)' }),
    controllerCpu: Type.Integer({ minimum: 0, description: 'the vCPU the controller runs on; tenants get the other vCPUs' }),
    moveMemory: Type.Optional(Type.Object({
      tenant: Type.String(), to: Node('node the harness moves the tenant\'s memory to, behind the controller\'s back'),
      at: Type.Integer({ minimum: 0, maximum: 600_000, description: 'ms after the controller starts' }),
    }, { additionalProperties: false })),
    duration: Type.Integer({ minimum: 5000, maximum: 600_000, description: 'ms the controller runs' }),
    settle: Ms('after an arrival before its locality is judged', 500, 60_000),
    period: Ms('between the controller\'s measurements', 100, 10_000),
    within: Ms('the controller must make the moved tenant 90 % local again within this after the harness\'s move of its memory ends', 1000, 120_000),
  }, 'tenants arrive and are placed by the cost model; the harness moves one tenant\'s memory and the controller must restore locality; judged on the harness\'s own readings and the exact access counts'),
  'numa-host-hot-migration': step('numa-host-hot-migration', {
    vm: VmName,
    from: Node('host NUMA node the VM\'s vCPUs and memory start on'),
    to: Node('host NUMA node its vCPUs move to'),
  }, 'host level (lab): the same policies acting on the VM itself (vcpupin, numatune, move_pages on QEMU\'s guest RAM); skipped, with the reason, on a host with fewer than two NUMA nodes'),
} as const;

export type PlacementStep = Static<typeof NUMA_STEP_SCHEMAS['numa-placement']>;
export type HostHotMigrationStep = Static<typeof NUMA_STEP_SCHEMAS['numa-host-hot-migration']>;
export type HotMigrationStep = Static<typeof NUMA_STEP_SCHEMAS['numa-hot-migration']>;
