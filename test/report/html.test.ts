import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { reportCommand, writeRunReport } from '../../src/report/commands.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { holdupFigure } from '../../src/report/figures.js';
import { countVerdicts, passRate, runAnchor, worst } from '../../src/report/model.js';
import { NIGHT0, UNKNOWN_MESSAGE, XSS_NAME, fourNights, makeRun, nightAt, storeRuns, suiteRuns, tmpDir } from './fixtures.js';

describe('HTML report (markup)', () => {
  const runs = suiteRuns(NIGHT0);
  const html = renderHtmlReport(runs, { generatedAt: NIGHT0 });

  it('escapes every user-controlled string', () => {
    for (const raw of [XSS_NAME, '<img src=x onerror=alert(2)>', '<svg onload=alert(4)>', '</script><script>alert(5)</script>', '<b>evil-kind</b>', '<img src=x onerror=alert(3)>', '<b>not html</b>']) {
      assert.ok(!html.includes(raw), `raw ${raw}`);
    }
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    // Exactly our three script elements: the data block, Chart.js, the client script.
    assert.equal(html.match(/<script[\s>]/g)!.length, 3);
  });

  it('forbids network access and foreign scripts by CSP', () => {
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)![1];
    assert.match(csp, /default-src &#39;none&#39;/);
    assert.match(csp, /script-src &#39;sha256-[^ ]+&#39; &#39;sha256-/);
    assert.ok(!/https?:\/\/(?!www\.w3\.org\/2000\/svg)/.test(html.replace(/<script>[\s\S]*?<\/script>/g, '')), 'no external URL outside scripts');
  });

  it('counts errors apart from fails', () => {
    const fails = runs.filter((r) => r.verdict === 'fail').length;
    const errors = runs.filter((r) => r.verdict === 'error').length;
    assert.ok(fails > 0 && errors > 0);
    assert.match(html, new RegExp(`count fail"><div class="n">✗ ${fails}</div>`));
    assert.match(html, new RegExp(`count error"><div class="n">⚠ ${errors}</div>`));
    assert.match(html, new RegExp(`Invariant violations \\(${fails}\\)`));
    assert.match(html, new RegExp(`Harness / infrastructure errors \\(${errors}\\)`));
  });

  it('gives unknown its own tile, counts it in the total and never as a pass', () => {
    const c = countVerdicts(runs);
    assert.ok(c.unknown > 0 && c.pass > 0 && c.fail > 0 && c.error > 0, JSON.stringify(c));
    assert.match(html, new RegExp(`count total"><div class="n">${runs.length}</div>`));
    assert.match(html, new RegExp(`count unknown"><div class="n">\\? ${c.unknown}</div><div class="l">unknown — not judged;`));
    assert.match(html, new RegExp(`count pass"><div class="n">✓ ${c.pass}</div>`), 'the pass tile holds passes only');
    // The demonstrated pass rate: pass / (pass + fail + unknown), errors left out.
    const completed = c.pass + c.fail + c.unknown;
    const line = /<p class="muted pass-rate">([^<]+)<\/p>/.exec(html)![1];
    assert.ok(line.startsWith(`${Number(((100 * c.pass) / completed).toPrecision(4))} % passed (${c.pass} of ${completed}: pass / (pass + fail + unknown))`), line);
    assert.match(line, /unknown run counts as not passed/);
    assert.equal(passRate({ pass: 3, fail: 0, unknown: 1, error: 5 }), 0.75);
    assert.equal(passRate({ pass: 0, fail: 0, unknown: 0, error: 2 }), undefined);
  });

  it('orders the worst verdict fail > error > unknown > pass', () => {
    const c = (pass: number, fail: number, unknown: number, error: number) => ({ pass, fail, unknown, error });
    assert.equal(worst(c(1, 1, 1, 1)), 'fail');
    assert.equal(worst(c(1, 0, 1, 1)), 'error');
    assert.equal(worst(c(5, 0, 1, 0)), 'unknown', 'one undecided run keeps a cell from being green');
    assert.equal(worst(c(5, 0, 0, 0)), 'pass');
    assert.equal(worst(c(0, 0, 0, 0)), undefined);
  });

  it('colours a matrix cell with an unknown run apart from pass, fail and error', () => {
    const matrix = html.slice(html.indexOf('<table class="matrix"'));
    const row = matrix.split('<tr>').find((tr) => tr.includes('<th>pmem-ha/cut-mid-save</th>'))!;
    const cell = /<td class="cell c-unknown" data-verdict="unknown">(.*?)<\/td>/.exec(row)!;
    assert.ok(cell, row);
    assert.match(cell[1], /<span class="badge v-pass">✓ 1<\/span> <span class="badge v-unknown">\? 1<\/span>/);
    const unknownRun = runs.find((r) => r.verdict === 'unknown')!;
    assert.match(cell[1], new RegExp(`<a class="runlink v-unknown" href="#${runAnchor(unknownRun)}" title="run 2/2: unknown — [^"]+">\\?2</a>`));
    // The style sheet gives each its own look.
    for (const v of ['pass', 'fail', 'error', 'unknown']) assert.match(html, new RegExp(`td\\.c-${v}\\{background:`), v);
    assert.match(html, /dotted grey \? = not judged \(unknown\)/, 'the legend says what grey dots mean');
  });

  it('lists unknown runs with their reason apart from fails and errors, and opens their details', () => {
    const attention = html.slice(html.indexOf('id="attention"'), html.indexOf('id="matrix"'));
    const unknownRuns = runs.filter((r) => r.verdict === 'unknown');
    assert.match(attention, new RegExp(`Not judged \\(${unknownRuns.length}\\)`));
    const [fails, errors, unknown] = ['Invariant violations', 'Harness / infrastructure errors', 'Not judged'].map((h, i, all) => {
      const from = attention.indexOf(h);
      return attention.slice(from, i + 1 < all.length ? attention.indexOf(all[i + 1]) : undefined);
    });
    assert.ok(unknown.includes(`>pmem-ha/cut-mid-save #2<`));
    assert.ok(unknown.includes(UNKNOWN_MESSAGE), 'the reason is shown');
    assert.ok(unknown.includes('not judged since'));
    assert.ok(!fails.includes('cut-mid-save') && !errors.includes('cut-mid-save'), 'not mixed into fails or errors');
    assert.ok(!unknown.includes('podvm store outage') && !unknown.includes('pmem-ha/power-cut #'), 'no error or fail in the unknown list');
    const r = unknownRuns[0];
    const details = new RegExp(`<details class="run v-unknown-run" id="${runAnchor(r)}" data-verdict="unknown" open>\\s*<summary><span class="badge v-unknown">\\? unknown \\(not judged\\)</span>`);
    assert.match(html, details);
    assert.match(html, /This run is not counted as a pass\./);
    assert.match(html, /<button data-filter="unknown">unknown only<\/button>/);
    assert.match(html, /<a href="#attention">Needs attention \(1 ✗ \/ 2 ⚠ \/ 1 \?\)<\/a>/);
  });

  it('says since when a scenario is not judged, from the history', () => {
    const all = fourNights();
    const page = renderHtmlReport(all.filter((r) => r.startedAt.startsWith('2025-11-23')), { history: all });
    const attention = page.slice(page.indexOf('id="attention"'), page.indexOf('id="matrix"'));
    const unknown = attention.slice(attention.indexOf('Not judged ('));
    const rows = unknown.split('<tr>').filter((tr) => tr.includes('>pmem-ha/cut-mid-save #'));
    assert.equal(rows.length, 2);
    // Night 1 run 2 was the first of the streak of unknown runs that lasts to the end.
    for (const row of rows) assert.match(row, new RegExp(`<td>${new Date(nightAt(1).getTime() + 37 * 60_000).toISOString()} <code>a1b2c3d</code></td>`));
  });

  it('titles a single unknown run as unknown', () => {
    const one = renderHtmlReport([runs.find((r) => r.verdict === 'unknown')!]);
    assert.match(one, /<title>pmem-ha\/cut-mid-save — run 2\/2: unknown<\/title>/);
    assert.match(one, /0 % passed \(0 of 1/);
  });

  it('links every matrix run to its details and tags runs with accel and topology', () => {
    for (const r of runs) {
      assert.ok(html.includes(`id="${runAnchor(r)}"`), `details of ${r.runId}`);
      assert.ok(html.includes(`href="#${runAnchor(r)}"`), `link to ${r.runId}`);
    }
    assert.match(html, /<span class="dim kvm">kvm<\/span><span class="dim">physical<\/span>/);
  });

  it('renders one run on its own with its title and timeline', () => {
    const one = renderHtmlReport([runs[0]]);
    assert.match(one, /<title>pmem-ha\/power-cut — run 1\/4: pass<\/title>/);
    assert.equal(one.match(/<svg class="timeline"/g)!.length, 1);
    assert.match(one, /power cut \(hold-up 40 ms\) · 40 ms/);
  });

  it('links artefacts relative to the report file', async () => {
    const root = await tmpDir('links');
    const [dir] = await storeRuns(root, [makeRun({ scenario: 'links #1?', runIndex: 1, runs: 1, verdict: 'pass', startedAt: NIGHT0 })]);
    const out = path.join(root, 'site', 'index.html');
    const res = await reportCommand({ inputs: [root], out, junit: path.join(root, 'site', 'junit.xml'), trend: path.join(root, 'site') });
    assert.equal(res.htmlPath, out);
    assert.equal(res.trendPath, path.join(root, 'site', 'trend.html'));
    const page = await fs.readFile(out, 'utf8');
    const href = /<a href="([^"]+)">console\.log<\/a>/.exec(page)![1];
    assert.ok(!href.startsWith('/') && !href.startsWith('file:'), href);
    const target = path.resolve(path.dirname(out), decodeURIComponent(href));
    assert.equal(target, path.join(await fs.realpath(dir), 'console.log'));
    const { runId } = JSON.parse(await fs.readFile(path.join(dir, 'results.json'), 'utf8'));
    assert.equal(await fs.readFile(target, 'utf8'), `console of ${runId}\n`);
    await fs.access(path.join(root, 'site', 'junit.xml'));
  });

  it('says since when a failing scenario fails and an erroring one errors, from the history', () => {
    const all = fourNights();
    const lastNight = all.filter((r) => r.startedAt.startsWith('2025-11-23'));
    const page = renderHtmlReport(lastNight, { history: all });
    const attention = page.slice(page.indexOf('id="attention"'), page.indexOf('id="matrix"'));
    const row = (name: string) => attention.split('<tr>').find((tr) => tr.includes(`>${name} #`))!;
    assert.match(row('pmem-ha/power-cut'), new RegExp(`<td>${new Date(nightAt(2).getTime() + 3 * 60_000).toISOString()} <code>a1b2c3d</code></td>`));
    assert.match(row('podvm store outage'), new RegExp(`<td>${new Date(nightAt(0).getTime() + 40 * 60_000).toISOString()}`), 'erroring since night 0');
    assert.match(attention, /failing since/);
    assert.match(attention, /erroring since/);
  });

  it('writes a single run\'s report.html into its run dir, with artefact links that resolve', async () => {
    const root = await tmpDir('runreport');
    const [dir] = await storeRuns(root, [runs[1]]);
    const file = await writeRunReport(dir, runs[1]);
    assert.equal(file, path.join(dir, 'report.html'));
    const page = await fs.readFile(file, 'utf8');
    assert.match(page, /<a href="vm\/domain\.xml">domain\.xml<\/a>/);
    await fs.access(path.join(dir, 'vm', 'domain.xml'));
  });

  it('shows unreadable results files as a warning', () => {
    const page = renderHtmlReport(runs.slice(0, 1), { problems: [{ file: '/r/x/results.json', error: 'Unexpected end of JSON input' }] });
    assert.match(page, /1 results file\(s\) could not be read/);
  });

  it('draws the hold-up curve per fill, with every sweep probe as a point (kept: filled, lost: a cross)', () => {
    const at = (ms: number, probe: number[], ok: number[], size = '64MiB', fill = '0.5') => makeRun({
      scenario: 'pmem-ha-holdup-curve', runIndex: 1, runs: 1, verdict: 'pass', startedAt: NIGHT0,
      metrics: {
        [`holdup_min_ms{pmem_size=${size},fill=${fill}}`]: { unit: 'ms', values: [ms] },
        [`holdup_probe_ms{pmem_size=${size},fill=${fill}}`]: { unit: 'ms', values: probe },
        [`holdup_probe_ok{pmem_size=${size},fill=${fill}}`]: { unit: 'bool', values: ok },
      },
    });
    const f = holdupFigure([at(6000, [24000, 12000, 6000, 3000], [1, 1, 1, 0]), at(2000, [12000, 2000, 1000], [1, 1, 0], '16MiB'), at(9000, [24000, 9000], [1, 1], '64MiB', '0.9')], 'x');
    const sets = (f.charts[0].config as any).data.datasets as { label: string; data: { x: number; y: number }[]; showLine?: boolean; pointStyle?: string }[];
    const labels = sets.map((d) => d.label);
    assert.ok(labels.some((l) => /\(fill 0\.5\) worst case$/.test(l)) && labels.some((l) => /\(fill 0\.9\) worst case$/.test(l)), labels.join(' | '));
    const worst = sets.find((d) => /fill 0\.5\) worst case/.test(d.label))!;
    assert.deepEqual(worst.data.map((p) => p.y), [2000, 6000], 'one point per size, smallest size first');
    const lost = sets.find((d) => /fill 0\.5\) probe: save not committed/.test(d.label))!;
    assert.equal(lost.showLine, false);
    assert.equal(lost.pointStyle, 'crossRot');
    assert.deepEqual(lost.data.map((p) => p.y).sort((a, b) => a - b), [1000, 3000]);
    const kept = sets.find((d) => /fill 0\.5\) probe: data kept/.test(d.label))!;
    assert.equal(kept.data.length, 5);
    // the table carries the same figures: probes per size and the longest failing one
    assert.match(f.html, /<td>fill 0\.5<\/td><td class="num">16 MiB<\/td>.*?<td class="num">3<\/td><td class="num">1\.00 s<\/td>/);
  });

  it('says why a metric has no sample instead of showing an empty or zero row', () => {
    const r = makeRun({ scenario: 'pmem-ha-cut-mid-save', runIndex: 1, runs: 1, verdict: 'pass', startedAt: NIGHT0, metrics: {
      rpo_bytes: { unit: 'B', values: [17_756_138] },
      restore_duration_ms: { unit: 'ms', values: [], missing: 'the standby did not restore this save: torn save <no manifest>' },
    } });
    const page = renderHtmlReport([r]);
    const row = page.split('<tr').find((tr) => tr.includes('<code>restore_duration_ms</code>'))!;
    assert.match(row, /class="missing"/);
    assert.match(row, /no sample — the standby did not restore this save: torn save &lt;no manifest&gt;/);
    assert.doesNotMatch(row, /NaN/);
  });
});
