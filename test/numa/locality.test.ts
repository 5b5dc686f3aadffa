// Locality metrics from a hand-built exact counter series.
import assert from 'node:assert/strict';
import { areaUnderLocality, detectArrival, hotLocalFraction, intervalLocality, timeToFraction, type CounterSample } from '../../src/numa/locality.js';

// Per interval: [vCPU, accesses to node 0, accesses to node 1] (user reads); cumulated below.
const steps: [number, number, number][] = [
  [0, 1000, 0],   // t=100: the tenant runs on vCPU 0 (node 0), all local
  [1, 900, 100],  // t=200: moved to vCPU 1 (node 1): 10 % local
  [1, 500, 500],  // t=300: 50 %
  [1, 50, 950],   // t=400: 95 %
  [1, 150, 850],  // t=500: 85 % (a blip down)
  [1, 50, 950],   // t=600: 95 %
  [1, 40, 960],   // t=700: 96 %
];
function series(): CounterSample[] {
  const c = [[[0, 0, 0, 0], [0, 0, 0, 0]], [[0, 0, 0, 0], [0, 0, 0, 0]]];
  const out: CounterSample[] = [{ t: 0, c: structuredClone(c) }];
  steps.forEach(([v, n0, n1], i) => {
    c[v][0][0] += n0; c[v][1][0] += n1;
    c[v][0][2] += 7; // kernel accesses: ignored unless userOnly is false
    out.push({ t: (i + 1) * 100, c: structuredClone(c) });
  });
  return out;
}

describe('NUMA locality from exact counts', () => {
  const s = series();
  const iv = intervalLocality(s, [0, 1], { vcpus: [1] });

  it('local fraction per interval, null where the vCPUs made no access', () => {
    assert.equal(iv[0].fraction, null);
    assert.deepEqual(iv.slice(1).map((x) => x.fraction), [0.1, 0.5, 0.95, 0.85, 0.95, 0.96]);
    const all = intervalLocality(s, [0, 1], { vcpus: [1], userOnly: false });
    assert.equal(all[1].remote, 907);
  });

  it('finds the move in the counters and the time to 90 % local, sustained', () => {
    const tMove = detectArrival(s, [1], 500);
    assert.equal(tMove, 100, 'the start of the first interval with accesses on vCPU 1');
    assert.equal(timeToFraction(iv, tMove!, 0.9, 2), 500, 'the blip at 500 ms does not count with sustain 2');
    assert.equal(timeToFraction(iv, tMove!, 0.9, 1), 300);
    assert.equal(timeToFraction(iv, tMove!, 0.99, 2), null, 'not reached');
    assert.equal(detectArrival(s.slice(0, 2), [1], 1), undefined, 'vCPU 1 idle so far');
    assert.equal(detectArrival(s, [1], 1001), undefined, 'never that many in one interval');
  });

  it('area under L(t) and the hot pages that are local', () => {
    assert.ok(Math.abs(areaUnderLocality(iv, 200, 200) - 0.725) < 1e-12);
    assert.equal(hotLocalFraction([1, 0, 1, 1], [0, 1, 2], 1), 2 / 3);
  });

  it('refuses counts that go backwards', () => {
    const bad = series();
    bad[3].c[1][1][0] = 0;
    assert.throws(() => intervalLocality(bad, [0, 1], { vcpus: [1] }), /went backwards/);
  });
});
