import assert from 'node:assert/strict';
import { compareCommand } from '../../src/report/commands.js';
import { compareRuns, formatComparisonText, permutationTest, renderComparisonSection } from '../../src/report/compare.js';
import type { Metrics, RunResult } from '../../src/results/types.js';
import { NIGHT0, KVM, makeRun, normal, prng, storeRuns, tmpDir } from './fixtures.js';

/** A side of `runs` runs, each carrying `perRun` samples of every metric given. */
function side(name: string, series: Record<string, { unit: string; values: number[] }>, perRun = 4, dims = {}): RunResult[] {
  const n = Math.max(...Object.values(series).map((s) => s.values.length));
  const runs: RunResult[] = [];
  for (let k = 0; k * perRun < n; k++) {
    const metrics: Metrics = {};
    for (const [m, s] of Object.entries(series)) {
      const v = s.values.slice(k * perRun, (k + 1) * perRun);
      if (v.length) metrics[m] = { unit: s.unit, values: v };
    }
    runs.push(makeRun({ scenario: name, runIndex: k + 1, runs: Math.ceil(n / perRun), verdict: 'pass', startedAt: new Date(NIGHT0.getTime() + k * 60_000), metrics, dims }));
  }
  return runs;
}

describe('A/B compare', () => {
  describe('permutationTest', () => {
    it('is exact for small samples: complete separation of 3 vs 3 gives p = 2/20', () => {
      const t = permutationTest([1, 2, 3], [4, 5, 6]);
      assert.equal(t.method, 'exact');
      assert.equal(t.count, 20);
      assert.equal(t.p, 0.1);
      assert.equal(t.minP, 0.1);
    });
    it('gives p = 1 for identical samples', () => {
      assert.equal(permutationTest([5, 5, 5, 5], [5, 5, 5, 5]).p, 1);
    });
    it('matches a hand count on an asymmetric example', () => {
      // a = {1, 4}, b = {2, 3, 10}: |Δ| = |2.5 − 5| = 2.5. Of the 10 ways to pick the pair, only
      // {2,4} (|Δ| = 1.67) and {3,4} (|Δ| = 0.83) are less extreme than the observed split.
      const t = permutationTest([1, 4], [2, 3, 10]);
      assert.equal(t.count, 10);
      assert.equal(t.p, 8 / 10);
    });
    it('uses seeded Monte Carlo with ≥ 10k resamples when exact is too big, reproducibly', () => {
      const r = prng(3);
      const a = normal(r, 100, 10, 15), b = normal(r, 112, 10, 15);
      const t1 = permutationTest(a, b, { seed: 9, resamples: 500 });
      const t2 = permutationTest(a, b, { seed: 9, resamples: 500 });
      assert.equal(t1.method, 'monte-carlo');
      assert.ok(t1.count >= 10_000, 'resamples are floored at 10k');
      assert.equal(t1.p, t2.p, 'same seed, same p');
      const exact = permutationTest(a.slice(0, 9), b.slice(0, 9));
      const mc = permutationTest(a.slice(0, 9), b.slice(0, 9), { exactLimit: 10 });
      assert.equal(exact.method, 'exact');
      assert.equal(mc.method, 'monte-carlo');
      assert.ok(Math.abs(exact.p - mc.p) < 0.01, `MC ${mc.p} close to exact ${exact.p}`);
    });
  });

  describe('compareRuns', () => {
    const r = prng(42);
    it('flags a clear shift as worse (ms up) and better (MiB/s up)', () => {
      const A = side('boot', { rto_ms: { unit: 'ms', values: normal(r, 1000, 50, 16) }, tput: { unit: 'MiB/s', values: normal(r, 200, 10, 16) } });
      const B = side('boot', { rto_ms: { unit: 'ms', values: normal(r, 1300, 50, 16) }, tput: { unit: 'MiB/s', values: normal(r, 260, 10, 16) } });
      const c = compareRuns(A, B);
      const rto = c.rows.find((x) => x.metric === 'rto_ms')!;
      const tput = c.rows.find((x) => x.metric === 'tput')!;
      assert.equal(rto.verdict, 'worse');
      assert.ok(rto.p! < 0.01);
      assert.ok(rto.rel > 0.2 && rto.rel < 0.4, String(rto.rel));
      assert.equal(tput.verdict, 'better');
      assert.equal(c.anyRegression, true);
      assert.deepEqual(c.rows.map((x) => x.verdict), ['worse', 'better'], 'regressions listed first');
    });
    it('does not flag two samples drawn from one distribution', () => {
      const pool = normal(r, 500, 40, 40);
      const A = side('s', { rto_ms: { unit: 'ms', values: pool.filter((_, i) => i % 2 === 0) } });
      const B = side('s', { rto_ms: { unit: 'ms', values: pool.filter((_, i) => i % 2 === 1) } });
      const c = compareRuns(A, B);
      assert.equal(c.rows.length, 1);
      assert.equal(c.rows[0].verdict, 'no-change');
      assert.ok(c.rows[0].p! > 0.01, String(c.rows[0].p));
      assert.equal(c.anyRegression, false);
    });
    it('refuses to judge with fewer than 3 samples a side, and says so', () => {
      const c = compareRuns(side('s', { rto_ms: { unit: 'ms', values: [1, 2] } }), side('s', { rto_ms: { unit: 'ms', values: [100, 200, 300] } }));
      assert.equal(c.rows[0].verdict, 'insufficient');
      assert.match(c.rows[0].note, /≥ 3 samples.*A=2 B=3/);
      assert.equal(c.rows[0].p, undefined);
    });
    it('calls a significant shift below the noise floor no-change', () => {
      const A = side('s', { lat: { unit: 'ms', values: normal(r, 1000, 2, 20) } });
      const B = side('s', { lat: { unit: 'ms', values: normal(r, 1020, 2, 20) } });
      const x = compareRuns(A, B).rows[0];
      assert.ok(x.p! < 0.01);
      assert.equal(x.verdict, 'no-change');
      assert.match(x.note, /noise floor/);
      assert.equal(compareRuns(A, B, { noise: 0.01 }).rows[0].verdict, 'worse', 'noise floor is configurable');
    });
    it('says when small exact samples can never reach alpha', () => {
      const x = compareRuns(side('s', { lat: { unit: 'ms', values: [1, 2, 3] } }), side('s', { lat: { unit: 'ms', values: [10, 11, 12] } })).rows[0];
      assert.equal(x.verdict, 'no-change');
      assert.match(x.note, /cannot go below 0\.1/);
      assert.equal(compareRuns(side('s', { lat: { unit: 'ms', values: [1, 2, 3] } }), side('s', { lat: { unit: 'ms', values: [10, 11, 12] } }), { alpha: 0.2 }).rows[0].verdict, 'worse');
    });
    it('reports "changed" when the unit has no known direction, and warns about differing accelerators', () => {
      const A = side('s', { widgets: { unit: 'count', values: normal(r, 10, 1, 12) } });
      const B = side('s', { widgets: { unit: 'count', values: normal(r, 20, 1, 12) } }, 4, KVM);
      const c = compareRuns(A, B);
      assert.equal(c.rows[0].verdict, 'changed');
      assert.ok(c.warnings.some((w) => /accelerators differ/.test(w)));
      assert.equal(c.anyRegression, false);
    });
    it('keys metrics by scenario when a side holds several scenarios', () => {
      const A = [...side('x', { m: { unit: 'ms', values: [1, 2, 3] } }), ...side('y', { m: { unit: 'ms', values: [100, 200, 300] } })];
      const B = [...side('x', { m: { unit: 'ms', values: [1, 2, 3] } }), ...side('y', { m: { unit: 'ms', values: [100, 200, 300] } })];
      assert.deepEqual(compareRuns(A, B).rows.map((x) => x.key), ['x / m', 'y / m']);
    });
    it('never pools tcg and kvm samples of one metric', () => {
      const A = [...side('s', { m: { unit: 'ms', values: [1, 2, 3] } }), ...side('s', { m: { unit: 'ms', values: [100, 200, 300] } }, 4, KVM)];
      const B = [...side('s', { m: { unit: 'ms', values: [1, 2, 3] } }), ...side('s', { m: { unit: 'ms', values: [100, 200, 300] } }, 4, KVM)];
      const rows = compareRuns(A, B).rows;
      assert.deepEqual(rows.map((x) => [x.key, x.meanA]), [['[kvm·physical] / m', 200], ['[tcg·emulated] / m', 2]]);
    });
    it('counts new invariant violations on B as a regression', () => {
      const A = side('s', { m: { unit: 'ms', values: [1, 2, 3] } });
      const B = side('s', { m: { unit: 'ms', values: [1, 2, 3] } });
      B[0].verdict = 'fail';
      const c = compareRuns(A, B);
      assert.deepEqual(c.newFailures, ['s']);
      assert.equal(c.anyRegression, true);
      assert.match(formatComparisonText(c), /regression: s violates invariants on B/);
    });
    it('keeps unknown runs\' metrics, leaves errored ones out, and shows unknown in the side summaries', () => {
      const A = side('s', { m: { unit: 'ms', values: [10, 11, 12, 13, 14, 15, 16, 17, 18] } }, 3);
      const B = side('s', { m: { unit: 'ms', values: [10, 11, 12, 13, 14, 15, 16, 17, 18] } }, 3);
      B[1].verdict = 'unknown';
      B[2].verdict = 'error';
      const c = compareRuns(A, B);
      assert.deepEqual([c.a.counts, c.b.counts], [{ pass: 3, fail: 0, unknown: 0, error: 0 }, { pass: 1, fail: 0, unknown: 1, error: 1 }]);
      assert.equal(c.rows[0].nA, 9);
      assert.equal(c.rows[0].nB, 6, 'the unknown run\'s samples are in, the errored run\'s are not');
      assert.equal(c.rows[0].meanB, 12.5);
      assert.ok(c.warnings.some((w) => /unknown \(not judged\) runs kept in the samples.*\(A: 0, B: 1\)/.test(w)), c.warnings.join('\n'));
      assert.deepEqual(c.newUnknown, ['s']);
      assert.equal(c.anyRegression, false, 'nothing was violated: not a regression');
      const text = formatComparisonText(c);
      assert.match(text, /^B: 3 run\(s\), 1 pass \/ 0 fail \/ 1 unknown \(not judged\) \/ 1 error;/m);
      assert.match(text, /not judged: s has unknown runs on B, none on A/);
      assert.match(text, /RESULT: no regression \(1 scenario\(s\) newly not judged on B\)/);
      const html = renderComparisonSection(c).html;
      assert.match(html, /1 pass \/ 0 fail \/ 1 unknown \(not judged\) \/ 1 error/);
      assert.match(html, /<span class="badge v-unknown">\? unknown \(not judged\)<\/span> <b>s<\/b> has unknown runs on B/);
      assert.deepEqual(compareRuns(B, A).newUnknown, [], 'unknown on A only is not news about B');
    });
    it('renders an aligned text table and an escaped HTML section', () => {
      const A = side('<i>s</i>', { rto_ms: { unit: 'ms', values: normal(r, 1000, 50, 12) } });
      const B = side('<i>s</i>', { rto_ms: { unit: 'ms', values: normal(r, 1400, 50, 12) } });
      const c = compareRuns(A, B);
      const text = formatComparisonText(c);
      const lines = text.split('\n');
      const header = lines.find((l) => l.startsWith('metric'))!;
      const row = lines.find((l) => l.startsWith('rto_ms'))!;
      assert.equal(row.indexOf('worse'), header.indexOf('verdict'), 'verdict column aligned');
      assert.match(text, /RESULT: regression/);
      const html = renderComparisonSection(c).html;
      assert.match(html, /badge v-fail">worse/);
      assert.doesNotMatch(html, /<i>s<\/i>/);
    });
  });

  it('compareCommand reads two stored result sets', async () => {
    const r = prng(5);
    const rootA = await tmpDir('cmpA'), rootB = await tmpDir('cmpB');
    await storeRuns(rootA, side('pmem', { rto_ms: { unit: 'ms', values: normal(r, 900, 30, 12) } }));
    await storeRuns(rootB, side('pmem', { rto_ms: { unit: 'ms', values: normal(r, 1200, 30, 12) } }));
    const out = await compareCommand({ a: rootA, b: rootB, html: `${rootB}/cmp.html` });
    assert.equal(out.anyRegression, true);
    assert.match(out.text, /rto_ms\s+ms\s+12\s+12/);
    const json = await compareCommand({ a: rootA, b: rootA, json: true });
    assert.equal(json.anyRegression, false);
    assert.equal(JSON.parse(json.text).rows[0].verdict, 'no-change');
    const loose = await compareCommand({ a: rootA, b: rootB, noise: 0.5 });
    assert.equal(loose.anyRegression, false, 'a 33 % shift is inside a 50 % noise floor');
  });
});
