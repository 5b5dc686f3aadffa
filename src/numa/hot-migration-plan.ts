// What the harness hands the hot-migration guest program (src/numa/hot-migration.ts) and what it
// writes back: the contract between the two sides, nothing else.
import type { FeaturesReply, PerfReply } from './native-client.js';

export const HOT_MIGRATION_POLICIES = ['none', 'all-at-once', 'address', 'hot-first', 'autonuma'] as const;
export type PolicyName = (typeof HOT_MIGRATION_POLICIES)[number];

export interface HotMigrationPlan {
  /** guest directory of fth-numa and fth-numawl */
  nativeDir: string;
  /** guest path of the status file (on the writable control share) */
  statusFile: string;
  seed: number;
  workload: { wssMiB: number; chunkPages: number; hotFraction: number; hotShare: number; writeRatio: number };
  from: { node: number; cpus: number[] };
  to: { node: number; cpus: number[] };
  policies: PolicyName[];
  /** warm-up before the move, ms (the hotness rounds run inside it) */
  warmupMs: number;
  softDirtyRounds: number;
  /** ms between clearing and reading the bits (0: the clear and read themselves are the window) */
  roundMs: number;
  /** move → end of the policy's run, ms */
  holdMs: number;
  /** pacing of address and hot-first moves */
  ratePagesPerS: number;
  batchPages: number;
  /** measure the counter's cost first: the tenant's pace for `ms` unarmed, then again once the
   *  harness has armed the counter and created `armedFile` */
  calibrate?: { ms: number; armedFile: string };
}

export interface PolicyResult {
  pages: number;
  hotPages: number;
  /** the guest kernel sets soft-dirty bits (CONFIG_MEM_SOFT_DIRTY) */
  softDirty: boolean;
  /** PFN of each workload page during the warm-up (u64 LE, base64; 0 = not present) */
  pfn: string;
  /** page indices, hottest first, by soft-dirty rounds and by smaps Referenced (2 × hotPages) */
  softDirtyTop: number[];
  referencedTop: number[];
  /** pages in the order they were moved (address and hot-first) */
  moved?: number[];
  /** ms after the move each batch returned, its pages, those not moved, its syscall ms */
  batches: { t: number; pages: number; notMoved: number; ms: number }[];
  /** workload pages found on the destination / source node at the end (move_pages query) */
  onDest: number;
  onSource: number;
  /** node of each page at the end (move_pages status, Int16 LE, base64; negative = -errno) */
  nodesAtEnd: string;
  /** /proc/vmstat numa_* and pgmigrate_* deltas over the policy's run */
  vmstat: Record<string, number>;
  perf: PerfReply;
  /** cumulative workload operations, t = ms after the move (guest clock) */
  ops: { t: number; ops: number }[];
  exit: { code: number | null; signal: string | null };
}

export interface HotMigrationStatus {
  pid: number;
  features?: FeaturesReply;
  events: { policy: PolicyName | null; what: 'start' | 'calibrated' | 'calibrated-armed' | 'warm' | 'measured' | 'move' | 'migrated' | 'held' | 'done' | 'end'; t: number; [k: string]: unknown }[];
  results: Partial<Record<PolicyName, PolicyResult>>;
  /** the tenant's operations/s on an idle CPU, counter unarmed and armed (guest clock, one run) */
  calibration?: { unarmedOpsPerS: number; armedOpsPerS: number };
  error?: string;
}
