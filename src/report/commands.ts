// CLI glue: what `ftharness report` and `ftharness compare` do, as functions the CLI calls.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadRunResultsWithProblems, type LoadedRun, type LoadProblem } from '../results/store.js';
import type { RunResult } from '../results/types.js';
import { compareRuns, formatComparisonText, renderComparisonSection } from './compare.js';
import { renderHtmlReport } from './html.js';
import { renderJunit } from './junit.js';
import { renderPage } from './page.js';
import { renderTrendHtml } from './trend.js';

export interface ReportCommandOptions {
  /** run dirs, results.json files or report roots (scanned recursively) */
  inputs: string[];
  /** HTML file to write; a path without .html is a directory that gets index.html */
  out: string;
  /** also write the nightly trend HTML of the same inputs here */
  trend?: string;
  /** also write JUnit XML here */
  junit?: string;
  title?: string;
  /** earlier results (e.g. the reports root) to tell since when a scenario fails or errors */
  history?: string[];
}

export interface ReportCommandResult {
  htmlPath: string;
  junitPath?: string;
  trendPath?: string;
  runs: number;
  problems: LoadProblem[];
}

function htmlFile(out: string, name: string): string {
  return /\.html?$/i.test(out) ? out : path.join(out, name);
}

async function writeFile(file: string, text: string): Promise<string> {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await fs.writeFile(file, text, 'utf8');
  return file;
}

async function load(inputs: string[]): Promise<{ runs: LoadedRun[]; problems: LoadProblem[] }> {
  if (!inputs.length) throw new Error('no inputs: give run dirs, results.json files or a reports root');
  return loadRunResultsWithProblems(inputs);
}

export async function reportCommand(o: ReportCommandOptions): Promise<ReportCommandResult> {
  const { runs, problems } = await load(o.inputs);
  if (!runs.length) {
    throw new Error(`no readable results.json under ${o.inputs.join(', ')}${problems.length ? ` (${problems.length} unreadable)` : ''}`);
  }
  const dirs = new Map<RunResult, string>(runs.map((l) => [l.result, l.dir]));
  const results = runs.map((l) => l.result);
  const htmlPath = htmlFile(o.out, 'index.html');
  let history: RunResult[] | undefined;
  if (o.history?.length) {
    const earlier = (await loadRunResultsWithProblems(o.history)).runs;
    const seen = new Set(runs.map((l) => l.file));
    history = [...results, ...earlier.filter((l) => !seen.has(l.file)).map((l) => l.result)];
  }
  await writeFile(htmlPath, renderHtmlReport(results, { title: o.title, outFile: htmlPath, runDir: (r) => dirs.get(r), problems, history }));
  const res: ReportCommandResult = { htmlPath, runs: runs.length, problems };
  if (o.junit) res.junitPath = await writeFile(o.junit, renderJunit(results));
  if (o.trend) res.trendPath = await writeFile(htmlFile(o.trend, 'trend.html'), renderTrendHtml(results));
  return res;
}

export interface CompareCommandOptions {
  /** side A: run dir, results.json or root */
  a: string;
  b: string;
  /** significance level (default 0.01) */
  p?: number;
  /** relative noise floor (default 0.05) */
  noise?: number;
  /** text is JSON instead of a table */
  json?: boolean;
  /** also write a self-contained HTML page with the comparison */
  html?: string;
}

export async function compareCommand(o: CompareCommandOptions): Promise<{ text: string; anyRegression: boolean }> {
  const [A, B] = await Promise.all([load([o.a]), load([o.b])]);
  for (const [name, side, p] of [['A', A, o.a], ['B', B, o.b]] as const) {
    if (!side.runs.length) throw new Error(`side ${name} (${p}) has no readable results.json`);
  }
  const c = compareRuns(A.runs.map((l) => l.result), B.runs.map((l) => l.result), { alpha: o.p, noise: o.noise });
  if (o.html) {
    const s = renderComparisonSection(c);
    await writeFile(htmlFile(o.html, 'compare.html'), renderPage({ title: 'A/B comparison', subtitle: `A = ${o.a} · B = ${o.b}`, body: `<section id="${s.id}"><h2>${s.title}</h2>${s.html}</section>` }));
  }
  return { text: o.json ? `${JSON.stringify(c, null, 2)}\n` : formatComparisonText(c), anyRegression: c.anyRegression };
}

/** report.html inside a run's own results dir, next to results.json: what the runner writes
 *  after each run so a single run can be opened without running `ftharness report`. */
export async function writeRunReport(dir: string, result: RunResult): Promise<string> {
  const file = path.join(dir, 'report.html');
  return writeFile(file, renderHtmlReport([result], { outFile: file, runDir: () => dir }));
}
