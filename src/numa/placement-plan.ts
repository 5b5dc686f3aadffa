// What the harness hands the placement controller (src/numa/placement.ts) and what it writes back.
import type { Move } from './cost-model.js';

export interface PlacementPlan {
  nativeDir: string;
  statusFile: string;
  seed: number;
  /** the nodes tenants may use, with the CPUs they may use there (the controller's own CPU left out) */
  nodes: { id: number; cpus: number[] }[];
  /** guest latency matrix by node position (SLIT or HMAT, read by the harness from sysfs) */
  L: number[][];
  /** the controller and its helper run here, apart from the tenants */
  controllerCpus: number[];
  tenants: { name: string; wssMiB: number; atMs: number }[];
  periodMs: number;
  durationMs: number;
  workload: { hotFraction: number; hotShare: number; writeRatio: number; chunkPages: number };
}

export interface PlacementStatus {
  pid: number;
  /** guest clock ms of the controller's start */
  startedAt: number;
  tenants: Record<string, { pid: number; node: number; cpu: number; startedAt: number }>;
  /** decisions, in order: placements of arrivals, rebalancing moves, memory sent home */
  decisions: ({ t: number; kind: 'place'; tenant: string; node: number; cpu: number; score: number }
    | ({ t: number; kind: 'move' } & Move)
    | { t: number; kind: 'home'; tenant: string; node: number; pagesAway: number; notMoved: number; ms: number })[];
  done?: boolean;
  error?: string;
}
