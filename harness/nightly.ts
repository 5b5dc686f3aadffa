// `ftharness nightly --suite <suite.yaml> --reports <root>`: one night of a suite on this host.
// The suite names scenario files, runs per scenario, a seed (fixed, or derived from the date and
// recorded) and a baseline. A night lives in <root>/<host>/<date>/: its results, night.json,
// index.html and junit.xml; the host's trend page (<root>/<host>/trend.html) covers every night;
// the night is compared with the last good night of the same host by the A/B permutation test.
// Exit 0 a good night, 1 a violation or a regression against the baseline, 2 bad input or errors.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { loadRunResultsWithProblems } from '../src/results/store.js';
import { compareRuns, formatComparisonText } from '../src/report/compare.js';
import { reportCommand } from '../src/report/commands.js';
import { renderTrendHtml } from '../src/report/trend.js';

const SuiteSchema = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9._-]{1,60}$' }),
  scenarios: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'scenario files, relative to the suite file' }),
  runs: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  seed: Type.Optional(Type.Union([Type.Literal('date'), Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 })], { description: '"date" (default): YYYYMMDD of the night' })),
  baseline: Type.Optional(Type.Union([Type.Literal('last-good'), Type.Literal('none')], { description: 'what the night is compared with (default last-good: the latest earlier night of this host that passed)' })),
}, { additionalProperties: false });
export type Suite = Static<typeof SuiteSchema>;

export interface Night {
  suite: string;
  date: string;
  host: string;
  seed: number;
  /** how the seed was chosen */
  seedFrom: 'date' | 'suite';
  runs: number;
  scenarios: string[];
  verdict: 'pass' | 'fail' | 'error' | 'unknown';
  exitCode: number;
  baseline?: { date: string; dir: string };
  regressions?: string[];
  startedAt: string;
  finishedAt: string;
}

export function loadSuite(file: string): { suite: Suite; files: string[] } | { problems: string[] } {
  let data: unknown;
  try { data = parse(readFileSync(file, 'utf8')); } catch (e) { return { problems: [`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message.split('\n')[0]}`] }; }
  const check = new Ajv({ allErrors: true, strict: false }).compile(SuiteSchema);
  if (!check(data)) {
    return { problems: (check.errors ?? []).map((e) => `${file}: ${e.instancePath.slice(1).replace(/\//g, '.') || '(top)'}${e.keyword === 'additionalProperties' ? `.${e.params.additionalProperty}: unknown field` : e.keyword === 'required' ? `.${e.params.missingProperty}: required field is missing` : `: ${e.message}`}`) };
  }
  const suite = data as Suite;
  const files = suite.scenarios.map((f) => resolve(dirname(file), f));
  const missing = files.map((f, i) => (existsSync(f) ? undefined : `${file}: scenarios[${i}]: ${f} does not exist`)).filter((x): x is string => !!x);
  return missing.length ? { problems: missing } : { suite, files };
}

export const seedOfDate = (date: string) => Number(date.replace(/-/g, ''));

/** The latest earlier night of this host whose verdict was pass. */
export function lastGoodNight(hostDir: string, before: string): { date: string; dir: string } | undefined {
  if (!existsSync(hostDir)) return undefined;
  const nights = readdirSync(hostDir).filter((d) => /^\d{4}-\d{2}-\d{2}$/.test(d) && d < before).sort().reverse();
  for (const d of nights) {
    try {
      const n = JSON.parse(readFileSync(join(hostDir, d, 'night.json'), 'utf8')) as Night;
      if (n.verdict === 'pass') return { date: d, dir: join(hostDir, d) };
    } catch { /* an unfinished night */ }
  }
  return undefined;
}

export interface NightlyFlags { suite: string; reports: string; date?: string; json?: boolean }
type RunFiles = (files: string[], o: { runs: number; seed: number; out: string; report: false; json: false }) => Promise<number>;

export async function nightlyCommand(o: NightlyFlags, runFiles: RunFiles, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const date = o.date ?? new Date().toISOString().slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(Date.parse(date))) { err(`ftharness nightly: --date must be YYYY-MM-DD, got "${date}"`); return 2; }
  const loaded = loadSuite(o.suite);
  if ('problems' in loaded) { err(`ftharness nightly: invalid suite, nothing was started:\n${loaded.problems.join('\n')}`); return 2; }
  const { suite, files } = loaded;
  const host = hostname();
  const hostDir = resolve(o.reports, host);
  const nightDir = join(hostDir, date);
  if (existsSync(join(nightDir, 'night.json'))) { err(`ftharness nightly: ${nightDir} already holds the night of ${date}: give another --date or remove it`); return 2; }
  const seedFrom = suite.seed === undefined || suite.seed === 'date' ? 'date' as const : 'suite' as const;
  const seed = seedFrom === 'date' ? seedOfDate(date) : suite.seed as number;
  const runs = suite.runs ?? 1;
  const startedAt = new Date().toISOString();
  await mkdir(nightDir, { recursive: true });
  const resultsDir = join(nightDir, 'results');
  err(`ftharness nightly: ${suite.name} on ${host}, night ${date}, seed ${seed} (${seedFrom}), ${files.length} scenario(s) × ${runs}`);
  const runCode = await runFiles(files, { runs, seed, out: resultsDir, report: false, json: false });
  const verdict = (['pass', 'fail', 'error', 'unknown'] as const)[runCode] ?? 'error';
  const rep = await reportCommand({ inputs: [resultsDir], out: join(nightDir, 'index.html'), junit: join(nightDir, 'junit.xml'), title: `${suite.name} ${date} on ${host}` }).catch((e: Error) => { err(`report not written: ${e.message}`); return undefined; });
  // The trend of every night of this host, this one included.
  const all = (await loadRunResultsWithProblems([hostDir])).runs.map((l) => l.result);
  await writeFile(join(hostDir, 'trend.html'), renderTrendHtml(all, { title: `${suite.name} on ${host}` }));
  const baseline = suite.baseline === 'none' ? undefined : lastGoodNight(hostDir, date);
  let regressions: string[] | undefined;
  if (baseline) {
    const prev = (await loadRunResultsWithProblems([join(baseline.dir, 'results')])).runs.map((l) => l.result);
    const now = (await loadRunResultsWithProblems([resultsDir])).runs.map((l) => l.result);
    if (prev.length && now.length) {
      const c = compareRuns(prev, now);
      await writeFile(join(nightDir, 'compare.txt'), formatComparisonText(c));
      await writeFile(join(nightDir, 'compare.json'), JSON.stringify(c, null, 2));
      regressions = c.anyRegression ? [...c.rows.filter((m) => m.verdict === 'worse').map((m) => m.key), ...c.newFailures.map((f) => `${f}: new failures`)] : [];
    }
  }
  const code = runCode !== 0 ? runCode : regressions?.length ? 1 : 0;
  const night: Night = {
    suite: suite.name, date, host, seed, seedFrom, runs, scenarios: suite.scenarios,
    verdict, exitCode: code, ...(baseline ? { baseline } : {}), ...(regressions ? { regressions } : {}), startedAt, finishedAt: new Date().toISOString(),
  };
  await writeFile(join(nightDir, 'night.json'), JSON.stringify(night, null, 2) + '\n');
  const summary = { ...night, dir: nightDir, report: rep?.htmlPath, junit: rep?.junitPath, trend: join(hostDir, 'trend.html'), compare: baseline ? join(nightDir, 'compare.txt') : undefined };
  if (o.json) out(JSON.stringify(summary, null, 2));
  else out(`night ${date} of ${suite.name} on ${host}: ${verdict}${regressions?.length ? `, ${regressions.length} regression(s) against ${baseline!.date}: ${regressions.join(', ')}` : baseline ? ` (compared with ${baseline.date}: no regression)` : ' (no earlier good night to compare with)'}\n  ${nightDir}`);
  return code;
}
