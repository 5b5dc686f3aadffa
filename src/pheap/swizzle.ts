// Crash-safe pointer swizzling (after VMware's "Efficient pointer swizzling for persistent
// objects"): when the heap is mapped at a base other than the one its pointers were written
// for, walk every slab, learn its type from the slab table, and rewrite every pointer field of
// every allocated object: new = old - fromBase + toBase.
//
// ---- Persistent state of a pass ----
//   header.swz = {state: IDLE|ACTIVE, from, to}, header.base      (double-buffered header)
//   slab.relBase = the base this slab's pointers are relative to  (one 8-byte store per slab)
// Invariants: IDLE  => every assigned slab has relBase == header.base.
//             ACTIVE => every assigned slab has relBase in {from, to}; the pointers of a slab
//                       with relBase == to are all to-relative; the pointers of a slab with
//                       relBase == from are each from-relative OR to-relative.
//
// ---- One pass (from -> to), requires [from, from+size) and [to, to+size) DISJOINT ----
//   1. header := ACTIVE{from, to}, persisted.                          (before any slab is touched)
//   2. per batch of slabs: rewrite pointers of slabs with relBase == from; persist their data;
//      THEN set relBase := to for them and persist.                    (data before progress record)
//   3. header := IDLE, base := to, persisted.                          (after every slab is done)
//
// ---- Why a power cut anywhere leaves a correct graph ----
// A cut before 1 is durable leaves IDLE at `from`, untouched. After 1, the next open sees
// ACTIVE{from,to} and resumes the same pass (it does not matter where the heap is mapped then:
// the pass is arithmetic on stored values; the new base is handled by a separate, later pass).
//  - A slab with relBase == to was persisted before its record changed: skipped, so a slab is
//    swizzled at most once per target.
//  - A slab with relBase == from may be untouched, fully rewritten (cut between its data
//    persist and its record), or HALF rewritten (cut inside it, or writeback that persisted
//    some of its pages/lines and not others). The loop is idempotent per FIELD: a value in
//    [from, from+size) is rewritten, a value in [to, to+size) is already done and kept, null
//    (0, below every base) is kept. Because the two ranges are disjoint, the classification of
//    each field is unambiguous, so redoing the whole slab is correct whatever subset of its
//    fields reached media. Each field is one aligned 8-byte store (BigUint64Array), so a field
//    itself is never torn between an old and a new value.
//  - The header commit (3) comes after every slab record is durable, so IDLE => invariant holds;
//    a cut just before it resumes a pass where every slab is skipped.
// Header writes go to the non-current of two checksummed slots, so a torn header write falls
// back to the previous header, which is still consistent with the slabs (see layout.ts).
//
// ---- Overlapping ranges (|to - from| < heap size) ----
// The classification above is ambiguous there (a value can be both a from- and a to-address),
// so instead of a shadow copy of the in-progress slab, the move is done as two passes through
// a detour base X chosen with [X, X+size) disjoint from both ranges: from -> X, then X -> to.
// Each pass has disjoint ranges, so each is crash-safe by the argument above, and the header
// records which one is in flight. Cost: the rare overlapping move rewrites pointers twice, but
// needs no extra storage and no persist barrier per slab (a shadow journal needs three).
// X lies above 2^56, outside any user virtual address space: it is never dereferenced.
//
// A value in neither range is not a pointer this heap wrote (corruption): it is left as is and
// counted as stray; validateHeap reports where.

import { HeapCorruptError, SwizzleInterruptedError } from './errors.js';
import type { Heap, SlabInfo } from './heap.js';
import { SWZ_ACTIVE, SWZ_IDLE, hex } from './layout.js';
import { ROOT_TYPE_ID } from './registry.js';
import { isBroken } from '../shared/broken-sut.js';

export interface SwizzleHooks {
  /** test hook: simulate a power cut after this many slabs were swizzled in this open */
  stopAfterSlabs?: number;
  /** with stopAfterSlabs: also rewrite (and persist) half of the next slab, without its record */
  tornSlab?: boolean;
  /** bytes of slabs rewritten between two persist barriers (default 32 MiB) */
  batchBytes?: number;
}

export interface PassReport {
  from: string;
  to: string;
  slabsSwizzled: number;
  slabsSkipped: number;
  pointers: number;
  stray: number;
}

export interface SwizzleReport {
  access: string;
  path: string;
  /** base the pointers were valid for when the heap was opened */
  oldBase: string;
  newBase: string;
  swizzled: boolean;
  /** an interrupted pass found at open and finished first */
  resumed?: { from: string; to: string };
  /** detour base used because old and new ranges overlap */
  detour?: string;
  passes: PassReport[];
  slabsSwizzled: number;
  pointersSwizzled: number;
  strayPointers: number;
  /** total: whole recovery; swizzle: pointer-rewrite loops only; persist: msync/fsync barriers */
  ms: { total: number; swizzle: number; persist: number };
  headerNote?: string;
  /** set when the stopAfterSlabs hook simulated a power cut */
  interrupted?: boolean;
  /** index of the slab left half-rewritten by the tornSlab hook */
  tornSlab?: number;
}

/** Guest-usable form of the hooks: PHEAP_SWIZZLE_STOP_AFTER_SLABS=k, PHEAP_SWIZZLE_TORN=1. */
export function hooksFromEnv(env: NodeJS.ProcessEnv = process.env): SwizzleHooks {
  const out: SwizzleHooks = {};
  const k = env.PHEAP_SWIZZLE_STOP_AFTER_SLABS;
  if (k !== undefined && k !== '') out.stopAfterSlabs = Number(k);
  if (env.PHEAP_SWIZZLE_TORN === '1') out.tornSlab = true;
  return out;
}

const DEFAULT_BATCH_BYTES = 32 * 1024 * 1024;
const now = (): number => performance.now();

// Counters of the hot loop (moved, stray), kept outside it so it allocates nothing.
const counters = new Float64Array(2);
let moved = 0;
let stray = 0;

type Kernel = (
  u32: Uint32Array,
  u64: BigUint64Array,
  bitmapWord: number,
  bitmapWords: number,
  obj0: number,
  from: bigint,
  fromEnd: bigint,
  to: bigint,
  toEnd: bigint,
  out: Float64Array,
) => void;

const kernels = new Map<string, Kernel>();

/**
 * The hot loop, specialised per object layout: V8 compiles a loop whose pointer offsets and
 * object stride are constants about 1.5x faster than one reading them from an array (measured
 * here: ~150 vs ~250 M pointers/s on an idle core). The source is built only from integers of
 * the validated registry (word offsets and object size in words), never from names or data.
 * A fully allocated bitmap word (the common case) is walked as a plain stride.
 * BigUint64Array loads/stores stay on V8's unboxed 64-bit BigInt path, and each store is one
 * aligned 8-byte store, so a pointer is never torn between its old and new value (Uint32 halves
 * would be two stores).
 */
function kernelFor(objWords: number, ptrWords: readonly number[]): Kernel {
  const key = `${objWords}:${ptrWords.join(',')}`;
  let k = kernels.get(key);
  if (k) return k;
  if (!Number.isInteger(objWords) || !ptrWords.every((w) => Number.isInteger(w) && w >= 0 && w < objWords))
    throw new Error(`pheap: bad layout for the swizzle kernel: ${key}`);
  const body = ptrWords
    .map((w) => `{ const j = obj + ${w}; const p = u64[j];
        if (p >= from && p < fromEnd) { u64[j] = p + delta; m++; }
        else if (p !== 0n && (p < to || p >= toEnd)) st++; }`)
    .join('\n');
  const src = `
    const delta = to - from;
    let m = 0, st = 0;
    for (let w = 0; w < bitmapWords; w++) {
      let bits = u32[bitmapWord + w];
      if (bits === 0) continue;
      if (bits === 0xffffffff) {
        const end = obj0 + (w * 32 + 32) * ${objWords};
        for (let obj = obj0 + w * 32 * ${objWords}; obj < end; obj += ${objWords}) { ${body} }
        continue;
      }
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const obj = obj0 + (w * 32 + b) * ${objWords};
        ${body}
      }
    }
    out[0] += m;
    out[1] += st;`;
  k = new Function('u32', 'u64', 'bitmapWord', 'bitmapWords', 'obj0', 'from', 'fromEnd', 'to', 'toEnd', 'out', src) as Kernel;
  kernels.set(key, k);
  return k;
}

/**
 * Rewrites the pointers of the allocated objects of one slab (all of them, or the first
 * `maxObjects` in bitmap order: the tornSlab hook). Per field: a value in [from, fromEnd) moves
 * by to - from, a value in [to, toEnd) is already done, 0 is null; anything else is stray.
 */
export function swizzleSlab(
  u32: Uint32Array,
  u64: BigUint64Array,
  s: SlabInfo,
  from: bigint,
  fromEnd: bigint,
  to: bigint,
  toEnd: bigint,
  maxObjects = Infinity,
): void {
  const ptrWords = s.type!.ptrWords;
  if (ptrWords.length === 0) return;
  const objWords = s.objSize >>> 3;
  const obj0 = s.objStart >>> 3;
  if (maxObjects === Infinity) {
    counters[0] = 0;
    counters[1] = 0;
    kernelFor(objWords, ptrWords)(u32, u64, s.bitmapWord, s.bitmapWords, obj0, from, fromEnd, to, toEnd, counters);
    moved += counters[0]!;
    stray += counters[1]!;
    return;
  }
  // Generic loop with a budget: only the test hook uses it, so speed does not matter.
  const delta = to - from;
  let budget = maxObjects;
  for (let w = 0; w < s.bitmapWords && budget > 0; w++) {
    let bits = u32[s.bitmapWord + w]!;
    while (bits !== 0 && budget > 0) {
      const b = 31 - Math.clz32(bits & -bits);
      bits &= bits - 1;
      budget--;
      const obj = obj0 + (w * 32 + b) * objWords;
      for (const pw of ptrWords) {
        const j = obj + pw;
        const p = u64[j]!;
        if (p >= from && p < fromEnd) {
          u64[j] = p + delta;
          moved++;
        } else if (p !== 0n && (p < to || p >= toEnd)) stray++;
      }
    }
  }
}

const overlaps = (a: bigint, b: bigint, size: bigint): boolean => (a > b ? a - b : b - a) < size;

function pickDetour(a: bigint, b: bigint, size: bigint): bigint {
  for (let k = 56n; k < 63n; k++) {
    const x = 1n << k;
    if (!overlaps(x, a, size) && !overlaps(x, b, size)) return x;
  }
  throw new Error('pheap: no detour base available (heap larger than 2^61?)');
}

interface RunState {
  report: SwizzleReport;
  hooks: SwizzleHooks;
  slabsThisOpen: number;
  /** FTH_BROKEN_SUT=pheap:skip-swizzle-slab (tests of the checkers only, see brokenSkipSlab) */
  brokenSkip: boolean;
}

/**
 * DELIBERATELY BROKEN variant `pheap:skip-swizzle-slab` (shared/broken-sut.ts), selected only
 * by FTH_BROKEN_SUT, to prove that the checkers catch an unswizzled slab: the slab a pass
 * leaves as it is while recording it done (relBase := to), so the heap's own bookkeeping (open,
 * resume, swizzle report) never notices. Deterministic: the first assigned slab, in slab
 * order, of a non-root type with pointer fields that holds at least one object (so the heap
 * keeps working, the damage is silent and only a checker can see it); the root's slab only when
 * no other slab qualifies.
 */
function brokenSkipSlab(slabs: SlabInfo[]): SlabInfo | undefined {
  const holds = (s: SlabInfo) => s.type !== null && s.type.ptrWords.length > 0 && s.used > 0;
  return slabs.find((s) => holds(s) && s.type!.id !== ROOT_TYPE_ID) ?? slabs.find(holds);
}

/** Slab data range of a run of slabs, merged when adjacent (they always are in one batch). */
function mergeRanges(slabs: SlabInfo[], slabSize: number): [number, number][] {
  const out: [number, number][] = [];
  for (const s of slabs) {
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === s.offset) last[1] += slabSize;
    else out.push([s.offset, slabSize]);
  }
  return out;
}

function runPass(heap: Heap, from: bigint, to: bigint, st: RunState): void {
  const h = heap.header;
  const size = BigInt(h.regionSize);
  if (overlaps(from, to, size)) throw new Error(`pheap: internal: pass ${hex(from)} -> ${hex(to)} with overlapping ranges`);
  if (!(h.swzState === SWZ_ACTIVE && h.swzFrom === from && h.swzTo === to)) {
    heap.writeHeader({ swzState: SWZ_ACTIVE, swzFrom: from, swzTo: to });
  }
  const pass: PassReport = { from: hex(from), to: hex(to), slabsSwizzled: 0, slabsSkipped: 0, pointers: 0, stray: 0 };
  st.report.passes.push(pass);
  const fromEnd = from + size;
  const toEnd = to + size;
  const batchBytes = st.hooks.batchBytes ?? DEFAULT_BATCH_BYTES;
  const stopAt = st.hooks.stopAfterSlabs;
  const slabs = heap.slabs.filter((s) => s.type !== null);
  const { u32, u64 } = heap;
  const skip = st.brokenSkip ? brokenSkipSlab(slabs) : undefined;
  let i = 0;
  const stopNow = () => stopAt !== undefined && st.slabsThisOpen >= stopAt;
  while (i < slabs.length && !stopNow()) {
    const batch: SlabInfo[] = [];
    let bytes = 0;
    const t0 = now();
    moved = 0;
    stray = 0;
    for (; i < slabs.length && bytes < batchBytes; i++) {
      const s = slabs[i]!;
      if (s.relBase === to) {
        pass.slabsSkipped++;
        continue;
      }
      if (s.relBase !== from)
        throw new HeapCorruptError('slab-header', `slab ${s.index}: relBase ${hex(s.relBase)} is neither ${hex(from)} nor ${hex(to)}`);
      if (s !== skip) swizzleSlab(u32, u64, s, from, fromEnd, to, toEnd);
      batch.push(s);
      bytes += h.slabSize;
      if (stopAt !== undefined && st.slabsThisOpen + batch.length >= stopAt) {
        i++;
        break;
      }
    }
    const t1 = now();
    // Data durable first, then the progress records that say so.
    const ranges = mergeRanges(batch, h.slabSize);
    heap.region.persistRanges(ranges);
    for (const s of batch) heap.setSlabRelBase(s, to);
    heap.region.persistRanges(batch.map((s) => [s.offset, 64] as const));
    const t2 = now();
    st.report.ms.swizzle += t1 - t0;
    st.report.ms.persist += t2 - t1;
    pass.pointers += moved;
    pass.stray += stray;
    pass.slabsSwizzled += batch.length;
    st.slabsThisOpen += batch.length;
  }
  if (stopNow()) {
    // Only stop if work remains; a hook past the end of the pass is a no-op.
    const next = slabs.slice(i).find((s) => s.relBase === from);
    if (next) {
      if (st.hooks.tornSlab) {
        moved = 0;
        swizzleSlab(u32, u64, next, from, fromEnd, to, toEnd, Math.max(1, Math.floor(next.used / 2)));
        heap.region.persist(next.offset, h.slabSize);
        pass.pointers += moved;
      }
      finish(st.report, pass);
      st.report.interrupted = true;
      if (st.hooks.tornSlab) st.report.tornSlab = next.index;
      throw new SwizzleInterruptedError(st.report);
    }
  }
  heap.writeHeader({ swzState: SWZ_IDLE, base: to, swzFrom: 0n, swzTo: 0n });
  finish(st.report, pass);
}

function finish(r: SwizzleReport, pass: PassReport): void {
  r.slabsSwizzled += pass.slabsSwizzled;
  r.pointersSwizzled += pass.pointers;
  r.strayPointers += pass.stray;
}

/** A report of an open that has not swizzled (yet). */
export function emptyReport(access: string, path: string, oldBase: bigint, newBase: bigint): SwizzleReport {
  return {
    access,
    path,
    oldBase: hex(oldBase),
    newBase: hex(newBase),
    swizzled: false,
    passes: [],
    slabsSwizzled: 0,
    pointersSwizzled: 0,
    strayPointers: 0,
    ms: { total: 0, swizzle: 0, persist: 0 },
  };
}

/** Brings the heap to `target`: finishes an interrupted pass, then moves (with a detour when
 *  the ranges overlap). Returns what it did; throws SwizzleInterruptedError from the hook. */
export function recover(heap: Heap, target: bigint, hooks: SwizzleHooks): SwizzleReport {
  const t0 = now();
  const h0 = heap.header;
  const report = emptyReport(heap.access, heap.path, h0.swzState === SWZ_ACTIVE ? h0.swzFrom : h0.base, target);
  const st: RunState = { report, hooks, slabsThisOpen: 0, brokenSkip: isBroken('pheap', 'skip-swizzle-slab') };
  const size = BigInt(h0.regionSize);
  try {
    if (h0.swzState === SWZ_ACTIVE) {
      // This code only ever starts passes between disjoint ranges; anything else was not written by it.
      if (overlaps(h0.swzFrom, h0.swzTo, size) || h0.swzFrom === 0n || h0.swzTo === 0n)
        throw new HeapCorruptError('swizzle-state', `pass in flight ${hex(h0.swzFrom)} -> ${hex(h0.swzTo)} has overlapping or null ranges`);
      report.resumed = { from: hex(h0.swzFrom), to: hex(h0.swzTo) };
      runPass(heap, h0.swzFrom, h0.swzTo, st);
    }
    const cur = heap.header.base;
    if (cur !== target) {
      if (overlaps(cur, target, size)) {
        const x = pickDetour(cur, target, size);
        report.detour = hex(x);
        runPass(heap, cur, x, st);
        runPass(heap, x, target, st);
      } else {
        runPass(heap, cur, target, st);
      }
    }
  } finally {
    report.swizzled = report.passes.length > 0;
    report.ms.total = now() - t0;
  }
  return report;
}
