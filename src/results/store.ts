// Results store, after Jepsen's store/: reports/<scenario>/<timestamp>-run<k>/results.json,
// with a `latest` symlink per scenario and one for the whole root. Reports read it back with
// loadRunResults, which takes run dirs, results.json files or whole roots.

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { redact } from '../shared/redact.js';
import type { RunResult } from './types.js';

export const RESULTS_FILE = 'results.json';
export const LATEST = 'latest';

// Characters that are unsafe or awkward in a path component on Linux, macOS and Windows shares,
// plus C0/C1 controls. Everything else (including non-ASCII letters) is kept so that
// `ls reports/` stays readable for "Störfall-Ω".
const UNSAFE = /[\u0000-\u001f\u007f-\u009f/\\:*?"<>|\s]+/gu;
const MAX_BYTES = 120;

/** Scenario name → one safe, readable directory name. Injective: whenever the mapping had to
 *  change the name, a short hash of the original is appended so distinct names stay distinct. */
export function scenarioDirName(name: string): string {
  let safe = name.normalize('NFC').replace(UNSAFE, '_').replace(/^[.\s_-]+/, '');
  if (safe === '' || safe === LATEST) safe = `_${safe}`;
  if (Buffer.byteLength(safe) > MAX_BYTES) safe = truncateUtf8(safe, MAX_BYTES);
  if (safe === name) return safe;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${safe}-${hash}`;
}

function truncateUtf8(s: string, maxBytes: number): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > maxBytes) break;
    out += ch;
  }
  return out;
}

/** 2025-11-27T23:57:00.123Z → 20251127T235700.123Z: sortable, no colons. */
export function timestampName(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '');
}

/** Creates reports/<scenario>/<timestamp>-run<k>/ and points the `latest` links at it.
 *  mkdir without `recursive` on the last component makes a name collision (two runs in the
 *  same millisecond) visible, and we then add a suffix instead of sharing a directory. */
export async function createRunDir(root: string, scenarioName: string, runIndex: number, now = new Date()): Promise<string> {
  const scenarioDir = path.join(root, scenarioDirName(scenarioName));
  await fs.mkdir(scenarioDir, { recursive: true });
  const base = `${timestampName(now)}-run${runIndex}`;
  for (let i = 0; ; i++) {
    const name = i === 0 ? base : `${base}-${i + 1}`;
    const dir = path.join(scenarioDir, name);
    try {
      await fs.mkdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && i < 100) continue;
      throw e;
    }
    await pointLink(path.join(scenarioDir, LATEST), name);
    await pointLink(path.join(root, LATEST), path.join(path.basename(scenarioDir), name));
    return dir;
  }
}

/** Relative symlink, replaced atomically (symlink to a temp name, then rename over). */
async function pointLink(link: string, target: string): Promise<void> {
  const tmp = `${link}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await fs.symlink(target, tmp);
  await fs.rename(tmp, link);
}

/** Deep copy with every string (keys too) passed through redact(); the final text is redacted
 *  again because a secret split across JSON escapes would slip past a text-only pass. */
function redactDeep(v: unknown): unknown {
  if (typeof v === 'string') return redact(v);
  if (Array.isArray(v)) return v.map(redactDeep);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [redact(k), redactDeep(x)]));
  }
  return v;
}

/** The result as it may leave the process: every registered secret masked, everywhere. Reports
 *  are rendered from this, never from the in-memory result. */
export function redactResult(result: RunResult): RunResult {
  return JSON.parse(redact(JSON.stringify(redactDeep(result)))) as RunResult;
}

/** Writes results.json (pretty, secrets redacted) atomically: a crash leaves the old file or none. */
export async function writeRunResult(dir: string, result: RunResult): Promise<string> {
  const file = path.join(dir, RESULTS_FILE);
  const text = JSON.stringify(redactResult(result), null, 2) + '\n';
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, text, 'utf8');
  await fs.rename(tmp, file);
  return file;
}

export interface LoadedRun {
  result: RunResult;
  /** the run's results dir; artefact paths are relative to it */
  dir: string;
  file: string;
}
export interface LoadProblem {
  file: string;
  error: string;
}

/** Light shape check: enough that the reports will not crash; not a full schema validation. */
export function checkRunResult(v: unknown): string | undefined {
  if (!v || typeof v !== 'object') return 'not an object';
  const r = v as Partial<RunResult>;
  if (r.schemaVersion !== 1) return `unsupported schemaVersion ${String(r.schemaVersion)}`;
  if (!r.scenario || typeof r.scenario.name !== 'string') return 'missing scenario.name';
  if (!['pass', 'fail', 'unknown', 'error'].includes(r.verdict as string)) return `bad verdict ${String(r.verdict)}`;
  for (const k of ['checks', 'history', 'faults'] as const) if (!Array.isArray(r[k])) return `missing ${k}[]`;
  for (const k of ['metrics', 'dimensions', 'artefacts'] as const) if (!r[k] || typeof r[k] !== 'object') return `missing ${k}`;
  return undefined;
}

async function readOne(file: string): Promise<LoadedRun> {
  const parsed: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
  const problem = checkRunResult(parsed);
  if (problem) throw new Error(problem);
  return { result: parsed as RunResult, dir: path.dirname(file), file };
}

/** Every results.json below dir. Symlinks are not followed: `latest` would count runs twice. */
async function scan(dir: string, out: string[]): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    if (e.isFile() && e.name === RESULTS_FILE) out.push(path.join(dir, e.name));
    else if (e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.')) await scan(path.join(dir, e.name), out);
  }
}

/** Loads runs and says which files could not be read. Explicitly named inputs that are
 *  broken are problems like scanned ones: a crashed run's half file must not sink a report. */
export async function loadRunResultsWithProblems(paths: string[]): Promise<{ runs: LoadedRun[]; problems: LoadProblem[] }> {
  const files: string[] = [];
  const problems: LoadProblem[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await fs.stat(p); // follows symlinks: `reports/latest` given by hand is fine
    } catch (e) {
      problems.push({ file: p, error: (e as Error).message });
      continue;
    }
    if (st.isFile()) files.push(p);
    else await scan(await fs.realpath(p), files);
  }
  const seen = new Set<string>();
  const runs: LoadedRun[] = [];
  for (const f of files) {
    const real = await fs.realpath(f);
    if (seen.has(real)) continue;
    seen.add(real);
    try {
      runs.push(await readOne(real));
    } catch (e) {
      problems.push({ file: real, error: (e as Error).message });
    }
  }
  runs.sort(compareRuns);
  return { runs, problems };
}

/** loadRunResults(paths…): run dirs, results.json files, or roots scanned recursively.
 *  Unreadable files are skipped; use loadRunResultsWithProblems to learn about them. */
export async function loadRunResults(...paths: string[]): Promise<LoadedRun[]> {
  return (await loadRunResultsWithProblems(paths)).runs;
}

function compareRuns(a: LoadedRun, b: LoadedRun): number {
  const x = a.result, y = b.result;
  return x.scenario.name.localeCompare(y.scenario.name) || x.startedAt.localeCompare(y.startedAt) || x.runIndex - y.runIndex;
}
