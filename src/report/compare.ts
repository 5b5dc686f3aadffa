// A/B comparison of two sets of runs (e.g. last night vs tonight, or build A vs build B).
// Per metric present on both sides: difference of means, relative difference, and a two-sided
// permutation test on the difference of means — exact when the number of splits is small,
// else seeded Monte Carlo. A change is called only when it is both significant (p < alpha)
// and larger than a relative noise floor: VMs under TCG jitter, and tiny-but-real shifts are
// not what a reader of a nightly needs to act on.

import { directionOf, isUnsupported, type Direction } from '../results/conventions.js';
import type { RunResult } from '../results/types.js';
import { countVerdicts, type Counts } from './model.js';
import { esc, verdictBadge, type HtmlSection } from './page.js';
import { fmtNum, mean } from './stats.js';
import { mulberry32 } from '../shared/prng.js';

export type MetricVerdict = 'better' | 'worse' | 'no-change' | 'insufficient' | 'changed';

export interface CompareOptions {
  /** significance level; default 0.01 */
  alpha?: number;
  /** relative noise floor, |Δ|/|mean A|; default 0.05 */
  noise?: number;
  /** fewer samples than this on either side → "insufficient"; default 3 */
  minSamples?: number;
  /** Monte Carlo resamples when the exact test is too big; default 20 000 (≥ 10 000) */
  resamples?: number;
  /** up to this many splits the test enumerates all of them; default 200 000 */
  exactLimit?: number;
  seed?: number;
}

export interface PermutationResult {
  p: number;
  method: 'exact' | 'monte-carlo';
  /** splits enumerated or resamples drawn */
  count: number;
  /** smallest p this test could give for these sample sizes */
  minP: number;
}

export interface MetricComparison {
  /** "scenario [accel·topology] / metric"; the scenario part only when a side holds several
   *  scenarios, the dimension part only when a side mixes accelerators or topology kinds */
  key: string;
  scenario?: string;
  metric: string;
  unit: string;
  direction?: Direction;
  nA: number;
  nB: number;
  meanA: number;
  meanB: number;
  diff: number;
  rel: number;
  p?: number;
  method?: PermutationResult['method'];
  verdict: MetricVerdict;
  note: string;
}

export interface SideSummary {
  runs: number;
  scenarios: string[];
  counts: Counts;
  accel: string[];
  topology: string[];
  gitRevision: string[];
}

export interface Comparison {
  a: SideSummary;
  b: SideSummary;
  options: Required<CompareOptions>;
  rows: MetricComparison[];
  warnings: string[];
  /** scenarios with invariant violations on B but none on A */
  newFailures: string[];
  /** scenarios with unknown (not judged) runs on B but none on A: B did not answer a question
   *  A answered. Shown, but not a regression: nothing was violated. */
  newUnknown: string[];
  anyRegression: boolean;
}

export const DEFAULTS: Required<CompareOptions> = { alpha: 0.01, noise: 0.05, minSamples: 3, resamples: 20_000, exactLimit: 200_000, seed: 1 };

/** Defaults under the caller's options; an option passed as undefined (CLI flag not given)
 *  keeps its default instead of wiping it. */
function withDefaults(opts: CompareOptions): Required<CompareOptions> {
  const o = { ...DEFAULTS };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) (o as Record<string, number>)[k] = v;
  return o;
}

/** Seeded uniform [0, 1) for resampling; same seed → same p. */
export function seededRandom(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return Math.round(c);
}

/** Two-sided permutation test of mean(a) − mean(b) under exchangeability. */
export function permutationTest(a: readonly number[], b: readonly number[], opts: CompareOptions = {}): PermutationResult {
  const o = withDefaults(opts);
  const all = [...a, ...b];
  const n = all.length, k = a.length;
  const total = all.reduce((s, x) => s + x, 0);
  const obs = Math.abs(mean(a) - mean(b));
  // Float sums of a permuted split can differ from the observed split's in the last bits.
  const eps = 1e-9 * all.reduce((m, x) => Math.max(m, Math.abs(x)), 1);
  if (k === 0 || k === n) return { p: 1, method: 'exact', count: 1, minP: 1 };
  const extreme = (sumA: number) => Math.abs(sumA / k - (total - sumA) / (n - k)) >= obs - eps;
  const splits = choose(n, k);
  if (splits <= o.exactLimit) {
    let hits = 0;
    const walk = (start: number, left: number, sum: number): void => {
      if (left === 0) { if (extreme(sum)) hits++; return; }
      for (let i = start; i <= n - left; i++) walk(i + 1, left - 1, sum + all[i]);
    };
    walk(0, k, 0);
    return { p: hits / splits, method: 'exact', count: splits, minP: (k === n - k ? 2 : 1) / splits };
  }
  const R = Math.max(o.resamples, 10_000);
  const rand = seededRandom(o.seed);
  const idx = all.map((_, i) => i);
  let hits = 0;
  for (let r = 0; r < R; r++) {
    let sum = 0;
    // Partial Fisher–Yates: only the first k slots are needed.
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(rand() * (n - i));
      [idx[i], idx[j]] = [idx[j], idx[i]];
      sum += all[idx[i]];
    }
    if (extreme(sum)) hits++;
  }
  return { p: (hits + 1) / (R + 1), method: 'monte-carlo', count: R, minP: 1 / (R + 1) };
}

function side(runs: readonly RunResult[]): SideSummary {
  const uniq = (f: (r: RunResult) => string | undefined) => [...new Set(runs.map(f).filter((v): v is string => !!v))].sort();
  return {
    runs: runs.length, scenarios: uniq((r) => r.scenario.name), counts: countVerdicts(runs),
    accel: uniq((r) => r.dimensions.accel), topology: uniq((r) => r.dimensions.topology), gitRevision: uniq((r) => r.dimensions.gitRevision),
  };
}

/** Samples per key: a metric's values across all runs of a side. Errored runs are left out:
 *  their figures come from a broken lab. Unknown runs are kept: the lab and harness worked, so
 *  their measurements are valid; only the verdict was undecided (a phase that did not happen
 *  has no sample anyway — Metric.missing — rather than a stand-in). compareRuns warns when
 *  they are in the samples. Unsupported metrics have no samples. */
function samples(runs: readonly RunResult[], byScenario: boolean, byDims: boolean): Map<string, { scenario?: string; metric: string; unit: string; values: number[] }> {
  const m = new Map<string, { scenario?: string; metric: string; unit: string; values: number[] }>();
  for (const r of runs) {
    if (r.verdict === 'error') continue;
    for (const [name, metric] of Object.entries(r.metrics)) {
      if (isUnsupported(metric)) continue;
      const where = [byScenario ? r.scenario.name : '', byDims ? `[${r.dimensions.accel}·${r.dimensions.topology}]` : ''].filter(Boolean).join(' ');
      const key = where ? `${where} / ${name}` : name;
      const e = m.get(key) ?? { scenario: byScenario ? r.scenario.name : undefined, metric: name, unit: metric.unit, values: [] };
      e.values.push(...metric.values.filter(Number.isFinite));
      m.set(key, e);
    }
  }
  return m;
}

function judge(x: MetricComparison, o: Required<CompareOptions>, minP: number | undefined): void {
  const pct = (v: number) => `${fmtNum(Math.abs(v) * 100)} %`;
  if (x.p === undefined) return;
  if (x.p >= o.alpha) {
    x.verdict = 'no-change';
    x.note = `p=${fmtNum(x.p)} ≥ ${o.alpha}`;
    if (minP !== undefined && minP >= o.alpha) x.note += ` (with ${x.nA}+${x.nB} samples p cannot go below ${fmtNum(minP)}: add runs)`;
  } else if (!(Math.abs(x.rel) >= o.noise)) {
    x.verdict = 'no-change';
    x.note = `significant but |Δ| ${pct(x.rel)} < noise floor ${pct(o.noise)}`;
  } else if (!x.direction) {
    x.verdict = 'changed';
    x.note = `unit "${x.unit}" has no known better direction`;
  } else {
    const up = x.diff > 0;
    x.verdict = (x.direction === 'higher') === up ? 'better' : 'worse';
    x.note = `${x.direction} is better`;
  }
}

export function compareRuns(a: readonly RunResult[], b: readonly RunResult[], opts: CompareOptions = {}): Comparison {
  const o = withDefaults(opts);
  const sa = side(a), sb = side(b);
  // With one scenario a side, compare metrics by name (A/B of two scenario variants works);
  // with suites, the same metric name in two scenarios measures different things.
  const byScenario = !(sa.scenarios.length <= 1 && sb.scenarios.length <= 1);
  // tcg and kvm figures (or emulated and physical) are never pooled: when a side mixes them,
  // each combination is its own row. One each side but different ones only gets a warning.
  const byDims = [sa, sb].some((x) => x.accel.length > 1 || x.topology.length > 1);
  const A = samples(a, byScenario, byDims), B = samples(b, byScenario, byDims);
  const rows: MetricComparison[] = [];
  for (const [key, ea] of [...A].sort(([x], [y]) => x.localeCompare(y))) {
    const eb = B.get(key);
    if (!eb) continue;
    const meanA = mean(ea.values), meanB = mean(eb.values);
    const diff = meanB - meanA;
    const rel = meanA !== 0 ? diff / Math.abs(meanA) : diff === 0 ? 0 : Math.sign(diff) * Infinity;
    const unit = ea.unit === eb.unit ? ea.unit : `${ea.unit}≠${eb.unit}`;
    const x: MetricComparison = {
      key, scenario: ea.scenario, metric: ea.metric, unit, direction: directionOf(ea.metric, ea.unit),
      nA: ea.values.length, nB: eb.values.length, meanA, meanB, diff, rel, verdict: 'insufficient', note: '',
    };
    if (ea.unit !== eb.unit) {
      x.note = `units differ (${ea.unit} vs ${eb.unit}): not compared`;
    } else if (x.nA < o.minSamples || x.nB < o.minSamples) {
      x.note = `needs ≥ ${o.minSamples} samples per side, has A=${x.nA} B=${x.nB}`;
    } else {
      const t = permutationTest(ea.values, eb.values, o);
      x.p = t.p;
      x.method = t.method;
      judge(x, o, t.method === 'exact' ? t.minP : undefined);
    }
    rows.push(x);
  }
  // What needs acting on first: regressions, then improvements, then the rest.
  const rank: Record<MetricVerdict, number> = { worse: 0, better: 1, changed: 2, 'no-change': 3, insufficient: 4 };
  rows.sort((x, y) => rank[x.verdict] - rank[y.verdict] || x.key.localeCompare(y.key));
  const warnings: string[] = [];
  const differ = (k: 'accel' | 'topology') => sa[k].join(',') !== sb[k].join(',');
  if (differ('accel')) warnings.push(`accelerators differ (A: ${sa.accel.join(', ')}; B: ${sb.accel.join(', ')}): a difference may be the accelerator, not the change`);
  if (differ('topology')) warnings.push(`topology kinds differ (A: ${sa.topology.join(', ')}; B: ${sb.topology.join(', ')})`);
  const onlyA = [...A.keys()].filter((k) => !B.has(k)), onlyB = [...B.keys()].filter((k) => !A.has(k));
  if (onlyA.length) warnings.push(`only in A (not compared): ${onlyA.join(', ')}`);
  if (onlyB.length) warnings.push(`only in B (not compared): ${onlyB.join(', ')}`);
  if (sa.counts.error || sb.counts.error) warnings.push(`errored runs left out of the samples (A: ${sa.counts.error}, B: ${sb.counts.error})`);
  if (sa.counts.unknown || sb.counts.unknown) warnings.push(`unknown (not judged) runs kept in the samples: their measurements are valid, only the verdict was undecided (A: ${sa.counts.unknown}, B: ${sb.counts.unknown})`);
  const failedIn = (runs: readonly RunResult[]) => new Set(runs.filter((r) => r.verdict === 'fail').map((r) => r.scenario.name));
  const fa = failedIn(a);
  const newFailures = [...failedIn(b)].filter((s) => !fa.has(s)).sort();
  const unknownIn = (runs: readonly RunResult[]) => new Set(runs.filter((r) => r.verdict === 'unknown').map((r) => r.scenario.name));
  const ua = unknownIn(a);
  const newUnknown = [...unknownIn(b)].filter((s) => !ua.has(s)).sort();
  return { a: sa, b: sb, options: o, rows, warnings, newFailures, newUnknown, anyRegression: newFailures.length > 0 || rows.some((r) => r.verdict === 'worse') };
}

const relText = (x: MetricComparison) => (Number.isFinite(x.rel) ? `${x.rel >= 0 ? '+' : ''}${fmtNum(x.rel * 100)} %` : fmtNum(x.rel));

function sideLine(name: string, s: SideSummary): string {
  return `${name}: ${s.runs} run(s), ${s.counts.pass} pass / ${s.counts.fail} fail / ${s.counts.unknown} unknown (not judged) / ${s.counts.error} error; accel ${s.accel.join(',') || '?'}; topology ${s.topology.join(',') || '?'}${s.gitRevision.length ? `; rev ${s.gitRevision.join(',')}` : ''}`;
}

const notJudgedSuffix = (c: Comparison) => (c.newUnknown.length ? ` (${c.newUnknown.length} scenario(s) newly not judged on B)` : '');

export function formatComparisonText(c: Comparison): string {
  const head = ['metric', 'unit', 'nA', 'nB', 'mean A', 'mean B', 'Δ', 'Δ%', 'p', 'verdict', 'note'];
  const body = c.rows.map((x) => [x.key, x.unit, String(x.nA), String(x.nB), fmtNum(x.meanA), fmtNum(x.meanB), fmtNum(x.diff), relText(x), x.p === undefined ? '–' : fmtNum(x.p), x.verdict, x.note]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => [...r[i]].length)));
  const line = (r: string[]) => r.map((v, i) => (i === r.length - 1 ? v : v + ' '.repeat(widths[i] - [...v].length))).join('  ').trimEnd();
  const out = [
    sideLine('A', c.a), sideLine('B', c.b),
    `alpha ${c.options.alpha}, noise floor ${fmtNum(c.options.noise * 100)} %, min ${c.options.minSamples} samples a side`,
    ...c.warnings.map((w) => `warning: ${w}`),
    '',
    line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line),
    '',
    ...c.newFailures.map((s) => `regression: ${s} violates invariants on B, not on A`),
    ...c.newUnknown.map((s) => `not judged: ${s} has unknown runs on B, none on A (not a regression; B did not answer what A answered)`),
    `${c.anyRegression ? 'RESULT: regression' : 'RESULT: no regression'}${notJudgedSuffix(c)}`,
  ];
  return out.join('\n') + '\n';
}

const VERDICT_CLASS: Record<MetricVerdict, string> = { better: 'v-pass', worse: 'v-fail', 'no-change': 'v-unknown', insufficient: 'v-unknown', changed: 'v-error' };

export function renderComparisonSection(c: Comparison, id = 'compare'): HtmlSection {
  const rows = c.rows.map((x) => `<tr><td><code>${esc(x.key)}</code></td><td>${esc(x.unit)}</td><td class="num">${x.nA}</td><td class="num">${x.nB}</td><td class="num">${fmtNum(x.meanA)}</td><td class="num">${fmtNum(x.meanB)}</td><td class="num">${esc(fmtNum(x.diff))}</td><td class="num">${esc(relText(x))}</td><td class="num">${x.p === undefined ? '–' : esc(fmtNum(x.p))}${x.method === 'monte-carlo' ? '<span class="muted small"> MC</span>' : ''}</td><td><span class="badge ${VERDICT_CLASS[x.verdict]}">${esc(x.verdict)}</span></td><td class="small">${esc(x.note)}</td></tr>`);
  const html = `<p>${esc(sideLine('A', c.a))}<br>${esc(sideLine('B', c.b))}</p>
<p class="hint">Two-sided permutation test on the difference of means; a change needs p &lt; ${esc(c.options.alpha)} and |Δ| ≥ ${esc(fmtNum(c.options.noise * 100))} % of A's mean. At least ${esc(c.options.minSamples)} samples per side.</p>
${c.warnings.map((w) => `<p class="warn">${esc(w)}</p>`).join('')}
${c.newFailures.map((s) => `<p class="warn">${verdictBadge('fail')} <b>${esc(s)}</b> violates invariants on B, not on A</p>`).join('')}
${c.newUnknown.map((s) => `<p class="warn">${verdictBadge('unknown')} <b>${esc(s)}</b> has unknown runs on B, none on A: not a regression, but B did not answer what A answered</p>`).join('')}
<p><b>${c.anyRegression ? '<span class="badge v-fail">regression</span>' : '<span class="badge v-pass">no regression</span>'}</b>${esc(notJudgedSuffix(c))}</p>
<table class="compare"><thead><tr><th>metric</th><th>unit</th><th class="num">n A</th><th class="num">n B</th><th class="num">mean A</th><th class="num">mean B</th><th class="num">Δ</th><th class="num">Δ %</th><th class="num">p</th><th>verdict</th><th>note</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
  return { id, title: 'A/B comparison', html };
}
