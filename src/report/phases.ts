// Where a run's wall time went, from its history alone (bench:scenario prints it): the store's
// start, each boot, each SUT agent's start, the fault windows (an AC-loss hold-up), the steps
// that wait for the SUT, the checks and the teardown — and the harness overhead: wall time in
// which neither a guest was booting nor the SUT was working or being waited for.
import type { HistoryEvent, RunResult } from '../results/types.js';

export interface Phase { name: string; kind: 'harness' | 'guest' | 'sut' | 'wait' | 'check'; start: number; end: number }

export interface Breakdown {
  wallMs: number;
  phases: Phase[];
  /** ms of the wall covered by guest, SUT or wait phases (their union) */
  workMs: number;
  overheadMs: number;
  overheadPct: number;
}

/** invoke → the next ok/fail of the same process and operation. */
function ops(h: readonly HistoryEvent[], f: string, process?: string): { e: HistoryEvent; start: number; end: number }[] {
  const out: { e: HistoryEvent; start: number; end: number }[] = [];
  h.forEach((e, i) => {
    if (e.type !== 'invoke' || e.f !== f || (process && e.process !== process)) return;
    const done = h.slice(i + 1).find((x) => x.f === f && x.process === e.process && (x.type === 'ok' || x.type === 'fail'));
    if (done) out.push({ e, start: e.t, end: done.t });
  });
  return out;
}

const STEP_KIND: [RegExp, Phase['kind']][] = [[/^check-/, 'check'], [/^(wait-|sleep|schedule|power-cut-at)/, 'wait']];

export function phaseBreakdown(r: RunResult): Breakdown {
  const h = r.history;
  const phases: Phase[] = [];
  for (const f of ['store-start', 'define', 'teardown']) for (const o of ops(h, f, 'harness')) phases.push({ name: f, kind: 'harness', start: o.start, end: o.end });
  for (const o of ops(h, 'boot')) phases.push({ name: `boot ${o.e.process}`, kind: 'guest', start: o.start, end: o.end });
  // An agent's start: its spawn until it says it is ready.
  for (const o of ops(h, 'ha-agent-start')) {
    const ready = h.find((x) => x.t >= o.end && x.f === 'ha-agent-ready' && x.process === o.e.process);
    phases.push({ name: `agent start ${o.e.process}`, kind: 'sut', start: o.start, end: ready?.t ?? o.end });
  }
  for (const f of r.faults) if (f.kind === 'ac-loss') phases.push({ name: `hold-up (${f.label})`, kind: 'sut', start: f.start, end: f.end ?? f.start });
  for (const o of ops(h, 'step', 'runner')) {
    const desc = String((o.e.value as { step?: string })?.step ?? '');
    const kind = STEP_KIND.find(([re]) => re.test(desc))?.[1];
    if (kind) phases.push({ name: desc, kind, start: o.start, end: o.end });
  }
  phases.sort((a, b) => a.start - b.start);
  // Union of the phases in which a guest or the SUT was busy, or the scenario waited for it.
  const busy = phases.filter((p) => p.kind !== 'harness' && p.kind !== 'check').map((p) => [p.start, p.end] as const).sort((a, b) => a[0] - b[0]);
  let workMs = 0;
  let cur: [number, number] | undefined;
  for (const [s, e] of busy) {
    if (!cur || s > cur[1]) { if (cur) workMs += cur[1] - cur[0]; cur = [s, e]; } else cur[1] = Math.max(cur[1], e);
  }
  if (cur) workMs += cur[1] - cur[0];
  const wallMs = r.durationMs;
  const overheadMs = Math.max(0, wallMs - workMs);
  return { wallMs, phases, workMs, overheadMs, overheadPct: wallMs ? (100 * overheadMs) / wallMs : 0 };
}
