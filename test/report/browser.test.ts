// The reports as a person sees them: opened from file:// in headless Chromium, scripts run,
// charts drawn, nothing fetched, nothing injected. Screenshots land in $REPORT_SCREENSHOTS
// (default: the test's temp dir) for a human to look at.

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { compareCommand, reportCommand } from '../../src/report/commands.js';
import { groupRuns, faultKinds, NO_FAULT } from '../../src/report/model.js';
import { loadRunResults } from '../../src/results/store.js';
import { canvasInk, chromiumAvailable, launch, open } from './browser.js';
import { NIGHT0, XSS_NAME, fourNights, storeRuns, suiteRuns, tmpDir } from './fixtures.js';

describe('reports in headless Chromium (file://)', function () {
  this.timeout(120_000);
  let browser: Browser;
  let root: string;
  let site: string;
  let shots: string;

  before(async function () {
    if (!chromiumAvailable()) {
      // On CI a missing browser is a setup bug, not a reason to pass quietly.
      if (process.env.CI) throw new Error('chromium not installed (harness/setup.sh installs it)');
      this.skip();
    }
    root = await tmpDir('browser');
    site = path.join(root, 'site');
    shots = process.env.REPORT_SCREENSHOTS ?? path.join(root, 'shots');
    await fs.mkdir(shots, { recursive: true });
    await storeRuns(path.join(root, 'reports'), fourNights());
    browser = await launch();
  });
  after(async () => { await browser?.close(); });

  it('draws the suite report: matrix, timelines, charts; no request leaves file://; the <script> name is text', async () => {
    const night = path.join(root, 'night');
    const runs = suiteRuns(NIGHT0);
    await storeRuns(night, runs);
    const { htmlPath } = await reportCommand({ inputs: [night], out: path.join(site, 'night.html') });
    const o = await open(browser, pathToFileURL(htmlPath).href);
    const { page } = o;

    // Nothing but the file itself was requested, no script of ours failed, no dialog opened.
    assert.deepEqual(o.requests.filter((u) => !u.startsWith('file://')), []);
    assert.deepEqual(o.errors, []);
    assert.deepEqual(o.dialogs, [], 'an alert means injected script ran');

    // Matrix: one cell per (scenario × accel × topology) × fault kind, one run link per run and kind.
    const kinds = new Set(runs.flatMap(faultKinds));
    const groups = groupRuns(runs).length;
    assert.equal(await page.locator('table.matrix td.cell').count(), groups * kinds.size);
    assert.equal(await page.locator('table.matrix td.cell a.runlink').count(), runs.reduce((s, r) => s + faultKinds(r).length, 0));
    assert.equal(await page.locator('table.matrix td.c-error').count() > 0, true, 'error cells are styled apart');

    // Unknown: its own tile, and matrix cells that look like none of pass, fail, error or empty.
    const tile = page.locator('.counts .count.unknown');
    assert.ok(await tile.isVisible());
    const unknownRuns = runs.filter((r) => r.verdict === 'unknown').length;
    assert.ok(unknownRuns > 0);
    assert.match(await tile.innerText(), new RegExp(`^\\? ${unknownRuns}\\s+unknown — not judged`));
    const unknownCell = page.locator('table.matrix td.c-unknown');
    assert.ok(await unknownCell.count() > 0);
    assert.ok(await unknownCell.first().isVisible());
    assert.equal(await unknownCell.first().locator('a.runlink.v-unknown').innerText(), '?2');
    const look = (sel: string) => page.locator(sel).first().evaluate((el) => {
      const cs = getComputedStyle(el);
      return `${cs.backgroundColor} ${cs.backgroundImage}`;
    });
    const looks = new Map<string, string>();
    for (const v of ['pass', 'fail', 'error', 'unknown', 'none']) looks.set(v, await look(`table.matrix td.c-${v}`));
    assert.equal(new Set(looks.values()).size, 5, [...looks].map(([k, v]) => `${k}: ${v}`).join('\n'));
    assert.match(looks.get('unknown')!, /radial-gradient/, 'dotted');
    assert.notEqual(await page.locator('.count.unknown').evaluate((el) => getComputedStyle(el).borderTopStyle), 'none');
    await unknownCell.first().screenshot({ path: path.join(shots, 'matrix-unknown-cell.png') });
    const headers = await page.locator('table.matrix thead th').allInnerTexts();
    assert.ok(headers.includes('power-cut') && headers.includes(NO_FAULT) && headers.includes('<b>evil-kind</b>'), headers.join('|'));

    // Timelines: one SVG per run, with operation bars and shaded fault bands.
    assert.equal(await page.locator('svg.timeline').count(), runs.length);
    const faulted = runs.filter((r) => r.faults.length).length;
    assert.equal(await page.locator('svg.timeline:has(g.fault)').count(), faulted);
    const box = await page.locator('details[open] svg.timeline').first().boundingBox();
    assert.ok(box && box.width > 500 && box.height > 60, JSON.stringify(box));
    const opBars = await page.locator('details[open] svg.timeline rect.op').count();
    assert.ok(opBars > 50, `${opBars} operation bars`);

    // Charts: every canvas was drawn by Chart.js and has ink on it.
    const ink = await canvasInk(page);
    assert.deepEqual(ink.map((c) => c.id).sort(), ['fig-holdup', 'fig-numa', 'fig-rpo', 'fig-rto']);
    for (const c of ink) {
      assert.ok(c.drawn, `${c.id} not drawn`);
      assert.ok(c.inked > 2000, `${c.id} has ${c.inked} painted pixels`);
    }
    assert.equal(await page.evaluate(() => Object.keys((window as unknown as { Chart: { instances: object } }).Chart.instances).length), 4);

    // The hostile scenario name is visible as text and created no element.
    const text = await page.locator('body').innerText();
    assert.ok(text.includes(XSS_NAME));
    assert.ok(text.includes('guest said </script><script>alert(5)</script>'));
    assert.equal(await page.locator('script').count(), 3);
    assert.equal(await page.locator('img, iframe, svg[onload], [onerror]').count(), 0);

    // Drill-down: a matrix link opens the (closed) details of a passing run.
    const passLink = page.locator('table.matrix a.runlink.v-pass').first();
    const target = (await passLink.getAttribute('href'))!.slice(1);
    assert.equal(await page.locator(`details#${target}`).evaluate((d) => (d as HTMLDetailsElement).open), false);
    await passLink.click();
    assert.equal(await page.locator(`details#${target}`).evaluate((d) => (d as HTMLDetailsElement).open), true);

    // The verdict filter hides what does not match.
    await page.locator('button[data-filter="error"]').click();
    const visible = await page.locator('details.run:visible').evaluateAll((ds) => ds.map((d) => d.getAttribute('data-verdict')));
    assert.ok(visible.length > 0 && visible.every((v) => v === 'error'), visible.join(','));
    await page.locator('button[data-filter="unknown"]').click();
    const unknownVisible = await page.locator('details.run:visible').evaluateAll((ds) => ds.map((d) => [d.getAttribute('data-verdict'), (d as HTMLDetailsElement).open]));
    assert.deepEqual(unknownVisible, Array.from({ length: unknownRuns }, () => ['unknown', true]), 'unknown runs only, opened');

    const shot = path.join(shots, 'report.png');
    await page.locator('button[data-filter="all"]').click();
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok((await fs.stat(shot)).size > 50_000, 'a real screenshot');
    await page.close();
  });

  it('draws the trend page from a reports root with four nights', async () => {
    const reports = path.join(root, 'reports');
    const res = await reportCommand({ inputs: [reports], out: path.join(site, 'all.html'), trend: path.join(site, 'trend.html'), junit: path.join(site, 'junit.xml') });
    assert.equal(res.runs, (await loadRunResults(reports)).length);
    const o = await open(browser, pathToFileURL(res.trendPath!).href);
    assert.deepEqual(o.requests.filter((u) => !u.startsWith('file://')), []);
    assert.deepEqual(o.errors, []);
    assert.deepEqual(o.dialogs, []);
    const ink = await canvasInk(o.page);
    assert.ok(ink.length >= 6, `${ink.length} charts`);
    for (const c of ink) assert.ok(c.drawn && c.inked > 1000, `${c.id}: ${c.inked}`);
    const broken = await o.page.locator('#broken li').allInnerTexts();
    assert.equal(broken.length, 2);
    assert.ok(broken.some((b) => b.startsWith('pmem-ha/power-cut') && b.includes('broken since 2025-11-22T02:03:00.000Z')), broken.join('\n'));
    assert.ok(broken.some((b) => b.startsWith(XSS_NAME)), 'the <script> scenario is listed as text');
    const unknownRows = await o.page.locator('#unknown tbody tr').allInnerTexts();
    assert.equal(unknownRows.length, 1, unknownRows.join('\n'));
    assert.ok(unknownRows[0].startsWith('pmem-ha/cut-mid-save') && unknownRows[0].includes('2025-11-21T02:37:00.000Z'), unknownRows[0]);
    assert.ok(ink.some((c) => c.id === 'trend-unknown'), 'the unknown-per-night chart is drawn');
    assert.ok(await o.page.locator('#passrate td.c-unknown').count() >= 4);
    assert.ok(await o.page.locator('#status .strip .s-unknown').first().isVisible());
    await o.page.screenshot({ path: path.join(shots, 'trend.png'), fullPage: true });
    await o.page.close();
  });

  it('draws the A/B comparison page', async () => {
    const out = path.join(site, 'compare.html');
    const a = path.join(root, 'reports');
    const { text } = await compareCommand({ a, b: a, html: out });
    assert.match(text, /RESULT: no regression/);
    const o = await open(browser, pathToFileURL(out).href);
    assert.deepEqual(o.errors, []);
    assert.ok((await o.page.locator('table.compare tbody tr').count()) > 5);
    await o.page.close();
  });
});
