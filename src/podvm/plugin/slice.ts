// The podVM system's per-run state: the cluster (hosts, bindings), and each pod's record with its
// timeline (Pending → Bound → Booting → Running → Failed → Rescheduled …).
import type { HostDef } from '../inventory.js';
import type { PodModel } from '../model.js';
import type { PlanOptions, PodPlan } from '../plan.js';
import type { ClusterState } from '../scheduler.js';

export const PODVM = 'podvm';

export type PodPhase = 'Pending' | 'Bound' | 'Booting' | 'Running' | 'Failed' | 'Rescheduled' | 'Deleted';

export interface PodVmRef {
  /** the lab's VM key (domain fth-<run>-<key>) */
  key: string;
  host: string;
  generation: number;
  /** fenced when its host came back: destroyed and never started again */
  fenced?: boolean;
}

export interface PodRecord {
  model: PodModel;
  phase: PodPhase;
  host?: string;
  plan?: PodPlan;
  /** every podVM this pod ever had (one per placement) */
  vms: PodVmRef[];
  timeline: { phase: PodPhase; at: number; host?: string; vm?: string; message?: string }[];
  /** when it was first created and last bound (ms epoch), for latencies */
  createdAt: number;
  /** when the host it was evicted from lost power (for the reschedule latency) */
  cutAt?: number;
}

export interface Cluster {
  hosts: HostDef[];
  state: ClusterState;
  opts: PlanOptions;
  rng: () => number;
  evictAfterMs: number;
  /** host → when it went NotReady */
  downSince: Map<string, number>;
}

export interface PodvmSlice {
  cluster?: Cluster;
  pods: Map<string, PodRecord>;
  /** pods waiting for capacity, FIFO */
  queue: string[];
  /** evictions and re-placements running in the background */
  background: Set<Promise<void>>;
}

export const newSlice = (): PodvmSlice => ({ pods: new Map(), queue: [], background: new Set() });
