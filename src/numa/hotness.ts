// Hot-first page migration helpers (memory locality after a NUMA move, US8719545B2): turn
// userspace hotness samples into a per-page score, order the still-remote pages hottest first,
// pace the moves, and compare an estimate with exact per-page access counts (the TCG plugin's).
// The guest kernel (Debian 6.1) has neither idle-page tracking nor DAMON, so the estimators are
// soft-dirty rounds (writes only, per page) and clear_refs + smaps Referenced (reads and writes,
// per mapping only).
import { mulberry32 } from '../shared/prng.js';

const bit = (bm: Uint8Array, i: number) => (bm[i >> 3] >> (i & 7)) & 1;

/** Score = in how many rounds a page was written (one bitmap per round, bit i = page i dirty);
 *  later rounds weigh `recency`× the one before (1 = plain count). */
export function scoreFromSoftDirtyRounds(rounds: Uint8Array[], pages: number, recency = 1): Float64Array {
  const s = new Float64Array(pages);
  let w = 1;
  for (const r of rounds) {
    if (r.length * 8 < pages) throw new Error(`soft-dirty round holds ${r.length * 8} bits, need ${pages}`);
    for (let i = 0; i < pages; i++) if (bit(r, i)) s[i] += w;
    w *= recency;
  }
  return s;
}

/** Chunk granularity: each page gets its mapping's referenced pages / its pages (a hot page in a
 *  cold mapping looks lukewarm — the estimator's known weakness). */
export function scoreFromReferenced(chunks: { startPage: number; pages: number; referencedKiB: number }[], pages: number): Float64Array {
  const s = new Float64Array(pages);
  for (const c of chunks) {
    const v = Math.min(1, c.referencedKiB / 4 / c.pages);
    for (let i = c.startPage; i < Math.min(pages, c.startPage + c.pages); i++) s[i] = v;
  }
  return s;
}

/** Still-remote pages with score ≥ minScore, hottest first, ties by address. */
export function hotFirstOrder(score: ArrayLike<number>, remote: ArrayLike<boolean | number>, minScore = Number.MIN_VALUE): number[] {
  const idx: number[] = [];
  for (let i = 0; i < score.length; i++) if (remote[i] && score[i] >= minScore) idx.push(i);
  return idx.sort((a, b) => score[b] - score[a] || a - b);
}

export function addressOrder(remote: ArrayLike<boolean | number>): number[] {
  const idx: number[] = [];
  for (let i = 0; i < remote.length; i++) if (remote[i]) idx.push(i);
  return idx;
}

export function randomOrder(remote: ArrayLike<boolean | number>, seed: number): number[] {
  const idx = addressOrder(remote);
  const r = mulberry32(seed);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor((r() / 2 ** 32) * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx;
}

/** The k hottest pages by exact counts (ties by address). */
export function exactTop(exact: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: exact.length }, (_, i) => i).filter((i) => exact[i] > 0);
  return idx.sort((a, b) => exact[b] - exact[a] || a - b).slice(0, k);
}

/** Share of an estimate's first k pages that are among the exact k hottest. */
export function precisionAtK(estimateOrder: number[], exact: ArrayLike<number>, k: number): number {
  if (k <= 0) throw new Error('precisionAtK: k must be positive');
  const truth = new Set(exactTop(exact, k));
  const head = estimateOrder.slice(0, k);
  return head.filter((i) => truth.has(i)).length / k;
}

export function recallOfHotSet(estimatedTop: number[], trueHot: Set<number>): number {
  if (!trueHot.size) return 1;
  return estimatedTop.filter((i) => trueHot.has(i)).length / trueHot.size;
}

/** Pages per second with a burst; the clock is passed in (ms), so tests need no timers. Without
 *  a budget, the order of moves could not matter. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(readonly ratePerS: number, readonly burst: number, now: number) {
    if (!(ratePerS > 0) || !(burst >= 1)) throw new Error('TokenBucket: rate must be > 0 and burst ≥ 1');
    this.tokens = burst;
    this.last = now;
  }
  private refill(now: number) {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerS);
    this.last = now;
  }
  /** How many of n may go now (taken from the bucket). */
  take(n: number, now: number): number {
    this.refill(now);
    const k = Math.min(n, Math.floor(this.tokens));
    this.tokens -= k;
    return k;
  }
  /** ms until n tokens are there (n ≤ burst). */
  waitMs(n: number, now: number): number {
    this.refill(now);
    const short = Math.min(n, this.burst) - this.tokens;
    return short <= 0 ? 0 : Math.ceil((short / this.ratePerS) * 1000);
  }
}
