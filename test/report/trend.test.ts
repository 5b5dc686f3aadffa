import assert from 'node:assert/strict';
import { computeTrend, renderTrendHtml } from '../../src/report/trend.js';
import type { Verdict } from '../../src/results/types.js';
import { NIGHT0, UNKNOWN_MESSAGE, XSS_NAME, fourNights, makeRun, nightAt } from './fixtures.js';

describe('nightly trend', () => {
  const runs = fourNights();
  const trend = computeTrend(runs);
  const find = (s: string, accel = 'tcg') => trend.find((t) => t.scenario === s && t.accel === accel)!;

  it('finds when a broken scenario broke and the last good run before it', () => {
    const pmem = find('pmem-ha/power-cut');
    assert.equal(pmem.status, 'broken');
    // Night 2 is the first where every run fails; night 1 ended with a pass (run 4).
    assert.equal(pmem.brokenSince!.startedAt, new Date(nightAt(2).getTime() + 3 * 60_000).toISOString());
    assert.equal(pmem.brokenSince!.runIndex, 1);
    assert.equal(pmem.lastGood!.startedAt, new Date(nightAt(1).getTime() + 12 * 60_000).toISOString());
    assert.equal(pmem.lastGood!.verdict, 'pass');
  });

  it('never lets errors break or heal a scenario, and tracks them on their own', () => {
    const pheap = find('pheap corruption');
    assert.equal(pheap.status, 'healthy', 'last run errored, but the last judged one passed');
    assert.equal(pheap.erroringSince!.startedAt, new Date(nightAt(3).getTime() + 26 * 60_000).toISOString());
    const podvm = find('podvm store outage');
    assert.equal(podvm.status, 'no-verdict');
    assert.equal(podvm.erroringSince!.startedAt, new Date(nightAt(0).getTime() + 40 * 60_000).toISOString(), 'erroring since the first night');
    const xss = find(XSS_NAME);
    assert.equal(xss.status, 'broken');
    assert.equal(xss.lastGood, undefined, 'never passed');
  });

  it('computes pass rate per night with errors left out', () => {
    const pmem = find('pmem-ha/power-cut');
    assert.deepEqual(pmem.days.map((d) => [d.day, d.pass, d.fail, d.error, d.passRate]), [
      ['2025-11-20', 3, 0, 1, 1], ['2025-11-21', 3, 0, 1, 1], ['2025-11-22', 0, 4, 0, 0], ['2025-11-23', 0, 4, 0, 0],
    ]);
    assert.equal(find('podvm store outage').days[0].passRate, undefined);
  });

  it('counts unknown runs per night and against the pass rate: pass / (pass + fail + unknown)', () => {
    const save = find('pmem-ha/cut-mid-save');
    assert.deepEqual(save.days.map((d) => [d.day, d.pass, d.fail, d.unknown, d.error, d.passRate]), [
      ['2025-11-20', 1, 0, 1, 0, 0.5], ['2025-11-21', 1, 0, 1, 0, 0.5], ['2025-11-22', 0, 0, 2, 0, 0], ['2025-11-23', 0, 0, 2, 0, 0],
    ]);
    assert.ok(find('pmem-ha/power-cut').days.every((d) => d.unknown === 0));
  });

  it('lets unknown runs neither break nor heal a scenario, and says since when it is not judged', () => {
    const save = find('pmem-ha/cut-mid-save');
    assert.equal(save.status, 'healthy', 'the latest judged run passed; nothing was violated since');
    assert.equal(save.lastJudged!.verdict, 'pass');
    assert.equal(save.lastJudged!.startedAt, new Date(nightAt(1).getTime() + 36 * 60_000).toISOString());
    assert.equal(save.unknownSince!.startedAt, new Date(nightAt(1).getTime() + 37 * 60_000).toISOString());
    assert.equal(save.unknownSince!.runIndex, 2);
    assert.equal(save.brokenSince, undefined);
    assert.equal(find('pmem-ha/power-cut').unknownSince, undefined);

    // Hand-made sequences of one scenario, a minute apart.
    const seq = (...vs: Verdict[]) => computeTrend(vs.map((verdict, i) => makeRun({ scenario: 's', runIndex: i + 1, runs: vs.length, verdict, startedAt: new Date(NIGHT0.getTime() + i * 60_000) })))[0];
    const at = (i: number) => new Date(NIGHT0.getTime() + i * 60_000).toISOString();
    const failThenUnknown = seq('pass', 'fail', 'unknown');
    assert.equal(failThenUnknown.status, 'broken', 'an unknown run does not heal a broken scenario');
    assert.equal(failThenUnknown.brokenSince!.startedAt, at(1));
    assert.equal(failThenUnknown.unknownSince!.startedAt, at(2));
    const broken = seq('pass', 'fail', 'unknown', 'fail');
    assert.equal(broken.brokenSince!.startedAt, at(1), 'unknown runs inside a streak of fails are skipped');
    assert.equal(broken.lastGood!.startedAt, at(0));
    assert.equal(broken.unknownSince, undefined, 'the latest run was judged');
    const withError = seq('pass', 'unknown', 'error', 'unknown', 'error');
    assert.equal(withError.unknownSince!.startedAt, at(1), 'errors in between neither end nor start the streak');
    assert.equal(withError.erroringSince!.startedAt, at(4));
    assert.equal(withError.status, 'healthy');
    const never = seq('unknown', 'unknown');
    assert.equal(never.status, 'no-verdict');
    assert.equal(never.lastJudged, undefined);
    assert.deepEqual(never.days.map((d) => d.passRate), [0]);
  });

  it('shows unknown apart on the trend page: own section, column, cells and chart', () => {
    const html = renderTrendHtml(runs, { generatedAt: nightAt(4) });
    const unknown = html.slice(html.indexOf('id="unknown"'), html.indexOf('id="passrate"'));
    assert.match(unknown, /<h2>Not judged <span class="badge v-unknown">/);
    const row = unknown.split('<tr>').find((tr) => tr.includes('pmem-ha/cut-mid-save'))!;
    assert.match(row, new RegExp(`<td>${new Date(nightAt(1).getTime() + 37 * 60_000).toISOString()} <span class="muted">run 2</span>`));
    assert.ok(row.includes(UNKNOWN_MESSAGE));
    assert.doesNotMatch(unknown, /podvm store outage|pmem-ha\/power-cut/, 'errors and fails are not listed as unknown');
    for (const other of ['broken', 'errors']) {
      const sec = html.slice(html.indexOf(`id="${other}"`), html.indexOf('</section>', html.indexOf(`id="${other}"`)));
      assert.doesNotMatch(sec, /cut-mid-save/, `not in #${other}`);
    }
    const status = html.slice(html.indexOf('id="status"'), html.indexOf('id="errors"'));
    const srow = status.split('<tr>').find((tr) => tr.includes('pmem-ha/cut-mid-save'))!;
    assert.match(srow, /✓ healthy<\/span> <span class="badge v-unknown">\? latest not judged<\/span>/);
    assert.match(srow, /<td class="num">25 % <span class="muted small">\(2\/8\)<\/span><\/td><td class="num"><span class="badge v-unknown">\? 6<\/span><\/td><td class="num">0<\/td>/);
    assert.equal((srow.match(/class="s-unknown"/g) ?? []).length, 6);
    const rates = html.slice(html.indexOf('id="passrate"'), html.indexOf('id="metrics"'));
    const rrow = rates.split('<tr>').find((tr) => tr.includes('pmem-ha/cut-mid-save'))!;
    assert.match(rrow, /<td class="cell c-unknown" data-verdict="unknown" title="2025-11-20: 1 pass, 0 fail, 1 unknown \(not judged\), 0 error">1\/2 <span class="badge v-unknown">\?1<\/span><\/td>/);
    assert.match(rrow, /title="2025-11-23: 0 pass, 0 fail, 2 unknown \(not judged\), 0 error">0\/2 /);
    assert.ok(!rrow.includes('c-pass'), 'a night with unknown runs is never green');
    assert.match(html, /<canvas id="trend-unknown"/);
    assert.match(html, /Pass rate per night: pass \/ \(pass \+ fail \+ unknown\); errors excluded/);
  });

  it('keeps tcg and kvm apart', () => {
    assert.ok(find('numa-balance', 'kvm'));
    assert.ok(find('numa-balance', 'tcg'));
    assert.equal(find('numa-balance', 'kvm').topology, 'physical');
  });

  it('trends metric means per run, and leaves perf counters out', () => {
    const pmem = find('pmem-ha/power-cut');
    const rto = pmem.metrics.rto_ms;
    assert.equal(rto.points.length, 16, 'one point per run');
    const early = rto.points.slice(0, 8).reduce((s, p) => s + p.mean, 0) / 8;
    const late = rto.points.slice(8).reduce((s, p) => s + p.mean, 0) / 8;
    assert.ok(late > early + 500, `rto rose when it broke: ${early} → ${late}`);
    assert.equal(pmem.metrics['perf.task-clock'], undefined);
  });

  it('renders broken-since and errors in separate sections, with everything escaped', () => {
    const html = renderTrendHtml(runs, { generatedAt: nightAt(4) });
    const broken = html.slice(html.indexOf('id="broken"'), html.indexOf('id="status"'));
    assert.match(broken, /pmem-ha\/power-cut/);
    assert.doesNotMatch(broken, /podvm store outage/, 'an erroring scenario is not "broken"');
    const errors = html.slice(html.indexOf('id="errors"'), html.indexOf('id="unknown"'));
    assert.match(errors, /podvm store outage/);
    assert.match(errors, /testcontainers could not start minio/);
    assert.ok(!html.includes(XSS_NAME), 'raw script tag from a scenario name');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  });
});
