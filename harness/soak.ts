// `ftharness soak <scenarios…> --budget 2h`: a campaign of generated fault schedules. Round
// robin over the scenarios, seed after seed, each run draws its faults; a run that fails is
// shrunk to the smallest schedule that still fails. When the budget is spent (no run starts
// after it), it reports the runs, a coverage table (fault kind × trigger: how often drawn, how
// often it fired), the violations with their shrunk schedules, and the errors, kept apart.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RunResult } from '../src/results/types.js';
import { drawSchedule, triggerLabel, type Schedule, type ScheduleSpec } from '../src/runner/schedule.js';
import { describe, shrinkSchedule } from '../src/runner/shrink.js';
import { loadAll, openSession } from './session.js';

export interface SoakViolation {
  scenario: string; seed: number; dir: string; reason: string;
  /** the standby holds bytes no intact generation carries (judgeHa rows 1 and 2) */
  silentCorruption: boolean;
  schedule: Schedule;
  shrunk?: { schedule: Schedule; dir?: string; runs: number };
}

export interface SoakSummary {
  budgetS: number; elapsedS: number; runs: number; passed: number; unknown: number;
  violations: SoakViolation[];
  silentCorruptions: number;
  errors: { scenario: string; seed: number; dir: string; reason: string }[];
  /** kind → trigger → { drawn, fired } */
  coverage: Record<string, Record<string, { drawn: number; fired: number }>>;
  resultsRoot: string;
}

export function parseBudget(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(h|m|min|s)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * ({ h: 3600, m: 60, min: 60, s: 1 } as Record<string, number>)[m[2] ?? 's'];
  return n >= 1 && n <= 7 * 24 * 3600 ? n * 1000 : undefined;
}

const isSilent = (r: RunResult) => r.checks.some((c) => c.valid === false && [1, 2].includes((c.evidence as { row?: number } | undefined)?.row ?? 0));

export async function soakCommand(files: string[], o: { budget: string; seed?: number; out: string; json?: boolean; shrinkRuns: number }, err: (l: string) => void): Promise<number> {
  const budgetMs = parseBudget(o.budget);
  const { scenarios, problems } = await loadAll(files);
  if (budgetMs === undefined) problems.push(`--budget must be a duration like 2h, 90m or 600s (up to a week), not "${o.budget}"`);
  for (const s of scenarios) if (!s.schedule) problems.push(`${s.file}: soak needs a \`schedule:\` section (which faults may be drawn)`);
  if (problems.length) {
    err(`ftharness: invalid scenario file(s) or settings, nothing was started:\n${problems.join('\n')}`);
    return 2;
  }
  const t0 = Date.now();
  const session = await openSession(err);
  const sum: SoakSummary = { budgetS: budgetMs! / 1000, elapsedS: 0, runs: 0, passed: 0, unknown: 0, violations: [], silentCorruptions: 0, errors: [], coverage: {}, resultsRoot: resolve(o.out) };
  let seed = o.seed ?? Math.floor(Math.random() * 2 ** 30);
  try {
    for (let n = 0; Date.now() - t0 < budgetMs! && !session.stopped(); n++, seed++) {
      const s = scenarios[n % scenarios.length];
      const schedule = drawSchedule(s.schedule as ScheduleSpec, seed);
      err(`soak: run ${n + 1} (${Math.round((Date.now() - t0) / 60000)} of ${Math.round(budgetMs! / 60000)} min): ${s.name} seed ${seed}: ${describe(schedule)}`);
      const base = { runIndex: n + 1, runs: n + 1, seed, outRoot: o.out };
      const out = await session.run(s, { ...base, schedule });
      const r = out.result;
      sum.runs++;
      for (const f of r.schedule?.faults ?? []) {
        const cell = ((sum.coverage[f.kind] ??= {})[triggerLabel(f)] ??= { drawn: 0, fired: 0 });
        cell.drawn++;
        if (r.schedule?.outcome?.some((x) => x.kind === f.kind && x.fired)) cell.fired++;
      }
      if (r.verdict === 'pass') sum.passed++;
      else if (r.verdict === 'unknown') sum.unknown++;
      else if (r.verdict === 'error') sum.errors.push({ scenario: s.name, seed, dir: out.dir, reason: r.reason });
      else {
        const v: SoakViolation = { scenario: s.name, seed, dir: out.dir, reason: r.reason, silentCorruption: isSilent(r), schedule };
        if (schedule.faults.length && !session.stopped()) {
          const sh = await shrinkSchedule(schedule, async (cand) => {
            const c = await session.run(s, { ...base, schedule: cand });
            return { failed: c.result.verdict === 'fail', dir: c.dir };
          }, { maxRuns: o.shrinkRuns, log: err });
          v.shrunk = { schedule: sh.schedule, dir: sh.dir ?? out.dir, runs: sh.tried.length };
        }
        sum.violations.push(v);
        if (v.silentCorruption) sum.silentCorruptions++;
        err(`soak: VIOLATION ${s.name} seed ${seed}: ${r.reason}${v.shrunk ? `; shrunk to ${describe(v.shrunk.schedule)}` : ''}`);
      }
    }
  } finally {
    session.close();
  }
  sum.elapsedS = Math.round((Date.now() - t0) / 1000);
  await mkdir(o.out, { recursive: true });
  await writeFile(join(o.out, 'soak.json'), JSON.stringify(sum, null, 2) + '\n');
  if (o.json) process.stdout.write(JSON.stringify(sum, null, 2) + '\n');
  else process.stdout.write(formatSoak(sum));
  if (session.stopped()) process.exit(session.exitCode());
  return sum.violations.length ? 1 : sum.errors.length ? 2 : 0;
}

export function formatSoak(s: SoakSummary): string {
  const lines = [
    `soak: ${s.runs} runs in ${Math.round(s.elapsedS / 60)} min (budget ${Math.round(s.budgetS / 60)} min): ${s.passed} pass, ${s.violations.length} violation(s) (${s.silentCorruptions} silent corruption), ${s.errors.length} error(s), ${s.unknown} unknown`,
    'coverage (fault × trigger: drawn / fired):',
  ];
  for (const [kind, byTrigger] of Object.entries(s.coverage).sort()) {
    for (const [t, c] of Object.entries(byTrigger).sort()) lines.push(`  ${kind.padEnd(18)} ${t.padEnd(20)} ${String(c.drawn).padStart(4)} / ${c.fired}`);
  }
  for (const v of s.violations) lines.push(`VIOLATION ${v.scenario} seed ${v.seed}${v.silentCorruption ? ' (SILENT CORRUPTION)' : ''}: ${v.reason}`, `  schedule: ${describe(v.schedule)}`, ...(v.shrunk ? [`  shrunk (${v.shrunk.runs} runs): ${describe(v.shrunk.schedule)}`, `  ${v.shrunk.dir}`] : []), `  ${v.dir}`);
  for (const e of s.errors) lines.push(`ERROR ${e.scenario} seed ${e.seed}: ${e.reason}`, `  ${e.dir}`);
  lines.push(`summary: ${join(s.resultsRoot, 'soak.json')}`);
  return lines.join('\n') + '\n';
}
