// The self-contained page shell shared by the run report, the trend and the A/B comparison:
// one HTML file with inline CSS, inline JS and Chart.js read from node_modules at render time,
// so a report opens from file:// on a lab machine without network. A CSP meta tag forbids
// every fetch and allows only the inline scripts we wrote (by hash), so even a missed escape
// could not run injected script or phone home.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Verdict } from '../results/types.js';

/** HTML-escape text and attribute values (quotes too: we always double-quote attributes). */
export function esc(v: unknown): string {
  return String(v ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** JSON safe inside <script type="application/json">: no `</script`, no `<!--`, no U+2028. */
export function jsonForScript(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

let chartJsCache: string | undefined;
/** Chart.js UMD build, read from the installed package (the package does not export the
 *  subpath, so we go from its main entry to the sibling file). */
export function chartJsSource(): string {
  if (chartJsCache === undefined) {
    const req = createRequire(import.meta.url);
    const file = path.join(path.dirname(req.resolve('chart.js')), 'chart.umd.min.js');
    const src = readFileSync(file, 'utf8');
    if (/<\/script|<!--/i.test(src)) throw new Error(`${file} cannot be inlined: contains </script or <!--`);
    chartJsCache = src;
  }
  return chartJsCache;
}

export const VERDICT_ICON = { pass: '✓', fail: '✗', unknown: '?', error: '⚠' } as const satisfies Record<Verdict, string>;

const CSS = `
:root{--pass:#1b7f3b;--pass-bg:#e3f4e8;--fail:#b3261e;--fail-bg:#fde7e5;--error:#8a5a00;--error-bg:#fff1cc;
--unk:#4a5160;--unk-bg:#e6e8ee;--unk-dot:#9aa1ae;--line:#d6d9de;--muted:#5f6670;--bg:#f6f7f9;--card:#fff;--accent:#1f4e99}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2127;background:var(--bg)}
header.top{background:#1d2633;color:#fff;padding:14px 24px 12px}
header.top h1{margin:0;font-size:20px;font-weight:600}
header.top .sub{color:#c3cad4;font-size:13px;margin-top:2px}
nav.toc{position:sticky;top:0;z-index:5;background:#273244;padding:6px 24px;display:flex;gap:16px;flex-wrap:wrap}
nav.toc a{color:#dfe6ef;text-decoration:none;font-size:13px}
nav.toc a:hover{text-decoration:underline}
main{padding:16px 24px 48px;max-width:1400px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin:0 0 16px}
section>h2{margin:0 0 10px;font-size:17px}
h3{font-size:15px;margin:14px 0 6px}
.muted{color:var(--muted)}
.small{font-size:12px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.v-pass{color:var(--pass);background:var(--pass-bg)}
.v-fail{color:var(--fail);background:var(--fail-bg)}
.v-error{color:var(--error);background:var(--error-bg);outline:1px dashed var(--error)}
.v-unknown{color:var(--unk);background:var(--unk-bg)}
.v-none{color:var(--muted);background:#f0f2f5}
.dim{display:inline-block;padding:0 6px;border-radius:4px;background:#e8edf6;color:#23406e;font-size:12px;margin-right:3px;white-space:nowrap}
.dim.tcg{background:#ede7f6;color:#4a2c83}
.counts{display:flex;gap:12px;flex-wrap:wrap;margin:4px 0 8px}
.count{min-width:150px;border-radius:8px;padding:8px 14px;border:1px solid var(--line)}
.count .n{font-size:28px;font-weight:700;line-height:1.1}
.count .l{font-size:12px}
.count.pass{background:var(--pass-bg);color:var(--pass)}
.count.fail{background:var(--fail-bg);color:var(--fail)}
.count.error{background:var(--error-bg);color:var(--error);border:2px dashed var(--error)}
.count.unknown{background:var(--unk-bg);color:var(--unk);border:2px dotted var(--unk)}
.count.total{background:#f0f2f5}
table.matrix td.cell{min-width:120px;text-align:center}
table.matrix td.cell a{text-decoration:none;margin:0 1px}
td.c-pass{background:var(--pass-bg)}
td.c-fail{background:var(--fail-bg)}
td.c-error{background:repeating-linear-gradient(45deg,var(--error-bg),var(--error-bg) 6px,#fbe3a6 6px,#fbe3a6 12px)}
/* unknown: slate grey dots — not green (not a pass), not red (no violation), not the amber hatch (the harness did not break) */
td.c-unknown{background:radial-gradient(circle,var(--unk-dot) 1.4px,transparent 1.6px) 0 0/7px 7px,var(--unk-bg)}
td.c-none{background:#fafafa;color:#aaa}
.runlink{display:inline-block;min-width:22px;padding:0 4px;border-radius:4px;font-size:12px;font-weight:600}
details.run{border:1px solid var(--line);border-radius:6px;margin:6px 0;background:#fff}
details.run>summary{cursor:pointer;padding:6px 10px;list-style:none;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
details.run>summary::-webkit-details-marker{display:none}
details.run>summary::before{content:"▸";color:var(--muted)}
details.run[open]>summary::before{content:"▾"}
details.run.v-fail-run{border-left:4px solid var(--fail)}
details.run.v-error-run{border-left:4px dashed var(--error)}
details.run.v-pass-run{border-left:4px solid var(--pass)}
details.run.v-unknown-run{border-left:4px dotted var(--unk)}
details.run .body{padding:4px 14px 12px}
details.run:target{box-shadow:0 0 0 3px #9ec1ff}
section,details.run{scroll-margin-top:40px}
.reason{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
pre{background:#f4f5f7;border:1px solid var(--line);padding:6px 8px;border-radius:4px;max-height:240px;overflow:auto;font-size:12px;margin:2px 0;white-space:pre-wrap;word-break:break-word}
.chart{position:relative;height:300px;width:100%;max-width:1000px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}
svg.timeline{width:100%;max-width:1100px;height:auto;background:#fff;border:1px solid var(--line);border-radius:4px}
svg.timeline text{font:11px system-ui,"DejaVu Sans",sans-serif}
.hint{font-size:12px;color:var(--muted);margin:2px 0 8px}
.toolbar{margin:6px 0}
.toolbar button{font:inherit;font-size:12px;padding:2px 8px;margin-right:4px;border:1px solid var(--line);background:#fff;border-radius:4px;cursor:pointer}
.toolbar button.on{background:#1d2633;color:#fff}
tr.unsupported td,tr.missing td{color:#888;background:#fafafa}
.warn{background:#fff8e1;border:1px solid #f0d58a;padding:6px 10px;border-radius:6px;margin:6px 0}
.strip{display:inline-flex;gap:2px;vertical-align:middle}
.strip a,.strip span{display:inline-block;width:12px;height:16px;border-radius:2px}
.strip .s-pass{background:var(--pass)}
.strip .s-fail{background:var(--fail)}
.strip .s-error{background:repeating-linear-gradient(45deg,#e0a100,#e0a100 3px,#fff1cc 3px,#fff1cc 6px);outline:1px solid var(--error)}
.strip .s-unknown{background:radial-gradient(circle,var(--unk) 1px,transparent 1.3px) 0 0/4px 4px,var(--unk-bg);outline:1px dotted var(--unk)}
`;

// Runs after Chart.js: draws every chart described in the JSON block, opens the <details>
// a link points at, and filters runs by verdict. Chart specs are plain data (no functions),
// so the few formatting needs are flags interpreted here.
const CLIENT_JS = `
(function(){
  var data = JSON.parse(document.getElementById('report-data').textContent || '{}');
  function fmtTick(kind0){return function(v){
    var kind = kind0;
    if(kind==='percent') return Math.round(v*100)+'%';
    if(kind==='log2mib'){ if(!Number.isInteger(v)) return ''; v = Math.pow(2, v); kind = 'mib'; }
    if(kind==='mib') return v>=1024? (v/1024)+' GiB' : (v<1? Math.round(v*1024)+' KiB' : v+' MiB');
    if(kind==='date') return new Date(v).toISOString().slice(0,16).replace('T',' ');
    if(kind==='day') return new Date(v).toISOString().slice(0,10);
    if(kind==='bytes'){ var u=['B','KiB','MiB','GiB','TiB'], i=0; while(Math.abs(v)>=1024&&i<4){v/=1024;i++;} return (Math.round(v*10)/10)+' '+u[i]; }
    return v;};}
  (data.charts||[]).forEach(function(c){
    var el = document.getElementById(c.id);
    if(!el || typeof Chart === 'undefined') return;
    var cfg = c.config;
    cfg.options = cfg.options || {};
    cfg.options.animation = false;
    cfg.options.responsive = true;
    cfg.options.maintainAspectRatio = false;
    var sc = cfg.options.scales || {};
    Object.keys(c.tickFormat||{}).forEach(function(ax){
      sc[ax] = sc[ax] || {}; sc[ax].ticks = sc[ax].ticks || {};
      sc[ax].ticks.callback = fmtTick(c.tickFormat[ax]);
    });
    if(c.categories){ sc.x = sc.x||{}; sc.x.ticks = sc.x.ticks||{};
      sc.x.ticks.stepSize = 1;
      sc.x.ticks.callback = function(v){ return Number.isInteger(v) ? (c.categories[v]||'') : ''; }; }
    cfg.options.scales = sc;
    try { el.__chart = new Chart(el, cfg); el.setAttribute('data-drawn','1'); }
    catch(e){ el.insertAdjacentText('afterend', 'chart failed: '+e.message); }
  });
  function openTarget(){
    var id = decodeURIComponent(location.hash.slice(1));
    var t = id && document.getElementById(id);
    while(t){ if(t.tagName==='DETAILS') t.open = true; t = t.parentElement; }
  }
  window.addEventListener('hashchange', openTarget); openTarget();
  document.querySelectorAll('[data-filter]').forEach(function(b){
    b.addEventListener('click', function(){
      var f = b.getAttribute('data-filter');
      document.querySelectorAll('[data-filter]').forEach(function(x){x.classList.toggle('on', x===b);});
      document.querySelectorAll('details.run').forEach(function(d){
        d.style.display = (f==='all' || d.getAttribute('data-verdict')===f) ? '' : 'none';
      });
    });
  });
  document.querySelectorAll('[data-expand]').forEach(function(b){
    b.addEventListener('click', function(){
      var open = b.getAttribute('data-expand')==='1';
      document.querySelectorAll('details.run').forEach(function(d){ if(d.style.display!=='none') d.open = open; });
    });
  });
})();
`;

/** A chart the client script draws: a canvas id plus a Chart.js config that is pure data. */
export interface ChartSpec {
  id: string;
  config: { type: string; data: unknown; options?: Record<string, unknown> };
  /** axis id → tick formatter name understood by the client script */
  tickFormat?: Record<string, 'percent' | 'mib' | 'log2mib' | 'bytes' | 'date' | 'day'>;
  /** for strip plots: x is a category index, these are the labels */
  categories?: string[];
}

/** The common line chart: x/y data points (no parsing), a title, legend below. */
export function lineChart(id: string, title: string, datasets: unknown[], scales: Record<string, unknown>, tickFormat?: ChartSpec['tickFormat']): ChartSpec {
  return {
    id,
    config: {
      type: 'line',
      data: { datasets },
      options: { parsing: false, plugins: { title: { display: true, text: title }, legend: { position: 'bottom' } }, scales },
    },
    tickFormat,
  };
}

/** A report section built elsewhere (e.g. the A/B comparison) to place into a page. */
export interface HtmlSection {
  id: string;
  title: string;
  /** already-escaped HTML */
  html: string;
  charts?: ChartSpec[];
}

export function chartCanvas(id: string, ariaLabel: string, height = 300): string {
  return `<div class="chart" style="height:${height}px"><canvas id="${esc(id)}" role="img" aria-label="${esc(ariaLabel)}"></canvas></div>`;
}

export interface PageParts {
  title: string;
  subtitle?: string;
  nav?: { href: string; label: string }[];
  body: string;
  charts?: ChartSpec[];
}

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

export function renderPage(p: PageParts): string {
  const charts = p.charts ?? [];
  const lib = charts.length ? chartJsSource() : '';
  const scripts = [lib, CLIENT_JS].filter(Boolean);
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.map(sha256).join(' ')}`,
    "style-src 'unsafe-inline'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  const nav = p.nav?.length
    ? `<nav class="toc">${p.nav.map((n) => `<a href="${esc(n.href)}">${esc(n.label)}</a>`).join('')}</nav>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${esc(csp)}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(p.title)}</title>
<style>${CSS}</style>
</head><body>
<header class="top"><h1>${esc(p.title)}</h1>${p.subtitle ? `<div class="sub">${esc(p.subtitle)}</div>` : ''}</header>
${nav}
<main>
${p.body}
</main>
<script type="application/json" id="report-data">${jsonForScript({ charts })}</script>
${scripts.map((s) => `<script>${s}</script>`).join('\n')}
</body></html>
`;
}

/** `<span class="badge v-fail">✗ fail</span>` */
export function verdictBadge(v: Verdict): string {
  const text = v === 'error' ? 'error (harness)' : v === 'unknown' ? 'unknown (not judged)' : v;
  return `<span class="badge v-${v}">${VERDICT_ICON[v]} ${text}</span>`;
}

/** accel/topology tag pair shown next to every figure (house rule). */
export function dimTags(d: { accel?: string; topology?: string }): string {
  return `<span class="dim ${esc(d.accel)}">${esc(d.accel ?? '?')}</span><span class="dim">${esc(d.topology ?? '?')}</span>`;
}

/** Palette for chart datasets, in order. */
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
/** Fault bands avoid green and red, which the timeline uses for ok and fail operations. */
const FAULT_PALETTE = ['#7b1fa2', '#1565c0', '#ef6c00', '#00838f', '#6d4c41', '#ad1457', '#283593'];
export function faultColour(kind: string): string {
  let h = 0;
  for (const ch of kind) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return FAULT_PALETTE[h % FAULT_PALETTE.length];
}
export function colourAt(i: number): string {
  return PALETTE[i % PALETTE.length];
}
