// Nightly trend over a reports root: pass rate per scenario over time, metric means over time,
// and for each currently broken scenario the first failing run ("broken since") with the last
// good run before it, which is the bisect range. Errors (harness/infra) never count as pass
// or fail: they neither break nor heal a scenario, and have their own "erroring since".
// Unknown runs (nothing violated, but a checker could not decide) neither break nor heal one
// either — status is decided by pass and fail alone — but they are never a pass: they count
// against the pass rate and have their own "not judged since".

import { isUnsupported, roleOf } from '../results/conventions.js';
import type { RunResult, Verdict } from '../results/types.js';
import { groupLabel, groupRuns, passRate, type Group } from './model.js';
import { chartCanvas, colourAt, dimTags, esc, lineChart, renderPage, verdictBadge, VERDICT_ICON, type ChartSpec } from './page.js';
import { fmtNum, mean } from './stats.js';

export type TrendStatus = 'broken' | 'flaky' | 'healthy' | 'no-verdict';

export interface RunRef {
  startedAt: string;
  runId: string;
  runIndex: number;
  gitRevision?: string;
  reason: string;
  verdict: Verdict;
}

export interface DayBucket {
  /** UTC day, YYYY-MM-DD: one nightly = one day */
  day: string;
  pass: number;
  fail: number;
  unknown: number;
  error: number;
  /** The demonstrated pass rate, pass / (pass + fail + unknown): an unknown run is not a pass,
   *  so it counts against the rate; errors are left out (the SUT was not asked). undefined
   *  when every run that day errored. */
  passRate?: number;
}

export interface GroupTrend {
  scenario: string;
  accel: string;
  topology: string;
  status: TrendStatus;
  /** the latest judged run: pass or fail (error and unknown runs are not judged) */
  lastJudged?: RunRef;
  /** first run of the trailing streak of fails (error and unknown runs in between skipped) */
  brokenSince?: RunRef;
  /** the last pass before brokenSince: bisect between its revision and brokenSince's */
  lastGood?: RunRef;
  /** first run of the trailing streak of errors, if the latest run is an error */
  erroringSince?: RunRef;
  /** first run of the trailing streak of unknown runs (errors in between skipped), if the
   *  latest run that got past the harness was unknown: since when the scenario's question
   *  has not been asked (e.g. its fault stopped biting) */
  unknownSince?: RunRef;
  days: DayBucket[];
  runs: RunRef[];
  /** metric name → [{t: epoch ms of run start, mean}] */
  metrics: Record<string, { unit: string; points: { t: number; mean: number }[] }>;
}

/** How many recent judged runs decide "flaky" for a scenario whose latest run passed. */
export const FLAKY_WINDOW = 10;

function ref(r: RunResult): RunRef {
  return { startedAt: r.startedAt, runId: r.runId, runIndex: r.runIndex, gitRevision: r.dimensions.gitRevision, reason: r.reason, verdict: r.verdict };
}

function groupTrend(g: Group): GroupTrend {
  const runs = [...g.runs].sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.runIndex - b.runIndex);
  const judged = runs.filter((r) => r.verdict === 'pass' || r.verdict === 'fail');
  const last = judged[judged.length - 1];
  let brokenSince: RunResult | undefined, lastGood: RunResult | undefined;
  let status: TrendStatus = 'no-verdict';
  if (last?.verdict === 'fail') {
    status = 'broken';
    let i = judged.length - 1;
    while (i >= 0 && judged[i].verdict === 'fail') i--;
    brokenSince = judged[i + 1];
    lastGood = i >= 0 ? judged[i] : undefined;
  } else if (last) {
    status = judged.slice(-FLAKY_WINDOW).some((r) => r.verdict === 'fail') ? 'flaky' : 'healthy';
  }
  let erroringSince: RunResult | undefined;
  if (runs.length && runs[runs.length - 1].verdict === 'error') {
    let i = runs.length - 1;
    while (i >= 0 && runs[i].verdict === 'error') i--;
    erroringSince = runs[i + 1];
  }
  let unknownSince: RunResult | undefined;
  const completed = runs.filter((r) => r.verdict !== 'error');
  if (completed.length && completed[completed.length - 1].verdict === 'unknown') {
    let i = completed.length - 1;
    while (i >= 0 && completed[i].verdict === 'unknown') i--;
    unknownSince = completed[i + 1];
  }
  const days = new Map<string, DayBucket>();
  for (const r of runs) {
    const day = r.startedAt.slice(0, 10);
    const b = days.get(day) ?? { day, pass: 0, fail: 0, unknown: 0, error: 0 };
    b[r.verdict]++;
    days.set(day, b);
  }
  for (const b of days.values()) {
    const rate = passRate(b);
    if (rate !== undefined) b.passRate = rate;
  }
  const metrics: GroupTrend['metrics'] = {};
  for (const r of runs) {
    for (const [name, m] of Object.entries(r.metrics)) {
      // Perf counters and unsupported ones are not trended: under TCG they are noise or absent.
      if (roleOf(name) === 'perf' || isUnsupported(m) || !m.values.length) continue;
      const entry = (metrics[name] ??= { unit: m.unit, points: [] });
      entry.points.push({ t: Date.parse(r.startedAt), mean: mean(m.values) });
    }
  }
  return {
    scenario: g.scenario, accel: g.accel, topology: g.topology, status,
    lastJudged: last && ref(last), brokenSince: brokenSince && ref(brokenSince), lastGood: lastGood && ref(lastGood),
    erroringSince: erroringSince && ref(erroringSince), unknownSince: unknownSince && ref(unknownSince),
    days: [...days.values()].sort((a, b) => a.day.localeCompare(b.day)),
    runs: runs.map(ref), metrics,
  };
}

export function computeTrend(runs: readonly RunResult[]): GroupTrend[] {
  return groupRuns(runs).map(groupTrend);
}

const STATUS_BADGE: Record<TrendStatus, string> = {
  broken: '<span class="badge v-fail">✗ broken</span>',
  flaky: '<span class="badge v-error" style="outline:none">~ flaky</span>',
  healthy: '<span class="badge v-pass">✓ healthy</span>',
  // Neutral, not the unknown grey: a scenario that only ever errored has no unknown run either.
  'no-verdict': '<span class="badge v-none">– no verdict yet</span>',
};

function refText(r?: RunRef): string {
  if (!r) return '<span class="muted">—</span>';
  return `${esc(r.startedAt)} <span class="muted">run ${r.runIndex}</span>${r.gitRevision ? ` <code>${esc(r.gitRevision)}</code>` : ''}`;
}

/** Last runs as coloured squares, newest right: the CI-history view readers know. */
function strip(t: GroupTrend, max = 30): string {
  return `<span class="strip">${t.runs.slice(-max).map((r) => `<span class="s-${r.verdict}" title="${esc(`${r.startedAt} ${r.verdict}${r.gitRevision ? ` @${r.gitRevision}` : ''}: ${r.reason}`)}"></span>`).join('')}</span>`;
}

const MAX_METRIC_CHARTS = 24;
const DAY_MS = 86_400_000;
/** Nights shown in the pass-rate table; the chart shows all. */
const TABLE_NIGHTS = 14;

export interface TrendHtmlOptions {
  title?: string;
  generatedAt?: Date;
}

export function renderTrendHtml(results: readonly RunResult[], opts: TrendHtmlOptions = {}): string {
  const trend = computeTrend(results);
  const order: Record<TrendStatus, number> = { broken: 0, flaky: 1, 'no-verdict': 2, healthy: 3 };
  const sorted = [...trend].sort((a, b) => order[a.status] - order[b.status] || a.scenario.localeCompare(b.scenario));
  const charts: ChartSpec[] = [];
  const broken = sorted.filter((t) => t.status === 'broken');
  const erroring = sorted.filter((t) => t.erroringSince);
  const undecided = sorted.filter((t) => t.unknownSince);

  const statusRows = sorted.map((t) => {
    // The demonstrated pass rate (model.passRate): unknown runs count against it, errors not at all.
    const completed = t.runs.filter((r) => r.verdict !== 'error');
    const passes = completed.filter((r) => r.verdict === 'pass').length;
    const unknown = completed.filter((r) => r.verdict === 'unknown').length;
    const errors = t.runs.length - completed.length;
    const notJudged = t.unknownSince ? ` <span class="badge v-unknown">${VERDICT_ICON.unknown} latest not judged</span>` : '';
    return `<tr><td>${esc(t.scenario)}</td><td>${dimTags(t)}</td><td>${STATUS_BADGE[t.status]}${notJudged}</td><td>${refText(t.brokenSince)}</td><td>${refText(t.lastGood)}</td><td class="num">${completed.length ? `${fmtNum((100 * passes) / completed.length)} %` : '–'} <span class="muted small">(${passes}/${completed.length})</span></td><td class="num">${unknown ? `<span class="badge v-unknown">${VERDICT_ICON.unknown} ${unknown}</span>` : '0'}</td><td class="num">${errors ? `<span class="badge v-error">${VERDICT_ICON.error} ${errors}</span>` : '0'}</td><td>${strip(t)}</td></tr>`;
  });
  const brokenList = broken.length
    ? `<ul>${broken.map((t) => `<li><b>${esc(t.scenario)}</b> ${dimTags(t)} broken since ${refText(t.brokenSince)}; ${t.lastGood ? `last good ${refText(t.lastGood)}` : 'never passed in these results'} — <span class="reason">${esc(t.lastJudged?.reason ?? '')}</span></li>`).join('')}</ul>`
    : '<p class="muted">No scenario is broken: every latest judged run passed.</p>';
  const errorRows = erroring.map((t) => `<tr><td>${esc(t.scenario)}</td><td>${dimTags(t)}</td><td>${refText(t.erroringSince)}</td><td class="reason">${esc(t.runs[t.runs.length - 1].reason)}</td></tr>`);
  const latestUnknown = (t: GroupTrend) => [...t.runs].reverse().find((r) => r.verdict === 'unknown');
  const unknownRows = undecided.map((t) => `<tr><td>${esc(t.scenario)}</td><td>${dimTags(t)}</td><td>${refText(t.unknownSince)}</td><td>${refText(t.lastJudged)}${t.lastJudged ? ` ${verdictBadge(t.lastJudged.verdict)}` : ''}</td><td class="reason">${esc(latestUnknown(t)?.reason ?? '')}</td></tr>`);

  // Pass rate per day, one line per scenario group; errors and unknown runs per day as their own bars.
  const allDays = [...new Set(trend.flatMap((t) => t.days.map((d) => d.day)))].sort();
  charts.push({
    id: 'trend-passrate',
    config: {
      type: 'line',
      data: {
        labels: allDays,
        datasets: trend.map((t, i) => ({
          label: groupLabel(t), spanGaps: true, borderColor: colourAt(i), backgroundColor: colourAt(i), pointRadius: 3,
          data: allDays.map((d) => t.days.find((b) => b.day === d)?.passRate ?? null),
        })),
      },
      options: { plugins: { title: { display: true, text: 'Pass rate per night: pass / (pass + fail + unknown); errors excluded' }, legend: { position: 'bottom' } }, scales: { y: { min: 0, max: 1 } } },
    },
    tickFormat: { y: 'percent' },
  });
  charts.push({
    id: 'trend-errors',
    config: {
      type: 'bar',
      data: {
        labels: allDays,
        datasets: trend.filter((t) => t.days.some((d) => d.error)).map((t, i) => ({
          label: groupLabel(t), backgroundColor: colourAt(i), data: allDays.map((d) => t.days.find((b) => b.day === d)?.error ?? 0),
        })),
      },
      options: { plugins: { title: { display: true, text: 'Harness / infra errors per night (not verdicts on the SUT)' }, legend: { position: 'bottom' } }, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    },
  });
  charts.push({
    id: 'trend-unknown',
    config: {
      type: 'bar',
      data: {
        labels: allDays,
        datasets: trend.filter((t) => t.days.some((d) => d.unknown)).map((t, i) => ({
          label: groupLabel(t), backgroundColor: colourAt(i), data: allDays.map((d) => t.days.find((b) => b.day === d)?.unknown ?? 0),
        })),
      },
      options: { plugins: { title: { display: true, text: 'Unknown (not judged) runs per night: nothing violated, but no pass' }, legend: { position: 'bottom' } }, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    },
  });

  const tableDays = allDays.slice(-TABLE_NIGHTS);
  const rateCell = (b?: DayBucket) => {
    if (!b) return '<td class="cell c-none">—</td>';
    // Coloured by the night's worst run that got past the harness: a night with unknown runs
    // and no fail is grey, not green; a night of errors only is the amber hatch.
    const cls = b.fail ? 'c-fail' : b.unknown ? 'c-unknown' : b.pass ? 'c-pass' : 'c-error';
    const rate = b.passRate === undefined ? 'no verdict' : `${b.pass}/${b.pass + b.fail + b.unknown}`;
    return `<td class="cell ${cls}" data-verdict="${cls.slice(2)}" title="${esc(`${b.day}: ${b.pass} pass, ${b.fail} fail, ${b.unknown} unknown (not judged), ${b.error} error`)}">${rate}${b.unknown ? ` <span class="badge v-unknown">${VERDICT_ICON.unknown}${b.unknown}</span>` : ''}${b.error ? ` <span class="badge v-error">${VERDICT_ICON.error}${b.error}</span>` : ''}</td>`;
  };
  const rateTable = `<table class="matrix"><thead><tr><th>scenario</th><th>accel · topology</th>${tableDays.map((d) => `<th>${esc(d)}</th>`).join('')}</tr></thead><tbody>${sorted.map((t) => `<tr><th>${esc(t.scenario)}</th><td>${dimTags(t)}</td>${tableDays.map((d) => rateCell(t.days.find((b) => b.day === d))).join('')}</tr>`).join('')}</tbody></table>`;

  const metricNames = [...new Set(trend.flatMap((t) => Object.keys(t.metrics)))].sort();
  const metricBlocks = metricNames.slice(0, MAX_METRIC_CHARTS).map((name, k) => {
    const id = `trend-metric-${k}`;
    const owners = trend.filter((t) => t.metrics[name]);
    const unit = owners[0].metrics[name].unit;
    // Each run's mean as a faint point, and the night's mean of those as the line: runs of one
    // night start minutes apart, so a line through every run would zigzag within a night.
    const datasets = owners.flatMap((t, i) => {
      const pts = t.metrics[name].points;
      const nights = new Map<number, { t: number[]; v: number[] }>();
      for (const p of pts) {
        const day = Math.floor(p.t / DAY_MS);
        const n = nights.get(day) ?? { t: [], v: [] };
        n.t.push(p.t);
        n.v.push(p.mean);
        nights.set(day, n);
      }
      return [
        { label: groupLabel(t), borderColor: colourAt(i), backgroundColor: colourAt(i), pointRadius: 3, borderWidth: 2, data: [...nights].sort(([a], [b]) => a - b).map(([, n]) => ({ x: mean(n.t), y: mean(n.v) })) },
        { label: `${groupLabel(t)} (each run)`, showLine: false, borderColor: colourAt(i), backgroundColor: `${colourAt(i)}66`, pointRadius: 2, data: pts.map((p) => ({ x: p.t, y: p.mean })) },
      ];
    });
    charts.push(lineChart(id, `${name} (${unit}) — mean per run and per night`, datasets, {
      x: { type: 'linear', ticks: { stepSize: DAY_MS }, title: { display: true, text: 'night (UTC)' } },
      y: { title: { display: true, text: unit } },
    }, { x: 'day' }));
    return chartCanvas(id, `${name} trend`, 260);
  });
  const moreMetrics = metricNames.length > MAX_METRIC_CHARTS ? `<p class="hint">${metricNames.length - MAX_METRIC_CHARTS} more metrics not charted: ${metricNames.slice(MAX_METRIC_CHARTS).map(esc).join(', ')}</p>` : '';

  const starts = results.map((r) => r.startedAt).sort();
  const body = `
<section id="broken"><h2>Broken now ${broken.length ? verdictBadge('fail') : ''}</h2>${brokenList}</section>
<section id="status"><h2>Scenarios</h2><p class="hint">Status from judged runs only: pass and fail (errors and unknown runs skipped). Broken = latest judged run failed; flaky = passed now but failed within the last ${FLAKY_WINDOW} judged runs; "latest not judged" = the newest run that got past the harness was unknown. Pass rate = pass / (pass + fail + unknown): an unknown run counts as not passed, errors are left out. Squares: last 30 runs, newest right (hatched amber = harness error, dotted grey = unknown).</p>
<table><thead><tr><th>scenario</th><th>accel · topology</th><th>status</th><th>broken since</th><th>last good</th><th class="num">pass rate</th><th class="num">unknown</th><th class="num">errors</th><th>history</th></tr></thead><tbody>${statusRows.join('')}</tbody></table></section>
<section id="errors"><h2>Automation errors ${erroring.length ? verdictBadge('error') : ''}</h2><p class="hint">Kept apart from invariant violations: these say the lab or harness broke.</p>${errorRows.length ? `<table><thead><tr><th>scenario</th><th>accel · topology</th><th>erroring since</th><th>latest error</th></tr></thead><tbody>${errorRows.join('')}</tbody></table>` : '<p class="muted">No scenario is currently erroring.</p>'}</section>
<section id="unknown"><h2>Not judged ${undecided.length ? verdictBadge('unknown') : ''}</h2><p class="hint">Scenarios whose latest run that got past the harness was unknown: nothing was violated, but a checker could not decide (e.g. the fault did not bite), so the question was not asked. Not a pass, not a failure, not a harness error.</p>${unknownRows.length ? `<table><thead><tr><th>scenario</th><th>accel · topology</th><th>not judged since</th><th>last judged</th><th>latest reason</th></tr></thead><tbody>${unknownRows.join('')}</tbody></table>` : '<p class="muted">No scenario is currently unjudged.</p>'}</section>
<section id="passrate"><h2>Pass rate over time</h2><p class="hint">Passed / (pass + fail + unknown) runs per night${allDays.length > TABLE_NIGHTS ? ` (last ${TABLE_NIGHTS} nights; the chart shows all)` : ''}; ? counts unknown runs (in the denominator: not a pass), ⚠ counts harness errors (left out).</p>${rateTable}<div class="grid2">${chartCanvas('trend-passrate', 'pass rate per night')}${chartCanvas('trend-errors', 'errors per night')}${chartCanvas('trend-unknown', 'unknown runs per night')}</div></section>
<section id="metrics"><h2>Metric trends</h2>${metricBlocks.length ? `<div class="grid2">${metricBlocks.join('')}</div>${moreMetrics}` : '<p class="muted">No metrics.</p>'}</section>`;
  return renderPage({
    title: opts.title ?? 'Nightly trend',
    subtitle: `${results.length} run(s) of ${new Set(results.map((r) => r.scenario.name)).size} scenario(s)${starts.length ? ` · ${starts[0]} → ${starts[starts.length - 1]}` : ''} · generated ${(opts.generatedAt ?? new Date()).toISOString()}`,
    nav: [['#broken', 'Broken now'], ['#status', 'Scenarios'], ['#errors', 'Automation errors'], ['#unknown', 'Not judged'], ['#passrate', 'Pass rate'], ['#metrics', 'Metric trends']].map(([href, label]) => ({ href, label })),
    body,
    charts,
  });
}
