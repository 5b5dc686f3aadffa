// PMEM HA's slice of the run context: its agents, the standby's content before the fault, the
// instant of the last AC-loss notice, and what the harness saw of generations before a fault
// damaged them.
import type { Digest } from '../../checkers/digest.js';

export interface HaSlice {
  /** agents started in this run, by VM */
  agents: Map<string, { role: 'primary' | 'standby'; prefix: string }>;
  /** a standby's NVDIMM 0 when its first agent started: what "kept its previous content" means */
  before: Map<string, Buffer>;
  /** harness clock of the last AC-loss notice, for the end-to-end recovery time */
  noticeAt?: number;
  /** generations the harness reassembled intact before a corruption fault damaged them */
  seenIntact: Map<string, Digest>;
}

export const newSlice = (): HaSlice => ({ agents: new Map(), before: new Map(), seenIntact: new Map() });

export const PMEM_HA = 'pmem-ha';

/** This run's HA slice (created on first use; the plugin's slice() makes the same). */
export function haSlice(ctx: { slices: Map<string, unknown> }): HaSlice {
  if (!ctx.slices.has(PMEM_HA)) ctx.slices.set(PMEM_HA, newSlice());
  return ctx.slices.get(PMEM_HA) as HaSlice;
}
