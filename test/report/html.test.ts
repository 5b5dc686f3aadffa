import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { reportCommand, writeRunReport } from '../../src/report/commands.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { runAnchor } from '../../src/report/model.js';
import { NIGHT0, XSS_NAME, fourNights, makeRun, nightAt, storeRuns, suiteRuns, tmpDir } from './fixtures.js';

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
