// The suite-level figures of the HTML report: RTO/RPO distributions, PMEM hold-up curve,
// NUMA locality over time, perf counters. Each returns HTML (canvas + a table that carries
// the same numbers, so the figure is readable without JS) and the chart specs to draw.
// Metric names are found through src/results/conventions.ts.

import {
  METRIC_NAMES, PERF_PREFIX, canonicalValues, fractionValues, isUnsupported, parseMetricName, pmemSizeOf, roleOf,
} from '../results/conventions.js';
import type { RunResult } from '../results/types.js';
import { groupLabel, groupRuns, type Group } from './model.js';
import { chartCanvas, colourAt, dimTags, esc, lineChart, type ChartSpec } from './page.js';
import { fmtBytes, fmtDuration, fmtNum, summarize } from './stats.js';

export interface Figure {
  html: string;
  charts: ChartSpec[];
}

function groupCells(g: Group): string {
  return `<td>${esc(g.scenario)}</td><td>${dimTags(g)}</td>`;
}

function emptyNote(what: string, names: readonly string[]): string {
  return `<p class="muted">No ${esc(what)} in these runs. Scenarios report it as metric ${names.map((n) => `<code>${esc(n)}</code>`).join(' / ')} (see src/results/conventions.ts).</p>`;
}

/** RTO (time) or RPO (bytes) distribution: ECDF per scenario × accel × topology × metric. */
export function distributionFigure(runs: readonly RunResult[], role: 'rto' | 'rpo', idPrefix: string): Figure {
  const kind = role === 'rto' ? 'time' : 'size';
  const fmt = role === 'rto' ? fmtDuration : fmtBytes;
  const series: { g: Group; name: string; values: number[] }[] = [];
  const badUnits = new Set<string>();
  for (const g of groupRuns(runs)) {
    const byName = new Map<string, number[]>();
    for (const r of g.runs) {
      for (const [name, m] of Object.entries(r.metrics)) {
        if (roleOf(name) !== role || isUnsupported(m)) continue;
        const vals = canonicalValues(m, kind);
        if (!vals) { badUnits.add(`${name} [${m.unit}]`); continue; }
        byName.set(name, [...(byName.get(name) ?? []), ...vals]);
      }
    }
    for (const [name, values] of byName) series.push({ g, name, values });
  }
  const what = role === 'rto' ? 'recovery-time (RTO) metrics' : 'data-at-risk (RPO) metrics';
  if (!series.length) return { html: emptyNote(what, METRIC_NAMES[role]), charts: [] };
  const multiName = new Set(series.map((s) => s.name)).size > 1;
  const id = `${idPrefix}-${role}`;
  const datasets = series.map((s, i) => {
    const xs = [...s.values].sort((a, b) => a - b);
    return {
      label: `${groupLabel(s.g)}${multiName ? ` ${s.name}` : ''} (n=${xs.length})`,
      data: xs.map((v, k) => ({ x: v, y: (k + 1) / xs.length })),
      stepped: 'before', borderColor: colourAt(i), backgroundColor: colourAt(i), pointRadius: 2.5, borderWidth: 2,
    };
  });
  const axisTitle = role === 'rto' ? 'recovery time (ms)' : 'data at risk (bytes)';
  const chart = lineChart(id, `${role.toUpperCase()} — cumulative distribution (share of samples ≤ x)`, datasets, {
    x: { type: 'linear', title: { display: true, text: axisTitle }, beginAtZero: true },
    y: { min: 0, max: 1, title: { display: true, text: 'share of samples' } },
  }, role === 'rto' ? { y: 'percent' } : { y: 'percent', x: 'bytes' });
  const rows = series.map((s) => {
    const q = summarize(s.values);
    return `<tr>${groupCells(s.g)}<td><code>${esc(s.name)}</code></td><td class="num">${q.n}</td><td class="num">${fmt(q.p50)}</td><td class="num">${fmt(q.p90)}</td><td class="num">${fmt(q.p99)}</td><td class="num">${fmt(q.max)}</td></tr>`;
  });
  const warn = badUnits.size ? `<p class="warn">Left out (unit not understood): ${[...badUnits].map(esc).join(', ')}</p>` : '';
  const html = `${chartCanvas(id, `${role} distribution`)}
<table><thead><tr><th>scenario</th><th>accel · topology</th><th>metric</th><th class="num">n</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">max</th></tr></thead><tbody>${rows.join('')}</tbody></table>${warn}`;
  return { html, charts: [chart] };
}

/** Minimal hold-up time vs PMEM size, one curve per scenario group × fill (and pre-copy, when a
 *  sweep says so in its labels). The worst (max) minimum per size is the design figure: a power
 *  supply must hold up at least that long; the mean is drawn dashed for context. Every sweep
 *  probe (holdup_probe_ms with holdup_probe_ok) is a point: filled where the probe kept the data,
 *  a cross where the save did not commit in time. */
export function holdupFigure(runs: readonly RunResult[], idPrefix: string): Figure {
  type Curve = { g: Group; variant: string; mins: Map<number, number[]>; probes: { size: number; ms: number; ok: boolean }[] };
  const curves = new Map<string, Curve>();
  let missingSize = 0;
  const variantOf = (labels: Record<string, string>) =>
    [labels.fill !== undefined ? `fill ${labels.fill}` : '', labels.precopy !== undefined ? `pre-copy ${labels.precopy}${labels.track ? ` (${labels.track})` : ''}${labels.dirty !== undefined ? `, dirty ${labels.dirty}` : ''}` : ''].filter(Boolean).join(', ');
  const curveOf = (g: Group, variant: string): Curve => {
    const key = `${groupLabel(g)}|${variant}`;
    let c = curves.get(key);
    if (!c) curves.set(key, (c = { g, variant, mins: new Map(), probes: [] }));
    return c;
  };
  for (const g of groupRuns(runs)) {
    for (const r of g.runs) {
      for (const [name, m] of Object.entries(r.metrics)) {
        const { base, labels } = parseMetricName(name);
        if (isUnsupported(m)) continue;
        if (roleOf(name) === 'holdup') {
          const size = pmemSizeOf(name, r);
          const vals = canonicalValues(m, 'time');
          if (size === undefined || !vals) { missingSize++; continue; }
          const c = curveOf(g, variantOf(labels));
          c.mins.set(size, [...(c.mins.get(size) ?? []), ...vals]);
        } else if (base === 'holdup_probe_ms') {
          const size = pmemSizeOf(name, r);
          const ok = r.metrics[name.replace(/^holdup_probe_ms/, 'holdup_probe_ok')]?.values;
          const vals = canonicalValues(m, 'time');
          if (size === undefined || !vals || !ok || ok.length !== vals.length) continue;
          curveOf(g, variantOf(labels)).probes.push(...vals.map((ms, i) => ({ size, ms, ok: ok[i] === 1 })));
        }
      }
    }
  }
  if (![...curves.values()].some((c) => c.mins.size || c.probes.length)) {
    return { html: emptyNote('PMEM hold-up measurements', ['holdup_min_ms{pmem_size=64MiB}', 'holdup_min_ms + dimensions.pmem_size']), charts: [] };
  }
  const MiB = 1024 * 1024;
  const datasets: { data: { x: number; y: number }[]; [k: string]: unknown }[] = [];
  const rows: string[] = [];
  const allSizes = [...curves.values()].flatMap((c) => [...c.mins.keys(), ...c.probes.map((p) => p.size)]);
  [...curves.values()].forEach((c, i) => {
    const label = `${groupLabel(c.g)}${c.variant ? ` (${c.variant})` : ''}`;
    const sizes = [...c.mins.keys()].sort((a, b) => a - b);
    const stats = sizes.map((sz) => ({ sz, q: summarize(c.mins.get(sz)!) }));
    const colour = colourAt(i);
    if (stats.length) {
      datasets.push({ label: `${label} worst case`, data: stats.map(({ sz, q }) => ({ x: sz, y: q.max })), borderColor: colour, backgroundColor: colour, pointRadius: 4, borderWidth: 2 });
      // With one sample per size the mean is the worst case: not drawn twice.
      if (stats.some(({ q }) => q.n > 1)) datasets.push({ label: `${label} mean`, data: stats.map(({ sz, q }) => ({ x: sz, y: q.mean })), borderColor: colour, borderDash: [5, 4], pointRadius: 2, borderWidth: 1 });
    }
    const ok = c.probes.filter((p) => p.ok);
    const lost = c.probes.filter((p) => !p.ok);
    if (ok.length) datasets.push({ label: `${label} probe: data kept`, data: ok.map((p) => ({ x: p.size, y: p.ms })), showLine: false, borderColor: colour, backgroundColor: colour, pointRadius: 3, pointStyle: 'circle' });
    if (lost.length) datasets.push({ label: `${label} probe: save not committed`, data: lost.map((p) => ({ x: p.size, y: p.ms })), showLine: false, borderColor: colour, backgroundColor: 'transparent', pointRadius: 5, pointStyle: 'crossRot', borderWidth: 2 });
    const probesAt = (sz: number) => c.probes.filter((p) => p.size === sz);
    for (const sz of [...new Set([...sizes, ...c.probes.map((p) => p.size)])].sort((a, b) => a - b)) {
      const q = c.mins.has(sz) ? summarize(c.mins.get(sz)!) : undefined;
      const pr = probesAt(sz);
      const longestLost = pr.filter((p) => !p.ok).map((p) => p.ms);
      rows.push(`<tr>${groupCells(c.g)}<td>${esc(c.variant || '—')}</td><td class="num">${fmtBytes(sz)}</td><td class="num">${q ? q.n : 0}</td><td class="num">${q ? fmtDuration(q.mean) : '—'}</td><td class="num">${q ? fmtDuration(q.min) : '—'}</td><td class="num">${q ? fmtDuration(q.max) : '—'}</td>` +
        `<td class="num">${pr.length}</td><td class="num">${longestLost.length ? fmtDuration(Math.max(...longestLost)) : '—'}</td></tr>`);
    }
  });
  // PMEM sizes come in powers of two: over a wide range, plot log2(MiB) on a linear axis with
  // one tick per doubling (Chart.js's log axis ticks at decades, which reads badly here).
  const log = Math.max(...allSizes) / Math.max(Math.min(...allSizes), 1) > 8;
  for (const d of datasets) for (const p of d.data) p.x = log ? Math.log2(p.x / MiB) : p.x / MiB;
  const id = `${idPrefix}-holdup`;
  const chart = lineChart(id, 'Minimal hold-up time that kept PMEM data intact, by PMEM size (points: every probe)', datasets, {
    x: { type: 'linear', title: { display: true, text: log ? 'PMEM size (log scale)' : 'PMEM size' }, ...(log ? { ticks: { stepSize: 1 } } : {}) },
    y: { beginAtZero: true, title: { display: true, text: 'hold-up (ms)' } },
  }, { x: log ? 'log2mib' : 'mib' });
  const warn = missingSize ? `<p class="warn">${missingSize} hold-up metric(s) left out: no PMEM size (label <code>pmem_size</code> or dimension) or unknown unit.</p>` : '';
  return {
    html: `${chartCanvas(id, 'PMEM hold-up curve', 300 + 22 * Math.ceil(datasets.length / 2))}<table><thead><tr><th>scenario</th><th>accel · topology</th><th>variant</th><th class="num">PMEM size</th><th class="num">n</th><th class="num">mean</th><th class="num">min</th><th class="num">max (design)</th><th class="num">probes</th><th class="num">longest failing probe</th></tr></thead><tbody>${rows.join('')}</tbody></table>${warn}`,
    charts: [chart],
  };
}

const MAX_NUMA_SERIES = 16;

/** NUMA locality (share of local accesses) over time, one line per run. */
export function numaFigure(runs: readonly RunResult[], idPrefix: string): Figure {
  const series: { r: RunResult; name: string; t?: number[]; tFrom?: string; v: number[] }[] = [];
  for (const r of runs) {
    for (const [name, m] of Object.entries(r.metrics)) {
      if (roleOf(name) !== 'numa' || isUnsupported(m) || !m.values.length) continue;
      series.push({ r, name, t: m.t && m.t.length === m.values.length ? m.t : undefined, tFrom: m.tFrom, v: fractionValues(m) });
    }
  }
  if (!series.length) return { html: emptyNote('NUMA locality series', METRIC_NAMES.numa), charts: [] };
  const timed = series.every((s) => s.t);
  // Series aligned at their own origin (e.g. each policy's move) share the x axis only if all say so.
  const from = series.every((s) => s.tFrom === series[0].tFrom) ? series[0].tFrom ?? 'run start' : "each series' own origin";
  const shown = series.slice(0, MAX_NUMA_SERIES);
  const id = `${idPrefix}-numa`;
  const datasets = shown.map((s, i) => ({
    label: `${s.r.scenario.name} #${s.r.runIndex}${parseMetricName(s.name).base === s.name ? '' : ` ${s.name}`} [${s.r.dimensions.accel}·${s.r.dimensions.topology}]`,
    data: s.v.map((y, k) => ({ x: timed ? s.t![k] / 1000 : k, y })),
    borderColor: colourAt(i), backgroundColor: colourAt(i), pointRadius: 1.5, borderWidth: 1.5,
  }));
  const chart = lineChart(id, 'NUMA locality over time (share of memory accesses served by the local node)', datasets, {
    x: { type: 'linear', title: { display: true, text: timed ? `time since ${from} (s)` : 'sample index (no times recorded)' } },
    y: { min: 0, max: 1, title: { display: true, text: 'local fraction' } },
  }, { y: 'percent' });
  const rows = series.map((s) => {
    const q = summarize(s.v);
    return `<tr><td>${esc(s.r.scenario.name)} #${s.r.runIndex}</td><td>${dimTags(s.r.dimensions)}</td><td><code>${esc(s.name)}</code></td><td class="num">${q.n}</td><td class="num">${fmtNum(q.mean * 100)} %</td><td class="num">${fmtNum(q.min * 100)} %</td><td class="num">${fmtNum(s.v[s.v.length - 1] * 100)} %</td></tr>`;
  });
  const note = series.length > shown.length ? `<p class="hint">Chart shows ${shown.length} of ${series.length} series; the table lists all.</p>` : '';
  return {
    html: `${chartCanvas(id, 'NUMA locality over time')}${note}<table><thead><tr><th>run</th><th>accel · topology</th><th>metric</th><th class="num">n</th><th class="num">mean</th><th class="num">min</th><th class="num">last</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
    charts: [chart],
  };
}

/** Perf counters per scenario × accel × topology; unsupported ones are marked, never zeroed. */
export function perfFigure(runs: readonly RunResult[]): Figure {
  const blocks: string[] = [];
  for (const g of groupRuns(runs)) {
    const counters = new Map<string, { unit: string; values: number[]; unsupported: boolean; why: string }>();
    for (const r of g.runs) {
      for (const [name, m] of Object.entries(r.metrics)) {
        if (roleOf(name) !== 'perf') continue;
        const c = counters.get(name) ?? { unit: m.unit, values: [], unsupported: false, why: '' };
        c.values.push(...m.values);
        if (isUnsupported(m)) { c.unsupported = true; c.why ||= m.description ?? ''; }
        counters.set(name, c);
      }
    }
    if (!counters.size) continue;
    const rows = [...counters].sort(([a], [b]) => a.localeCompare(b)).map(([name, c]) => {
      const label = esc(name.slice(PERF_PREFIX.length));
      if (c.unsupported) {
        return `<tr class="unsupported"><td>${label}</td><td><span class="badge v-unknown">unsupported</span></td><td colspan="5">${esc(c.why || 'not available on this host/accelerator')}</td></tr>`;
      }
      const q = summarize(c.values);
      return `<tr><td>${label}</td><td><span class="badge v-pass">supported</span></td><td>${esc(c.unit)}</td><td class="num">${q.n}</td><td class="num">${fmtNum(q.mean)}</td><td class="num">${fmtNum(q.min)}</td><td class="num">${fmtNum(q.max)}</td></tr>`;
    });
    blocks.push(`<h3>${esc(g.scenario)} ${dimTags(g)}</h3><table class="perf"><thead><tr><th>counter</th><th>status</th><th>unit</th><th class="num">n</th><th class="num">mean</th><th class="num">min</th><th class="num">max</th></tr></thead><tbody>${rows.join('')}</tbody></table>`);
  }
  if (!blocks.length) return { html: emptyNote('perf counters', [`${PERF_PREFIX}<event>`]), charts: [] };
  return { html: blocks.join(''), charts: [] };
}
