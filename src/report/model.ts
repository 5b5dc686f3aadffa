// Views over RunResult[] that several reports share: groups by scenario × accel × topology,
// fault kinds, verdict counts, stable anchors.

import { createHash } from 'node:crypto';
import type { RunResult, Verdict } from '../results/types.js';

export const NO_FAULT = '(no fault)';

export interface Counts {
  pass: number;
  fail: number;
  unknown: number;
  error: number;
}

export function countVerdicts(runs: readonly RunResult[]): Counts {
  const c: Counts = { pass: 0, fail: 0, unknown: 0, error: 0 };
  for (const r of runs) c[r.verdict]++;
  return c;
}

/** Worst verdict for colouring, the same precedence as the CLI's exit code (fail > error >
 *  unknown > pass): a violated invariant outranks everything (it is a finding about the SUT);
 *  an infra error comes next because the lab must be fixed before any run there means anything
 *  (it may even hide a fail); unknown (no violation, but a checker could not decide) is above
 *  pass because it is not one: a cell with one undecided run is not shown green. */
export function worst(c: Counts): Verdict | undefined {
  if (c.fail) return 'fail';
  if (c.error) return 'error';
  if (c.unknown) return 'unknown';
  if (c.pass) return 'pass';
  return undefined;
}

/** Every verdict in report order: the good news, then findings, undecided, harness trouble. */
export const VERDICTS = ['pass', 'fail', 'unknown', 'error'] as const satisfies readonly Verdict[];

/** The "demonstrated pass" rate: pass / (pass + fail + unknown). Unknown runs count against it
 *  (nothing was shown to hold), errors are left out (the harness broke, the SUT was not asked).
 *  undefined when no run got past the harness. */
export function passRate(c: Counts): number | undefined {
  const n = c.pass + c.fail + c.unknown;
  return n ? c.pass / n : undefined;
}

/** Figures from tcg and kvm, or emulated and physical topology, are never pooled. */
export interface Group {
  key: string;
  scenario: string;
  accel: string;
  topology: string;
  runs: RunResult[];
}

export function groupKey(g: { scenario: string; accel: string; topology: string }): string {
  return JSON.stringify([g.scenario, g.accel, g.topology]);
}

export function groupKeyOf(r: RunResult): string {
  return groupKey({ scenario: r.scenario.name, accel: r.dimensions.accel, topology: r.dimensions.topology });
}

export function groupLabel(g: { scenario: string; accel: string; topology: string }): string {
  return `${g.scenario} [${g.accel}·${g.topology}]`;
}

export function groupRuns(runs: readonly RunResult[]): Group[] {
  const m = new Map<string, Group>();
  for (const r of runs) {
    const key = groupKeyOf(r);
    let g = m.get(key);
    if (!g) {
      g = { key, scenario: r.scenario.name, accel: r.dimensions.accel, topology: r.dimensions.topology, runs: [] };
      m.set(key, g);
    }
    g.runs.push(r);
  }
  return [...m.values()].sort((a, b) => a.scenario.localeCompare(b.scenario) || a.accel.localeCompare(b.accel) || a.topology.localeCompare(b.topology));
}

export function faultKinds(r: RunResult): string[] {
  const kinds = [...new Set(r.faults.map((f) => f.kind))];
  return kinds.length ? kinds : [NO_FAULT];
}

/** HTML id of a run's details: stable across renders of the same results. */
export function runAnchor(r: RunResult): string {
  const h = createHash('sha256').update(`${r.scenario.name}\0${r.runId}\0${r.startedAt}\0${r.runIndex}`).digest('hex');
  return `run-${h.slice(0, 12)}`;
}

/** Every distinct value of each dimension with how many runs had it. */
export function dimensionValues(runs: readonly RunResult[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  const order = ['accel', 'cpuMode', 'accelChosen', 'accelReason', 'topology', 'host', 'qemu', 'libvirt', 'hostKernel', 'guestKernel', 'gitRevision', 'store'];
  for (const k of order) out.set(k, new Map());
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.dimensions)) {
      if (v === undefined) continue;
      if (!out.has(k)) out.set(k, new Map());
      const m = out.get(k)!;
      m.set(v, (m.get(v) ?? 0) + 1);
    }
  }
  for (const [k, m] of out) if (!m.size) out.delete(k);
  return out;
}
