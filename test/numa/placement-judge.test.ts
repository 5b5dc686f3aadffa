// The placement judges on synthetic readings with known answers: each says true and false.
import assert from 'node:assert/strict';
import { judgePlacementOptimal, judgeRestores, judgeTenantLocal, type PlacementReading } from '../../src/numa/plugin/placement-judge.js';

const MiB = 2 ** 20;
const reading = (a: { cpus: number[]; n0: number; n1: number }, b: { cpus: number[]; n0: number; n1: number }): PlacementReading => ({
  label: 'tenant',
  nodes: [{ id: 0, cpus: [0], freeBytes: 100 * MiB }, { id: 1, cpus: [1], freeBytes: 100 * MiB }],
  L: [[10, 21], [21, 10]],
  tenants: [
    { name: 'a', wssBytes: 48 * MiB, cpus: a.cpus, pagesOnNode: { 0: a.n0, 1: a.n1 } },
    { name: 'b', wssBytes: 48 * MiB, cpus: b.cpus, pagesOnNode: { 0: b.n0, 1: b.n1 } },
  ],
});
const iv = (fractions: number[]) => fractions.map((f, i) => ({ t: (i + 1) * 100, local: Math.round(f * 1000), remote: 1000 - Math.round(f * 1000) }));

describe('numa placement judges', () => {
  it('one tenant per node with its memory there is the oracle\'s; both on one CPU is not; memory away is not', () => {
    const ok = judgePlacementOptimal(reading({ cpus: [0], n0: 12288, n1: 0 }, { cpus: [1], n0: 0, n1: 12288 }));
    assert.equal(ok.valid, true, ok.message);
    assert.match(ok.message, /regret 0\.0000/);
    const crowded = judgePlacementOptimal(reading({ cpus: [0], n0: 12288, n1: 0 }, { cpus: [0], n0: 12288, n1: 0 }));
    assert.equal(crowded.valid, false);
    assert.match(crowded.message, /regret [1-9]/);
    const away = judgePlacementOptimal(reading({ cpus: [0], n0: 100, n1: 12188 }, { cpus: [1], n0: 0, n1: 12288 }));
    assert.equal(away.valid, false);
    assert.match(away.message, /a runs on node 0 with 100 of its 12288 pages there/);
    assert.equal(judgePlacementOptimal(reading({ cpus: [0, 1], n0: 12288, n1: 0 }, { cpus: [1], n0: 0, n1: 12288 })).valid, false, 'not inside one node');
  });

  it('tenant locality: every tenant ≥ 90 % over its window', () => {
    assert.equal(judgeTenantLocal({ label: 'x', target: 0.9, windows: [{ tenant: 'a', cpu: 0, intervals: iv([0.95, 0.97]) }] }).valid, true);
    const r = judgeTenantLocal({ label: 'x', target: 0.9, windows: [{ tenant: 'a', cpu: 0, intervals: iv([0.95]) }, { tenant: 'b', cpu: 1, intervals: iv([0.5, 0.6]) }] });
    assert.equal(r.valid, false);
    assert.match(r.message, /b \(vCPU 1\): 55\.0 % local/);
  });

  it('restore: remote first, local again in time after the move passes; too late or never fails; never remote cannot judge', () => {
    const e = (f: number[], within = 1000, faultEndMs = 0) => ({ label: 'x', tenant: 'a', withinMs: within, target: 0.9, faultEndMs, intervals: iv(f) });
    const ok = judgeRestores(e([1, 0.95, 0.5, 0.2, 0.5, 0.95, 0.96]));
    assert.equal(ok.valid, true, ok.message);
    assert.match(ok.message, /below 90 % local from 300 ms \(lowest 20\.0 %\); the move took 0 ms; 600 ms after it 90 % local again/);
    assert.equal(judgeRestores(e([1, 0.95, 0.5, 0.2, 0.5, 0.95, 0.96], 500)).valid, false);
    // counted from the end of the move: the same curve with a move that took 400 ms is 200 ms
    const late = judgeRestores(e([1, 0.95, 0.5, 0.2, 0.5, 0.95, 0.96], 250, 400));
    assert.equal(late.valid, true, late.message);
    assert.match(late.message, /the move took 400 ms; 200 ms after it/);
    assert.equal(judgeRestores(e([1, 0.95, 0.5, 0.2, 0.5, 0.95, 0.96], 150, 400)).valid, false);
    // local again only while the move still ran, remote after it: the sustained return after the end counts
    assert.equal(judgeRestores(e([1, 0.5, 0.95, 0.96, 0.5, 0.5, 0.5], 1000, 450)).valid, false);
    assert.equal(judgeRestores(e([0.1, 0.1, 0.1])).valid, false);
    assert.equal(judgeRestores(e([0.99, 0.99, 0.99])).valid, 'unknown');
  });
});
