// The reliability report: one self-contained HTML file for one run or a whole suite.
// Order follows the reader's questions: how bad (counts), what failed where (attention list,
// scenario × fault matrix), the distributions, then every run's evidence.

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isUnsupported } from '../results/conventions.js';
import type { LoadProblem } from '../results/store.js';
import type { CheckResult, RunResult } from '../results/types.js';
import { distributionFigure, holdupFigure, numaFigure, perfFigure, type Figure } from './figures.js';
import { NO_FAULT, VERDICTS, countVerdicts, dimensionValues, faultKinds, groupKey, groupKeyOf, groupRuns, passRate, runAnchor, worst, type Counts } from './model.js';
import { VERDICT_ICON, dimTags, esc, renderPage, verdictBadge, type HtmlSection } from './page.js';

export type { HtmlSection };
import { fmtDuration, fmtNum, summarize } from './stats.js';
import { renderTimeline } from './timeline.js';
import { computeTrend, type GroupTrend, type RunRef } from './trend.js';

export interface HtmlReportOptions {
  title?: string;
  /** Where the file will be written: artefact links are made relative to it. */
  outFile?: string;
  /** Results dir of a run (from loadRunResults). Without it artefact paths are used as
   *  written, which is right for a report written into the run's own dir. */
  runDir?: (r: RunResult) => string | undefined;
  generatedAt?: Date;
  /** results.json files that could not be read: shown, because a crashed run is news. */
  problems?: LoadProblem[];
  /** Earlier runs (e.g. the whole reports root) to tell since when a scenario fails or
   *  errors; default: the reported runs themselves. */
  history?: readonly RunResult[];
  /** more sections, e.g. an A/B comparison, placed before the per-run details */
  extraSections?: HtmlSection[];
}

/** The pass rate is the demonstrated one, pass / (pass + fail + unknown) (model.passRate): an
 *  unknown run counts against it, since nothing was shown to hold; errors are left out. */
function countsBlock(c: Counts): string {
  const completed = c.pass + c.fail + c.unknown;
  const rate = passRate(c);
  const rateText = rate === undefined
    ? 'No run got past the harness: no pass rate.'
    : `${fmtNum(100 * rate)} % passed (${c.pass} of ${completed}: pass / (pass + fail + unknown)). An unknown run counts as not passed; errors are left out, they say nothing about the SUT.`;
  return `<div class="counts">
<div class="count total"><div class="n">${c.pass + c.fail + c.unknown + c.error}</div><div class="l">runs</div></div>
<div class="count pass"><div class="n">${VERDICT_ICON.pass} ${c.pass}</div><div class="l">pass — every invariant held</div></div>
<div class="count fail"><div class="n">${VERDICT_ICON.fail} ${c.fail}</div><div class="l">fail — invariant violated</div></div>
<div class="count unknown"><div class="n">${VERDICT_ICON.unknown} ${c.unknown}</div><div class="l">unknown — not judged;<br>nothing violated, but not a pass</div></div>
<div class="count error"><div class="n">${VERDICT_ICON.error} ${c.error}</div><div class="l">error — harness / infra broke;<br>says nothing about the SUT</div></div>
</div><p class="muted pass-rate">${rateText}</p>`;
}

function dimensionsTable(runs: readonly RunResult[]): string {
  const rows = [...dimensionValues(runs)].map(([k, vals]) => {
    const v = [...vals].map(([val, n]) => `${esc(val)}${vals.size > 1 || runs.length > 1 ? ` <span class="muted small">(${n})</span>` : ''}`).join(', ');
    return `<tr><th>${esc(k)}</th><td>${v}</td></tr>`;
  });
  return `<table class="dims">${rows.join('')}</table>`;
}

function problemsBlock(problems: readonly LoadProblem[] = []): string {
  if (!problems.length) return '';
  return `<div class="warn"><b>${problems.length} results file(s) could not be read</b> — count them as errors:<ul>${problems.map((p) => `<li><code>${esc(p.file)}</code>: ${esc(p.error)}</li>`).join('')}</ul></div>`;
}

function runLink(r: RunResult): string {
  return `<a href="#${runAnchor(r)}">${esc(r.scenario.name)} #${r.runIndex}</a>`;
}

function sinceText(r?: RunRef): string {
  return r ? `${esc(r.startedAt)}${r.gitRevision ? ` <code>${esc(r.gitRevision)}</code>` : ''}` : '<span class="muted">—</span>';
}

/** "Since when", from the trend over the history: failing since the first fail of the current
 *  streak of judged runs, erroring since the first error of the current streak of errors, not
 *  judged since the first unknown of the current streak of unknown runs. Three lists, never one. */
function attention(runs: readonly RunResult[], trend: Map<string, GroupTrend>): string {
  const table = (rs: RunResult[], empty: string, since: (t?: GroupTrend) => RunRef | undefined, sinceHead: string) => rs.length
    ? `<table><thead><tr><th>run</th><th>accel · topology</th><th>started</th><th>${sinceHead}</th><th>faults</th><th>reason</th></tr></thead><tbody>${rs.map((r) => `<tr><td>${runLink(r)}</td><td>${dimTags(r.dimensions)}</td><td>${esc(r.startedAt)}</td><td>${sinceText(since(trend.get(groupKeyOf(r))))}</td><td>${faultKinds(r).map(esc).join(', ')}</td><td class="reason">${esc(r.reason)}</td></tr>`).join('')}</tbody></table>`
    : `<p class="muted">${empty}</p>`;
  const fails = runs.filter((r) => r.verdict === 'fail');
  const errors = runs.filter((r) => r.verdict === 'error');
  const unknown = runs.filter((r) => r.verdict === 'unknown');
  return `<h3>${verdictBadge('fail')} Invariant violations (${fails.length})</h3>${table(fails, 'None: no invariant was violated.', (t) => t?.brokenSince, 'failing since')}
<h3>${verdictBadge('error')} Harness / infrastructure errors (${errors.length})</h3><p class="hint">These runs could not judge the system under test; fix the lab or harness, then re-run.</p>${table(errors, 'None.', (t) => t?.erroringSince, 'erroring since')}
<h3>${verdictBadge('unknown')} Not judged (${unknown.length})</h3><p class="hint">No invariant was violated and the harness did not break, but a checker could not decide — e.g. the fault did not bite, so the question the scenario asks was never asked. Not a pass: make the fault land (timing, size, seed), then re-run.</p>${table(unknown, 'None: every run that got past the harness was judged.', (t) => t?.unknownSince, 'not judged since')}`;
}

/** Scenario (× accel × topology) rows, fault-kind columns; each cell lists its runs. */
function matrix(runs: readonly RunResult[]): string {
  const kinds = [...new Set(runs.flatMap(faultKinds))].sort((a, b) => Number(a === NO_FAULT) - Number(b === NO_FAULT) || a.localeCompare(b));
  const labels = new Map<string, Set<string>>();
  for (const r of runs) for (const f of r.faults) labels.set(f.kind, (labels.get(f.kind) ?? new Set()).add(f.label));
  const head = kinds.map((k) => `<th title="${esc([...(labels.get(k) ?? [])].join('\n'))}">${esc(k)}</th>`).join('');
  const countText = (c: Counts) => VERDICTS.filter((v) => c[v]).map((v) => `<span class="badge v-${v}">${VERDICT_ICON[v]} ${c[v]}</span>`).join(' ');
  const rows = groupRuns(runs).map((g) => {
    const cells = kinds.map((k) => {
      const rs = g.runs.filter((r) => faultKinds(r).includes(k));
      if (!rs.length) return '<td class="cell c-none" data-verdict="none">—</td>';
      const c = countVerdicts(rs);
      const links = rs.map((r) => `<a class="runlink v-${r.verdict}" href="#${runAnchor(r)}" title="${esc(`run ${r.runIndex}/${r.runs}: ${r.verdict} — ${r.reason}`)}">${VERDICT_ICON[r.verdict]}${r.runIndex}</a>`).join('');
      return `<td class="cell c-${worst(c)}" data-verdict="${worst(c)}">${countText(c)}<div>${links}</div></td>`;
    });
    const total = countVerdicts(g.runs);
    return `<tr><th>${esc(g.scenario)}</th><td>${dimTags(g)}</td>${cells.join('')}<td>${countText(total)}</td></tr>`;
  });
  return `<p class="hint">Rows: scenario on an accelerator and topology kind; columns: fault kind injected in the run (hover a header for the fault labels). A cell counts the runs that injected that fault; click a run to jump to its evidence. A cell takes its worst run's colour (fail &gt; error &gt; unknown &gt; pass): hatched amber = harness error, not a verdict on the SUT; dotted grey ? = not judged (unknown): nothing was violated, but no pass either.</p>
<table class="matrix"><thead><tr><th>scenario</th><th>accel · topology</th>${head}<th>all runs</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function validBadge(v: CheckResult['valid']): string {
  if (v === true) return '<span class="badge v-pass">✓ valid</span>';
  if (v === false) return '<span class="badge v-fail">✗ violated</span>';
  return '<span class="badge v-unknown">? unknown</span>';
}

function jsonBlock(v: unknown, max = 4000): string {
  let s: string;
  try { s = JSON.stringify(v, null, 2) ?? ''; } catch { s = String(v); }
  if (s.length > max) s = `${s.slice(0, max)}\n… (${s.length - max} more characters in results.json)`;
  return `<pre>${esc(s)}</pre>`;
}

function checksTable(checks: readonly CheckResult[]): string {
  if (!checks.length) return '<p class="muted">No checks recorded.</p>';
  const order = { false: 0, unknown: 1, true: 2 } as const;
  const sorted = [...checks].sort((a, b) => order[String(a.valid) as keyof typeof order] - order[String(b.valid) as keyof typeof order]);
  return `<table class="checks"><thead><tr><th>check</th><th>valid</th><th>message</th><th>evidence</th></tr></thead><tbody>${sorted.map((c) => `<tr><td>${esc(c.name)}</td><td>${validBadge(c.valid)}</td><td>${esc(c.message)}</td><td>${c.evidence === undefined ? '' : jsonBlock(c.evidence)}</td></tr>`).join('')}</tbody></table>`;
}

function metricsTable(r: RunResult): string {
  const entries = Object.entries(r.metrics).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return '<p class="muted">No metrics recorded.</p>';
  const rows = entries.map(([name, m]) => {
    if (isUnsupported(m)) return `<tr class="unsupported"><td><code>${esc(name)}</code></td><td colspan="5">unsupported${m.description ? ` — ${esc(m.description.replace(/^\s*unsupported\b[:\s—-]*/i, ''))}` : ''}</td></tr>`;
    if (!m.values.length && m.missing) return `<tr class="missing"><td><code>${esc(name)}</code></td><td>${esc(m.unit)}</td><td colspan="4">no sample — ${esc(m.missing)}</td></tr>`;
    const q = summarize(m.values);
    return `<tr><td><code>${esc(name)}</code>${m.description ? `<div class="hint">${esc(m.description)}</div>` : ''}</td><td>${esc(m.unit)}</td><td class="num">${q.n}</td><td class="num">${fmtNum(q.mean)}</td><td class="num">${fmtNum(q.min)}</td><td class="num">${fmtNum(q.max)}</td></tr>`;
  });
  return `<table class="metrics"><thead><tr><th>metric ${dimTags(r.dimensions)}</th><th>unit</th><th class="num">n</th><th class="num">mean</th><th class="num">min</th><th class="num">max</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Link target for an artefact, relative to the report file when we know both ends. */
export function artefactHref(r: RunResult, rel: string, opts: HtmlReportOptions): string {
  if (path.isAbsolute(rel)) return pathToFileURL(rel).href;
  const dir = opts.runDir?.(r);
  let target = rel;
  if (dir && opts.outFile) target = path.relative(path.dirname(path.resolve(opts.outFile)), path.resolve(dir, rel));
  return target.split(path.sep).map(encodeURIComponent).join('/');
}

function artefactList(r: RunResult, opts: HtmlReportOptions): string {
  const entries = Object.entries(r.artefacts);
  if (!entries.length) return '<p class="muted">No artefacts.</p>';
  return `<ul class="artefacts">${entries.map(([name, rel]) => `<li><a href="${esc(artefactHref(r, rel, opts))}">${esc(name)}</a> <span class="muted small">${esc(rel)}</span></li>`).join('')}</ul>`;
}

/** What a verdict does not mean, said where a reader opens a run that is not a pass. */
const VERDICT_NOTE: Record<RunResult['verdict'], string> = {
  pass: '',
  fail: '',
  unknown: '<p class="hint">Not judged: no check found a violation and the harness did not break, but a check could not decide (see the checks marked ? unknown). This run is not counted as a pass.</p>',
  error: '<p class="hint">Harness / infrastructure error: this run says nothing about the system under test.</p>',
};

function runDetails(r: RunResult, opts: HtmlReportOptions): string {
  const d = r.dimensions;
  const meta: [string, string][] = [
    ['scenario file', esc(r.scenario.file)],
    ...(r.scenario.description ? [['description', esc(r.scenario.description)] as [string, string]] : []),
    ['run id', `<code>${esc(r.runId)}</code>`],
    ['seed', esc(r.seed)],
    ['started → finished', `${esc(r.startedAt)} → ${esc(r.finishedAt)} (${esc(fmtDuration(r.durationMs))})`],
    ['dimensions', Object.entries(d).filter(([, v]) => v !== undefined).map(([k, v]) => `${esc(k)}=<b>${esc(v)}</b>`).join(' · ')],
  ];
  return `<details class="run v-${r.verdict}-run" id="${runAnchor(r)}" data-verdict="${r.verdict}"${r.verdict === 'pass' ? '' : ' open'}>
<summary>${verdictBadge(r.verdict)} <b>${esc(r.scenario.name)}</b> <span>run ${r.runIndex}/${r.runs}</span> ${dimTags(d)} <span class="muted">${esc(fmtDuration(r.durationMs))} · ${esc(r.startedAt)}</span> <span class="reason">${esc(r.reason.length > 140 ? `${r.reason.slice(0, 139)}…` : r.reason)}</span></summary>
<div class="body">
<p class="reason"><b>Reason:</b> ${esc(r.reason)}</p>${VERDICT_NOTE[r.verdict]}
<table class="meta">${meta.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>
<h3>Timeline</h3>${renderTimeline(r)}
<h3>Checks</h3>${checksTable(r.checks)}
<h3>Metrics</h3>${metricsTable(r)}
<h3>Artefacts</h3>${artefactList(r, opts)}
</div></details>`;
}

function section(id: string, title: string, html: string): string {
  return `<section id="${esc(id)}"><h2>${esc(title)}</h2>${html}</section>`;
}

export function renderHtmlReport(results: readonly RunResult[], opts: HtmlReportOptions = {}): string {
  const runs = [...results].sort((a, b) => a.scenario.name.localeCompare(b.scenario.name) || a.startedAt.localeCompare(b.startedAt) || a.runIndex - b.runIndex);
  const counts = countVerdicts(runs);
  const scenarios = new Set(runs.map((r) => r.scenario.name));
  const single = runs.length === 1 ? runs[0] : undefined;
  const title = opts.title ?? (single ? `${single.scenario.name} — run ${single.runIndex}/${single.runs}: ${single.verdict}` : 'Reliability report');
  const starts = runs.map((r) => r.startedAt).sort();
  const ends = runs.map((r) => r.finishedAt).sort();
  const generated = (opts.generatedAt ?? new Date()).toISOString();
  const subtitle = `${runs.length} run(s) of ${scenarios.size} scenario(s)${starts.length ? ` · ${starts[0]} → ${ends[ends.length - 1]}` : ''} · generated ${generated}`;

  const figures: [string, string, Figure][] = [
    ['rto', 'Recovery time (RTO)', distributionFigure(runs, 'rto', 'fig')],
    ['rpo', 'Data at risk (RPO)', distributionFigure(runs, 'rpo', 'fig')],
    ['holdup', 'PMEM hold-up curve', holdupFigure(runs, 'fig')],
    ['numa', 'NUMA locality', numaFigure(runs, 'fig')],
    ['perf', 'Perf counters', perfFigure(runs)],
  ];
  const extra = opts.extraSections ?? [];
  const charts = [...figures.flatMap(([, , f]) => f.charts), ...extra.flatMap((s) => s.charts ?? [])];

  const body = [
    section('summary', 'Summary', `${countsBlock(counts)}${problemsBlock(opts.problems)}<h3>Where and on what</h3>${dimensionsTable(runs)}`),
    section('attention', 'Needs attention', attention(runs, new Map(computeTrend(opts.history ?? runs).map((t) => [groupKey(t), t])))),
    section('matrix', 'Scenario × fault matrix', runs.length ? matrix(runs) : '<p class="muted">No runs.</p>'),
    ...figures.map(([id, t, f]) => section(id, t, f.html)),
    ...extra.map((s) => section(s.id, s.title, s.html)),
    section('runs', 'Runs', `<div class="toolbar"><button data-filter="all" class="on">all</button><button data-filter="fail">fail only</button><button data-filter="unknown">unknown only</button><button data-filter="error">error only</button><button data-filter="pass">pass only</button> <button data-expand="1">expand all</button><button data-expand="0">collapse all</button></div>${runs.map((r) => runDetails(r, opts)).join('\n')}`),
  ].join('\n');

  const nav = [
    ['#summary', 'Summary'], ['#attention', `Needs attention (${counts.fail} ${VERDICT_ICON.fail} / ${counts.error} ${VERDICT_ICON.error} / ${counts.unknown} ${VERDICT_ICON.unknown})`], ['#matrix', 'Matrix'],
    ...figures.map(([id, t]) => [`#${id}`, t]), ...extra.map((s) => [`#${s.id}`, s.title]), ['#runs', 'Runs'],
  ].map(([href, label]) => ({ href, label }));
  return renderPage({ title, subtitle, nav, body, charts });
}
