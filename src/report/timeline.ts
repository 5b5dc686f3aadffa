// Per-run timeline as static SVG (no script needed): one lane per process, Jepsen-style
// operation bars from invoke to completion, fault intervals shaded across all lanes and
// labelled with what, when and how long.

import type { FaultRecord, HistoryEvent, RunResult } from '../results/types.js';
import { esc, faultColour } from './page.js';
import { fmtDuration } from './stats.js';

const W = 1100;
const LEFT = 130;
const RIGHT = 16;
const LANE_H = 20;
const LABEL_ROW_H = 16;
const AXIS_H = 26;
/** Past this many drawn operations the SVG gets heavy for a browser; we say we stopped. */
export const MAX_OPS = 2500;

const OP_COLOUR = { ok: '#2e8b57', fail: '#c62828', info: '#7a8aa0', open: '#b0b0b0' } as const;

interface Op {
  process: string;
  f: string;
  start: number;
  end: number;
  kind: keyof typeof OP_COLOUR;
  title: string;
}

function short(v: unknown, max = 160): string {
  if (v === undefined) return '';
  let s: string;
  try { s = typeof v === 'string' ? v : JSON.stringify(v); } catch { s = String(v); }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Pairs each invoke with the next completion of the same process and f. Completions without
 *  an invoke (and lone info events) become instants; invokes never answered run to the end. */
export function pairOps(history: readonly HistoryEvent[], endT: number): Op[] {
  const open = new Map<string, HistoryEvent[]>();
  const ops: Op[] = [];
  const label = (e: HistoryEvent) => `${e.process} ${e.f} ${e.type} @ ${fmtDuration(e.t)}${e.value === undefined ? '' : ` — ${short(e.value)}`}`;
  for (const e of history) {
    const key = `${e.process}\0${e.f}`;
    if (e.type === 'invoke') {
      const q = open.get(key) ?? [];
      q.push(e);
      open.set(key, q);
      continue;
    }
    const inv = open.get(key)?.shift();
    ops.push({
      process: e.process, f: e.f, start: inv ? inv.t : e.t, end: e.t, kind: e.type,
      title: inv ? `${label(inv)}\n${label(e)} (took ${fmtDuration(e.t - inv.t)})` : label(e),
    });
  }
  for (const q of open.values()) {
    for (const inv of q) ops.push({ process: inv.process, f: inv.f, start: inv.t, end: endT, kind: 'open', title: `${label(inv)}\nno completion recorded` });
  }
  return ops.sort((a, b) => a.start - b.start);
}

function niceStep(span: number, target = 8): number {
  const raw = span / target;
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

/** Lays fault labels on rows so that overlapping faults do not write over each other. */
function labelRows(faults: readonly FaultRecord[], x: (t: number) => number, endT: number): number[] {
  const rowEnds: number[] = [];
  return faults.map((f) => {
    const x0 = x(f.start);
    const width = Math.max(x(f.end ?? endT) - x0, 8 * (f.label.length + 12));
    let row = rowEnds.findIndex((e) => e <= x0);
    if (row < 0) { row = rowEnds.length; rowEnds.push(0); }
    rowEnds[row] = x0 + width;
    return row;
  });
}

export function faultSummary(f: FaultRecord, endT: number): string {
  const dur = f.end === undefined ? `never healed (≥ ${fmtDuration(endT - f.start)})` : fmtDuration(f.end - f.start);
  return `${f.kind}: ${f.label} — from ${fmtDuration(f.start)} for ${dur}`;
}

export function renderTimeline(run: RunResult): string {
  const lastEvent = run.history.reduce((m, e) => Math.max(m, e.t), 0);
  const lastFault = run.faults.reduce((m, f) => Math.max(m, f.end ?? f.start), 0);
  const endT = Math.max(run.durationMs || 0, lastEvent, lastFault, 1);
  const x = (t: number) => LEFT + (Math.min(Math.max(t, 0), endT) / endT) * (W - LEFT - RIGHT);

  const allOps = pairOps(run.history, endT);
  const ops = allOps.slice(0, MAX_OPS);
  const lanes: string[] = [];
  for (const o of ops) if (!lanes.includes(o.process)) lanes.push(o.process);
  // The nemesis lane goes first: faults are what the reader looks for.
  lanes.sort((a, b) => Number(b === 'nemesis') - Number(a === 'nemesis'));
  if (!lanes.length) lanes.push('(no events)');

  const rows = labelRows(run.faults, x, endT);
  const labelH = (rows.length ? Math.max(...rows) + 1 : 0) * LABEL_ROW_H + 4;
  const lanesTop = labelH;
  const lanesH = lanes.length * LANE_H;
  const H = lanesTop + lanesH + AXIS_H;
  const parts: string[] = [];

  // Lanes background and names.
  lanes.forEach((p, i) => {
    const y = lanesTop + i * LANE_H;
    parts.push(`<rect x="${LEFT}" y="${y}" width="${W - LEFT - RIGHT}" height="${LANE_H}" fill="${i % 2 ? '#fafbfc' : '#f2f4f7'}"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${y + LANE_H / 2 + 4}" text-anchor="end" fill="#333">${esc(p.length > 18 ? `${p.slice(0, 17)}…` : p)}<title>${esc(p)}</title></text>`);
  });

  // Fault intervals: shaded band over all lanes, label above.
  run.faults.forEach((f, i) => {
    const x0 = x(f.start), x1 = x(f.end ?? endT);
    const c = esc(f.colour ?? faultColour(f.kind));
    const title = esc(faultSummary(f, endT));
    parts.push(`<g class="fault" data-kind="${esc(f.kind)}"><title>${title}</title>`);
    parts.push(`<rect x="${x0.toFixed(1)}" y="${lanesTop}" width="${Math.max(x1 - x0, 2).toFixed(1)}" height="${lanesH}" fill="${c}" fill-opacity="0.16" stroke="${c}" stroke-opacity="0.7"${f.end === undefined ? ' stroke-dasharray="4 3"' : ''}/>`);
    const ly = rows[i] * LABEL_ROW_H + 12;
    const dur = f.end === undefined ? 'never healed' : fmtDuration(f.end - f.start);
    parts.push(`<line x1="${x0.toFixed(1)}" x2="${x0.toFixed(1)}" y1="${ly - 10}" y2="${lanesTop}" stroke="${c}"/>`);
    parts.push(`<text x="${(x0 + 3).toFixed(1)}" y="${ly}" fill="${c}" font-weight="600">${esc(f.label)} · ${esc(dur)}</text></g>`);
  });

  // Operations.
  for (const o of ops) {
    const lane = lanes.indexOf(o.process);
    const y = lanesTop + lane * LANE_H + 4;
    const x0 = x(o.start), x1 = x(o.end);
    const title = `<title>${esc(o.title)}</title>`;
    if (x1 - x0 < 3) {
      parts.push(`<rect class="op op-${o.kind}" x="${(x0 - 1.5).toFixed(1)}" y="${y}" width="3" height="${LANE_H - 8}" fill="${OP_COLOUR[o.kind]}">${title}</rect>`);
    } else {
      parts.push(`<rect class="op op-${o.kind}" x="${x0.toFixed(1)}" y="${y}" width="${(x1 - x0).toFixed(1)}" height="${LANE_H - 8}" rx="2" fill="${OP_COLOUR[o.kind]}" fill-opacity="0.85">${title}</rect>`);
      if (x1 - x0 > 7 * o.f.length + 6) parts.push(`<text x="${(x0 + 3).toFixed(1)}" y="${y + 10}" fill="#fff" style="font-size:10px">${esc(o.f)}</text>`);
    }
  }

  // Time axis.
  const step = niceStep(endT);
  const axisY = lanesTop + lanesH;
  parts.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${axisY}" y2="${axisY}" stroke="#888"/>`);
  for (let t = 0; t <= endT + 1e-9; t += step) {
    const tx = x(t).toFixed(1);
    parts.push(`<line x1="${tx}" x2="${tx}" y1="${axisY}" y2="${axisY + 4}" stroke="#888"/><text x="${tx}" y="${axisY + 16}" text-anchor="middle" fill="#555">${esc(fmtDuration(t))}</text>`);
  }

  const note = allOps.length > ops.length ? `<div class="hint">Timeline shows the first ${ops.length} of ${allOps.length} operations.</div>` : '';
  const legend = `<div class="hint">Bars: operation from invoke to completion — <span style="color:${OP_COLOUR.ok}">■ ok</span> <span style="color:${OP_COLOUR.fail}">■ fail</span> <span style="color:${OP_COLOUR.info}">■ info/unknown outcome</span> <span style="color:#999">■ never completed</span>; shaded bands: fault active (dashed: never healed). Hover for details.</div>`;
  const faultList = run.faults.length
    ? `<ul class="small faults">${run.faults.map((f) => `<li><span style="color:${esc(f.colour ?? faultColour(f.kind))}">■</span> ${esc(faultSummary(f, endT))}</li>`).join('')}</ul>`
    : '<div class="hint">No faults were injected in this run.</div>';
  return `<svg class="timeline" viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="timeline">${parts.join('')}</svg>${note}${legend}${faultList}`;
}
