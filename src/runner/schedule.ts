// Generated fault schedules (Jepsen's generator): a scenario's `schedule:` section says which
// faults may happen, where (times in a window, or SUT phases) and how often; a seeded generator
// draws each run's schedule; the `schedule` step fires it through the nemesis; the drawn schedule
// goes into results.json and can be replayed (`ftharness run --replay <results-dir>`). Fault
// kinds come from the core (store outage, link cut) and from SUT plugins (SutPlugin.schedule).
import { setTimeout as sleep } from 'node:timers/promises';
import type { ScenarioFile } from '../scenario/schema.js';
import { mulberry32 } from '../shared/prng.js';
import { suts } from '../sut/registry.js';
import type { RunContext } from './context.js';

/** One entry of a scenario's `schedule.faults`: a fault kind that may be drawn. */
export interface ScheduleEntry {
  kind: string;
  /** probability that a run gets this fault (default 0.5) */
  p?: number;
  /** the VM it hits, where the kind needs one */
  vm?: string;
  /** when it starts, ms after the schedule step: drawn in [lo, hi] (default [0, window]) */
  at?: [number, number];
  /** or at one of these SUT phases (the kind's own list) */
  when?: string[];
  /** how long it lasts, ms: drawn in [lo, hi] (kinds that heal) */
  ms?: [number, number];
}

export interface ScheduleSpec {
  /** ms after the schedule step within which drawn faults start (phases not reached by then: skipped) */
  window: number;
  /** at most this many faults per run (default 3) */
  max?: number;
  faults: ScheduleEntry[];
}

/** A fault as drawn: fires at `at` ms or at phase `when`, lasts `ms`. */
export interface DrawnFault { kind: string; vm?: string; at?: number; when?: string; ms?: number }

export interface Schedule {
  /** the seed the faults were drawn with (or the run they were replayed from) */
  seed: number;
  window: number;
  faults: DrawnFault[];
  /** what happened to each, filled in when the run fires them */
  outcome?: { kind: string; fired: boolean; at?: number; note?: string }[];
}

/** A fault kind a schedule can draw. */
export interface SchedulableFault {
  kind: string;
  /** needs `vm:` in its entry */
  needsVm?: boolean;
  /** needs `ms:` (it heals after that long) */
  heals?: boolean;
  /** phases it may start at, each a predicate polled until true (or the window ends) */
  phases?: Record<string, (ctx: RunContext, f: DrawnFault) => Promise<boolean>>;
  /** fire it; resolves when it is over (healed, or done) */
  fire(ctx: RunContext, f: DrawnFault): Promise<void>;
}

const CORE: SchedulableFault[] = [
  // The fault modules load when a fault fires (validation only needs these descriptions).
  {
    kind: 'store-outage', heals: true,
    fire: async (ctx, f) => (await import('../faults/store.js')).storeOutage(ctx, f.ms ?? 3000),
  },
  {
    kind: 'link-cut', needsVm: true, heals: true,
    async fire(ctx, f) {
      const { linkCut, linkRestore } = await import('../faults/network.js');
      await linkCut(ctx, f.vm!, 'link');
      await sleep(f.ms ?? 3000, undefined, { signal: ctx.signal });
      await linkRestore(ctx, f.vm!, 'link');
    },
  },
];

export function schedulable(): Map<string, SchedulableFault> {
  return new Map([...CORE, ...suts().flatMap((p) => p.schedule ?? [])].map((f) => [f.kind, f]));
}

/** Problems with a scenario's `schedule:` section, as [path, message]. */
export function scheduleProblems(s: ScenarioFile): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const spec = s.schedule as ScheduleSpec | undefined;
  const hasStep = s.steps.some((st) => st.do === 'schedule');
  if (spec === undefined) {
    if (hasStep) out.push({ path: ['steps'], message: 'a schedule step needs a `schedule:` section saying which faults it may draw' });
    return out;
  }
  const bad = (path: (string | number)[], message: string) => out.push({ path: ['schedule', ...path], message });
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) { bad([], 'must be an object: { window, max?, faults: [...] }'); return out; }
  if (!hasStep) bad([], 'nothing fires it: add a { do: schedule } step where the drawn faults start');
  for (const k of Object.keys(spec)) if (!['window', 'max', 'faults'].includes(k)) bad([k], `unknown field "${k}"`);
  if (!Number.isInteger(spec.window) || spec.window < 100 || spec.window > 600_000) bad(['window'], `must be ms from 100 to 600000, got ${JSON.stringify(spec.window)}`);
  if (spec.max !== undefined && (!Number.isInteger(spec.max) || spec.max < 1 || spec.max > 10)) bad(['max'], `must be 1..10, got ${JSON.stringify(spec.max)}`);
  if (!Array.isArray(spec.faults) || !spec.faults.length) { bad(['faults'], 'must list at least one fault kind'); return out; }
  const kinds = schedulable();
  const vms = new Set(s.vms.map((v) => v.name));
  const range = (v: unknown, lo: number, hi: number) => Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x >= lo && x <= hi) && v[0] <= v[1];
  spec.faults.forEach((e, i) => {
    const k = kinds.get(e?.kind);
    if (!k) { bad(['faults', i, 'kind'], `no fault kind "${e?.kind}" (known: ${[...kinds.keys()].join(', ')})`); return; }
    for (const f of Object.keys(e)) if (!['kind', 'p', 'vm', 'at', 'when', 'ms'].includes(f)) bad(['faults', i, f], `unknown field "${f}"`);
    if (e.p !== undefined && !(typeof e.p === 'number' && e.p > 0 && e.p <= 1)) bad(['faults', i, 'p'], `must be a probability in (0, 1], got ${JSON.stringify(e.p)}`);
    if (k.needsVm && (typeof e.vm !== 'string' || !vms.has(e.vm))) bad(['faults', i, 'vm'], `${e.kind} needs the VM it hits: one of ${[...vms].join(', ')}`);
    if (!k.needsVm && e.vm !== undefined) bad(['faults', i, 'vm'], `${e.kind} hits no VM: remove "vm"`);
    if (e.at !== undefined && !range(e.at, 0, 600_000)) bad(['faults', i, 'at'], 'must be [lo, hi] ms, 0 ≤ lo ≤ hi ≤ 600000');
    if (e.ms !== undefined && !range(e.ms, 1, 600_000)) bad(['faults', i, 'ms'], 'must be [lo, hi] ms, 1 ≤ lo ≤ hi ≤ 600000');
    if (k.heals && e.ms === undefined) bad(['faults', i, 'ms'], `${e.kind} lasts a while: give its duration range, e.g. ms: [1000, 5000]`);
    if (!k.heals && e.ms !== undefined) bad(['faults', i, 'ms'], `${e.kind} does not heal after a time: remove "ms"`);
    if (e.when !== undefined) {
      const phases = Object.keys(k.phases ?? {});
      if (e.at !== undefined) bad(['faults', i, 'when'], 'give "at" or "when", not both');
      if (!Array.isArray(e.when) || !e.when.length) bad(['faults', i, 'when'], 'must list phases');
      else e.when.forEach((w, j) => { if (!phases.includes(w)) bad(['faults', i, 'when', j], `${e.kind} has no phase "${w}"${phases.length ? ` (its phases: ${phases.join(', ')})` : ' (it starts at a time: use "at")'}`); });
    }
  });
  return out;
}

/** Draw one run's schedule from the section, with the run's seed: the same seed, the same faults. */
export function drawSchedule(spec: ScheduleSpec, seed: number): Schedule {
  const rnd = mulberry32(seed ^ 0x5eed5eed);
  const u = () => rnd() / 2 ** 32;
  const pick = (r: [number, number]) => r[0] + Math.floor(u() * (r[1] - r[0] + 1));
  let faults: DrawnFault[] = [];
  for (const e of spec.faults) {
    if (u() >= (e.p ?? 0.5)) continue;
    const f: DrawnFault = { kind: e.kind, ...(e.vm ? { vm: e.vm } : {}) };
    if (e.when) f.when = e.when[Math.floor(u() * e.when.length)];
    else f.at = pick(e.at ?? [0, spec.window]);
    if (e.ms) f.ms = pick(e.ms);
    faults.push(f);
  }
  const max = spec.max ?? 3;
  while (faults.length > max) faults.splice(Math.floor(u() * faults.length), 1);
  faults = faults.sort((a, b) => (a.at ?? -1) - (b.at ?? -1));
  return { seed, window: spec.window, faults };
}

/** A fault's trigger in one word, for coverage tables: its phase, or its start time in 5 s bins. */
export function triggerLabel(f: DrawnFault): string {
  if (f.when) return f.when;
  const bin = Math.floor((f.at ?? 0) / 5000) * 5;
  return `t ${bin}-${bin + 5} s`;
}

/** Fire every fault of the schedule at its trigger, all concurrently; done when all are over.
 *  A phase never reached within the window leaves its fault unfired (and says so). */
export async function runSchedule(ctx: RunContext, schedule: Schedule): Promise<void> {
  const kinds = schedulable();
  const t0 = Date.now();
  schedule.outcome = [];
  ctx.history.add('info', 'nemesis', 'schedule', { seed: schedule.seed, faults: schedule.faults });
  await Promise.all(schedule.faults.map(async (f) => {
    const k = kinds.get(f.kind);
    if (!k) throw new Error(`schedule: no fault kind "${f.kind}" in this ftharness`);
    if (f.at !== undefined) {
      await sleep(Math.max(0, f.at - (Date.now() - t0)), undefined, { signal: ctx.signal });
    } else {
      const reached = k.phases?.[f.when!];
      if (!reached) throw new Error(`schedule: ${f.kind} has no phase "${f.when}"`);
      while (!(await reached(ctx, f))) {
        if (Date.now() - t0 > schedule.window) {
          schedule.outcome!.push({ kind: f.kind, fired: false, note: `phase ${f.when} not reached within ${schedule.window} ms` });
          ctx.history.add('info', 'nemesis', 'schedule-skip', { kind: f.kind, when: f.when });
          return;
        }
        await sleep(100, undefined, { signal: ctx.signal });
      }
    }
    const at = Date.now() - t0;
    ctx.history.add('info', 'nemesis', 'schedule-fire', { ...f, firedAtMs: at });
    await k.fire(ctx, f);
    schedule.outcome!.push({ kind: f.kind, fired: true, at });
  }));
}
