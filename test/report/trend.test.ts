import assert from 'node:assert/strict';
import { computeTrend, renderTrendHtml } from '../../src/report/trend.js';
import { XSS_NAME, fourNights, nightAt } from './fixtures.js';

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

  it('computes pass rate per night from judged runs only', () => {
    const pmem = find('pmem-ha/power-cut');
    assert.deepEqual(pmem.days.map((d) => [d.day, d.pass, d.fail, d.error, d.passRate]), [
      ['2025-11-20', 3, 0, 1, 1], ['2025-11-21', 3, 0, 1, 1], ['2025-11-22', 0, 4, 0, 0], ['2025-11-23', 0, 4, 0, 0],
    ]);
    assert.equal(find('podvm store outage').days[0].passRate, undefined);
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
    const errors = html.slice(html.indexOf('id="errors"'), html.indexOf('id="passrate"'));
    assert.match(errors, /podvm store outage/);
    assert.match(errors, /testcontainers could not start minio/);
    assert.ok(!html.includes(XSS_NAME), 'raw script tag from a scenario name');
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  });
});
