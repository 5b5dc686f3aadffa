// The hot-migration judges on synthetic evidence with known answers: each says true, false and
// (where the evidence cannot decide) unknown.
import assert from 'node:assert/strict';
import { finalLocality, judgeHostCapable, judgeHotPrecision, judgeMigratedLocal, judgeVsAllAtOnce, judgeVsAutonuma, t90, type HotMigrationEvidence, type PolicyEvidence } from '../../src/numa/plugin/judge.js';
import type { PolicyName } from '../../src/numa/hot-migration-plan.js';

/** 100 ms intervals with these local fractions (1000 accesses each). */
const policy = (p: PolicyName, fractions: number[], moveDetected = true): PolicyEvidence => ({
  policy: p, moveDetected,
  intervals: fractions.map((f, i) => ({ t: (i + 1) * 100, local: Math.round(f * 1000), remote: 1000 - Math.round(f * 1000) })),
});
const ev = (policies: PolicyEvidence[], hotness?: HotMigrationEvidence['hotness']): HotMigrationEvidence => ({
  label: 'tenant', counter: 'tcg-plugin (exact)', expect: { vsAllAtOnce: 0.5, precision: 0.8 }, policies, hotness,
});
const ramp = (reachAt: number, n = 20) => Array.from({ length: n }, (_, i) => (i + 1 >= reachAt ? 0.97 : 0.1 + 0.05 * i));

describe('numa hot-migration judges', () => {
  it('t90: end of the first of two intervals at ≥ 90 % (a lone spike does not count); null if never', () => {
    assert.equal(t90(policy('hot-first', [0.2, 0.95, 0.3, 0.91, 0.92, 0.99])), 400);
    assert.equal(t90(policy('none', [0.1, 0.1, 0.95])), null);
    assert.equal(finalLocality(policy('none', [0.1, 0.5, 0.5, 0.5, 0.5, 0.5])), 0.5);
  });

  it('vs all-at-once: 300 ms vs 1000 ms passes at 0.5; 600 vs 1000 fails; hot-first never is false', () => {
    const pass = judgeVsAllAtOnce(ev([policy('hot-first', ramp(3)), policy('all-at-once', ramp(10))]));
    assert.equal(pass.valid, true, pass.message);
    assert.match(pass.message, /hot-first 300 ms, all-at-once 1000 ms.*ratio 0\.300/);
    assert.equal(judgeVsAllAtOnce(ev([policy('hot-first', ramp(6)), policy('all-at-once', ramp(10))])).valid, false);
    assert.equal(judgeVsAllAtOnce(ev([policy('hot-first', ramp(99)), policy('all-at-once', ramp(10))])).valid, false);
    assert.equal(judgeVsAllAtOnce(ev([policy('hot-first', ramp(3))])).valid, 'unknown');
  });

  it('vs autonuma: earlier passes, later fails, autonuma never reaching is a pass', () => {
    assert.equal(judgeVsAutonuma(ev([policy('hot-first', ramp(3)), policy('autonuma', ramp(8))])).valid, true);
    assert.equal(judgeVsAutonuma(ev([policy('hot-first', ramp(8)), policy('autonuma', ramp(3))])).valid, false);
    const never = judgeVsAutonuma(ev([policy('hot-first', ramp(3)), policy('autonuma', ramp(99).map(() => 0.5))]));
    assert.equal(never.valid, true);
    assert.match(never.message, /autonuma never.*did not get there/);
  });

  it('vs autonuma by local accesses served in 2 s: a stalled tenant serves few, however local', () => {
    const stalled: PolicyEvidence = { policy: 'autonuma', moveDetected: true, intervals: Array.from({ length: 30 }, (_, i) => ({ t: (i + 1) * 100, local: i < 20 ? 30 : 1000, remote: 0 })) };
    const e = { ...ev([policy('hot-first', ramp(3)), stalled]), expect: { vsAllAtOnce: 0.5, precision: 0.8, vsAutonuma: 'local-accesses-2s' as const } };
    const r = judgeVsAutonuma(e);
    assert.equal(r.valid, true, r.message);
    // hot-first 2 × 100 + 3 × 150 + … ; autonuma 20 × 30 = 600 local accesses in the first 2 s
    assert.match(r.message, /autonuma 600 of 600 \(100\.0 % local\); t90 hot-first 300 ms, autonuma 100 ms/);
    const cold = judgeVsAutonuma({ ...e, policies: [policy('hot-first', ramp(99).map(() => 0.0)), stalled] });
    assert.equal(cold.valid, false, cold.message);
  });

  it('outcomes: migrating policies must end local, the thread must be seen moving, none must stay remote', () => {
    const good = [policy('none', ramp(99).map(() => 0.05)), policy('all-at-once', ramp(2)), policy('hot-first', ramp(2)), policy('autonuma', ramp(99))];
    assert.equal(judgeMigratedLocal(ev(good)).valid, true);
    const stuck = judgeMigratedLocal(ev([...good.slice(0, 3), policy('address', ramp(99).map(() => 0.6))]));
    assert.equal(stuck.valid, false);
    assert.match(stuck.message, /address: only 60\.0 % local/);
    assert.equal(judgeMigratedLocal(ev([policy('hot-first', ramp(2), false)])).valid, false);
    const local = judgeMigratedLocal(ev([policy('none', ramp(1)), policy('hot-first', ramp(2))]));
    assert.equal(local.valid, 'unknown');
    assert.match(local.message, /did not make the memory remote/);
  });

  it('precision: the first k moves against the exact k hottest pages', () => {
    // 10 pages, pages 7, 8, 9 hottest by exact counts; k = 3
    const exact = [1, 1, 1, 1, 1, 1, 1, 50, 60, 70];
    const h = (moved: number[]) => ({ hotPages: 3, exact, moved, softDirty: [9, 8, 7], referenced: [0, 1, 9] });
    const ok = judgeHotPrecision(ev([], h([9, 7, 8, 0, 1])));
    assert.equal(ok.valid, true);
    assert.match(ok.message, /precision@3 of the first moves 1\.000.*soft-dirty 1\.000, smaps Referenced 0\.333/);
    assert.equal(judgeHotPrecision(ev([], h([0, 1, 9, 7, 8]))).valid, false); // 1/3
    assert.equal(judgeHotPrecision(ev([], { ...h([9, 8, 7]), exact: exact.map(() => 0) })).valid, 'unknown');
    assert.equal(judgeHotPrecision(ev([])).valid, 'unknown');
  });

  it('host level: skipped (unknown, with the reason) on one node, false for a node the host lacks, true otherwise', () => {
    const one = judgeHostCapable({ label: 'tenant', hostNodes: [0], from: 0, to: 1, source: 'sysfs' });
    assert.equal(one.valid, 'unknown');
    assert.match(one.message, /^skipped: this host has 1 NUMA node/);
    assert.equal(judgeHostCapable({ label: 'tenant', hostNodes: [0, 1], from: 0, to: 2, source: 'sysfs' }).valid, false);
    assert.equal(judgeHostCapable({ label: 'tenant', hostNodes: [0, 1], from: 0, to: 1, source: 'sysfs' }).valid, true);
  });
});
