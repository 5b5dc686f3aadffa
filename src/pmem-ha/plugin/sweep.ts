// The hold-up sweep's judgement, from the evidence of every probe (each a real AC loss and cut):
// a pure function of what the harness collected, like judgeHa itself.
import type { CheckResult } from '../../results/types.js';
import { judgeHa, type HaEvidence } from './checker.js';

/** One probe: committed and restored (ok); not committed, the standby keeping its content (a
 *  short hold-up doing what short hold-ups do: judgeHa's row 4, then row 8); or a violation. */
export function judgeProbe(e: HaEvidence): { ok: boolean; row: number; why: string; violation?: string } {
  const r = judgeHa({ ...e, expect: 'restored' });
  if (r.valid === true) return { ok: true, row: r.row, why: r.message };
  if (r.row === 4) return { ok: false, row: 4, why: judgeHa({ ...e, expect: 'previous' }).message };
  return { ok: false, row: r.row, why: r.message, violation: r.message };
}

/** dirty: with pre-copy, the share of the region changed after the copy synced */
export interface SweepEvidence { regionMiB: number; fill: number; dirty?: number; track?: 'dm-era'; hi: number; resolution: number; probes: { holdupMs: number; evidence: HaEvidence }[] }

/**
 * | row | case                                            | valid   |
 * |-----|-------------------------------------------------|---------|
 * | 1   | some probe found a violation (any row but 4)     | false   |
 * | 2   | some probe committed and restored                | true    |
 * | 3   | no probe did, not even the longest hold-up       | unknown |
 */
export function judgeSweep(e: SweepEvidence): CheckResult {
  const judged = e.probes.map((p) => ({ holdupMs: p.holdupMs, ...judgeProbe(p.evidence) }));
  const name = `hold-up sweep (${e.regionMiB} MiB, fill ${e.fill}${e.dirty !== undefined ? `, pre-copy${e.track ? ` (${e.track})` : ''}, dirty ${e.dirty}` : ''})`;
  const evidence = { probes: judged.map(({ holdupMs, ok, row, why }) => ({ holdupMs, ok, row, why: why.slice(0, 200) })), resolution: e.resolution };
  const bad = judged.find((p) => p.violation);
  if (bad) return { name, valid: false, message: `a probe found a violation: probe at ${bad.holdupMs} ms: ${bad.violation}`, evidence };
  const ok = judged.filter((p) => p.ok).map((p) => p.holdupMs);
  if (!ok.length) return { name, valid: 'unknown', message: `even the longest hold-up (${e.hi} ms) did not give a restored generation: raise hi`, evidence };
  const shortest = Math.min(...ok);
  const failing = judged.filter((p) => !p.ok && p.holdupMs < shortest).map((p) => p.holdupMs);
  return { name, valid: true, message: `shortest working hold-up ${shortest} ms${failing.length ? ` (longest failing ${Math.max(...failing)} ms)` : ''}; every failing probe left the standby on its previous content`, evidence };
}
