// Judges of hot-first migration, pure functions of the evidence the step keeps (re-run by
// `ftharness check`). The evidence is the harness's: per policy, the destination vCPUs' local and
// remote accesses per counter interval (exact, TCG plugin), and per page the exact accesses of
// the warm-up; the SUT's own account enters only as the order it moved pages in.
import type { CheckResult } from '../../results/types.js';
import { exactTop, precisionAtK } from '../hotness.js';
import { timeToFraction, type IntervalLocality } from '../locality.js';
import type { PolicyName } from '../hot-migration-plan.js';

export const TARGET = 0.9;
/** How hot-first is compared with automatic NUMA balancing: time to 90 % local accesses, or the
 *  local accesses served in the first 2 s. Balancing migrates a page on the hinting fault of its
 *  first remote access, so nearly every access it lets through is local at once, while the
 *  tenant stalls in faults: t90 cannot rank it, served local accesses can. */
export type AutonumaMeasure = 't90' | 'local-accesses-2s';
export const SERVED_MS = 2000;
export const SUSTAIN = 2;
/** Locality at the end: the mean of this many last intervals. */
const TAIL = 5;

export interface PolicyEvidence {
  policy: PolicyName;
  /** destination vCPUs' user accesses per counter interval; t = ms after the move */
  intervals: { t: number; local: number; remote: number }[];
  /** the counters show the tenant arriving on the destination CPUs (else t is from the harness's
   *  sighting of the guest's move event) */
  moveDetected: boolean;
}
export interface HotMigrationEvidence {
  label: string;
  counter: string;
  expect: { vsAllAtOnce: number; precision: number; vsAutonuma?: AutonumaMeasure };
  policies: PolicyEvidence[];
  /** hot-first's run: exact user accesses per workload page during the warm-up, and the pages
   *  in the order each estimator (and the policy itself) ranked them */
  hotness?: { hotPages: number; exact: number[]; moved: number[]; softDirty: number[]; referenced: number[] };
}

const withFraction = (xs: PolicyEvidence['intervals']): IntervalLocality[] =>
  xs.map((x) => ({ ...x, fraction: x.local + x.remote > 0 ? x.local / (x.local + x.remote) : null }));

/** ms from the move to 90 % local accesses (sustained over 2 intervals); null = never. */
export function t90(p: PolicyEvidence): number | null {
  return timeToFraction(withFraction(p.intervals), 0, TARGET, SUSTAIN);
}

/** Local share over the last intervals of the policy's run. */
export function finalLocality(p: PolicyEvidence): number | null {
  const tail = p.intervals.slice(-TAIL);
  const local = tail.reduce((a, x) => a + x.local, 0), all = tail.reduce((a, x) => a + x.local + x.remote, 0);
  return all ? local / all : null;
}

/** Exact accesses of the destination vCPUs in the first `ms` after the move: local ones, all. A
 *  policy that stalls the tenant (NUMA hinting faults) serves few accesses, however local. */
export function servedWithin(p: PolicyEvidence, ms: number): { local: number; all: number } {
  const xs = p.intervals.filter((x) => x.t <= ms);
  return { local: xs.reduce((a, x) => a + x.local, 0), all: xs.reduce((a, x) => a + x.local + x.remote, 0) };
}

const fmt = (ms: number | null) => (ms === null ? 'never' : `${ms} ms`);
const find = (e: HotMigrationEvidence, p: PolicyName) => e.policies.find((x) => x.policy === p);

export function judgeVsAllAtOnce(e: HotMigrationEvidence): CheckResult {
  const name = `hot-first reaches ${TARGET * 100} % local in ≤ ${e.expect.vsAllAtOnce} × all-at-once's time (${e.label})`;
  const hf = find(e, 'hot-first'), all = find(e, 'all-at-once');
  if (!hf || !all) return { name, valid: 'unknown', message: 'the scenario did not run both hot-first and all-at-once' };
  const a = t90(hf), b = t90(all);
  const msg = `hot-first ${fmt(a)}, all-at-once ${fmt(b)} (${e.counter})`;
  if (a === null) return { name, valid: false, message: `hot-first never reached ${TARGET * 100} % local: ${msg}` };
  if (b === null) return { name, valid: true, message: `${msg}: all-at-once never got there` };
  const ratio = b > 0 ? a / b : a > 0 ? Infinity : 0;
  return { name, valid: ratio <= e.expect.vsAllAtOnce, message: `${msg}: ratio ${ratio.toFixed(3)}, limit ${e.expect.vsAllAtOnce}` };
}

export function judgeVsAutonuma(e: HotMigrationEvidence): CheckResult {
  const served = e.expect.vsAutonuma === 'local-accesses-2s';
  const name = served ? `hot-first serves more local accesses than automatic NUMA balancing in the first ${SERVED_MS / 1000} s (${e.label})`
    : `hot-first reaches ${TARGET * 100} % local before automatic NUMA balancing (${e.label})`;
  const hf = find(e, 'hot-first'), auto = find(e, 'autonuma');
  if (!hf || !auto) return { name, valid: 'unknown', message: 'the scenario did not run both hot-first and autonuma' };
  if (served) {
    const h = servedWithin(hf, SERVED_MS), x = servedWithin(auto, SERVED_MS);
    const share = (w: { local: number; all: number }) => (w.all ? `${((w.local / w.all) * 100).toFixed(1)} % local` : 'no accesses');
    return {
      name, valid: h.local > x.local,
      message: `local accesses: hot-first ${h.local} of ${h.all} (${share(h)}), autonuma ${x.local} of ${x.all} (${share(x)}); t90 hot-first ${fmt(t90(hf))}, autonuma ${fmt(t90(auto))} (${e.counter})`,
    };
  }
  const a = t90(hf), b = t90(auto);
  const msg = `hot-first ${fmt(a)}, autonuma ${fmt(b)} (${e.counter})`;
  if (a === null) return { name, valid: false, message: `hot-first never reached ${TARGET * 100} % local: ${msg}` };
  return { name, valid: b === null || a < b, message: b === null ? `${msg}: autonuma did not get there within the run` : msg };
}

/** Every policy moved the thread (seen in the counters); the migrating ones ended local; the
 *  move without migration ended remote, or the experiment shows nothing. */
export function judgeMigratedLocal(e: HotMigrationEvidence): CheckResult {
  const name = `each policy's outcome in the exact counters (${e.label})`;
  const lines: string[] = [];
  let bad = false, undecided = false;
  for (const p of e.policies) {
    const f = finalLocality(p);
    const pct = f === null ? 'no accesses' : `${(f * 100).toFixed(1)} % local at the end`;
    if (!p.moveDetected) { bad = true; lines.push(`${p.policy}: the thread never ran on the destination CPUs`); continue; }
    if (p.policy === 'none') {
      if (f === null || f >= 0.5) { undecided = true; lines.push(`none: ${pct}, so the move did not make the memory remote and no policy can be judged`); } else lines.push(`none: ${pct}`);
    } else if (p.policy !== 'autonuma' && (f === null || f < TARGET)) { bad = true; lines.push(`${p.policy}: only ${pct}`); } else lines.push(`${p.policy}: ${pct}`);
  }
  return { name, valid: bad ? false : undecided ? 'unknown' : true, message: lines.join('; ') };
}

export function judgeHotPrecision(e: HotMigrationEvidence): CheckResult {
  const name = `hot-first moves the exact hottest pages first (${e.label})`;
  const h = e.hotness;
  if (!h) return { name, valid: 'unknown', message: 'no hot-first run with exact per-page counts' };
  const k = Math.min(h.hotPages, exactTop(h.exact, h.hotPages).length);
  if (!k) return { name, valid: 'unknown', message: 'the exact counts saw no accesses to the workload during the warm-up' };
  const p = (order: number[]) => precisionAtK(order, h.exact, k);
  const moved = p(h.moved);
  return {
    name, valid: moved >= e.expect.precision,
    message: `precision@${k} of the first moves ${moved.toFixed(3)} (limit ${e.expect.precision}); estimators: soft-dirty ${p(h.softDirty).toFixed(3)}, smaps Referenced ${p(h.referenced).toFixed(3)}`,
  };
}

/** What the host offers host-level NUMA steps: its nodes (sysfs), and the two the step names. */
export interface HostNumaEvidence { label: string; hostNodes: number[]; from: number; to: number; source: string }

/** Skipped (unknown, "skipped: …") on a host that cannot hold the experiment; false when the
 *  scenario names a node the host does not have. */
export function judgeHostCapable(e: HostNumaEvidence): CheckResult {
  const name = `host NUMA nodes for host-level migration (${e.label})`;
  if (e.hostNodes.length < 2) {
    return { name, valid: 'unknown', message: `skipped: this host has ${e.hostNodes.length || 1} NUMA node (${e.source}); host-level moves need two, so nothing was faked and nothing judged` };
  }
  const missing = [e.from, e.to].filter((n) => !e.hostNodes.includes(n));
  if (missing.length) return { name, valid: false, message: `the host has nodes ${e.hostNodes.join(', ')}, not ${missing.join(', ')}` };
  return { name, valid: true, message: `host nodes ${e.hostNodes.join(', ')}: moving from ${e.from} to ${e.to}` };
}
