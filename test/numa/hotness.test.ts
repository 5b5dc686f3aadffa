// Hotness scores and orders on synthetic samples with known answers.
import assert from 'node:assert/strict';
import { addressOrder, exactTop, hotFirstOrder, precisionAtK, randomOrder, recallOfHotSet, scoreFromReferenced, scoreFromSoftDirtyRounds, TokenBucket } from '../../src/numa/hotness.js';

describe('NUMA hotness ordering', () => {
  // page 0 written in 3 of 3 rounds, page 2 in 2, page 1 in 1, the rest never
  const rounds = [Uint8Array.of(0b111), Uint8Array.of(0b101), Uint8Array.of(0b001)];

  it('soft-dirty rounds rank a page written every round above one written once', () => {
    const s = scoreFromSoftDirtyRounds(rounds, 8);
    assert.deepEqual([...s], [3, 1, 2, 0, 0, 0, 0, 0]);
    assert.deepEqual(hotFirstOrder(s, Array(8).fill(true)), [0, 2, 1]);
    assert.throws(() => scoreFromSoftDirtyRounds([Uint8Array.of(1)], 16), /need 16/);
  });

  it('hot-first skips pages that are already local; address order keeps every remote page', () => {
    const s = scoreFromSoftDirtyRounds(rounds, 8);
    const remote = [true, true, false, true, true, true, true, true];
    assert.deepEqual(hotFirstOrder(s, remote), [0, 1]);
    assert.deepEqual(addressOrder(remote), [0, 1, 3, 4, 5, 6, 7]);
  });

  it('the chunk estimator spreads a mapping\'s Referenced over its pages', () => {
    const s = scoreFromReferenced([{ startPage: 0, pages: 4, referencedKiB: 8 }, { startPage: 4, pages: 4, referencedKiB: 16 }], 8);
    assert.deepEqual([...s], [0.5, 0.5, 0.5, 0.5, 1, 1, 1, 1]);
  });

  it('precision@k against exact counts: 1 for the exact order, 0.5 for a crafted estimate', () => {
    const exact = [100, 1, 50, 0, 0, 0, 0, 90];
    assert.deepEqual(exactTop(exact, 3), [0, 7, 2]);
    assert.equal(precisionAtK(exactTop(exact, 2), exact, 2), 1);
    assert.equal(precisionAtK([0, 2, 1], exact, 2), 0.5);
    assert.equal(recallOfHotSet([0, 2], new Set([0, 7])), 0.5);
  });

  it('random order is a seeded permutation', () => {
    const remote = Array(50).fill(true);
    const a = randomOrder(remote, 7), b = randomOrder(remote, 7), c = randomOrder(remote, 8);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.deepEqual([...a].sort((x, y) => x - y), addressOrder(remote));
  });

  it('token bucket: burst first, then the rate', () => {
    const t = new TokenBucket(100, 10, 0);
    assert.equal(t.take(15, 0), 10);
    assert.equal(t.take(5, 0), 0);
    assert.equal(t.waitMs(5, 0), 50);
    assert.equal(t.take(5, 50), 5);
    assert.equal(t.take(100, 10_000), 10, 'never more than the burst');
    assert.throws(() => new TokenBucket(0, 1, 0), /rate must be > 0/);
  });
});
