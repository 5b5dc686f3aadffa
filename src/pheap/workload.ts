// Seeded workload and checker. build() puts a graph of several shapes into a heap; check()
// recomputes the expected graph from the seed alone and compares the heap's graph with it by
// structure and payloads (never by address): a parallel walk from the roots that keeps a
// bijection expected-node <-> heap-object, so a pointer redirected to a look-alike, a lost
// share in the DAG or a broken cycle is caught as surely as a wrong payload.
//
// Shapes (root slot): r0 singly linked list, r1/r2 doubly linked list head/tail, r3 binary
// search tree, r4 DAG with shared children and cross-type pointers into the tree, r5 a ring
// (cycle), r6/r7 the mutate list head/tail (doubly linked, grown by mutate()).
// Root u64 slots: u0 mutate counter (appends durably completed), u1 seed, u2 scale, u3 version.

import { HeapUsageError } from './errors.js';
import type { Heap, Ref } from './heap.js';
import { hex } from './layout.js';
import { Rng, payload64 } from './prng.js';
import type { TypeDef } from './registry.js';

export const WORKLOAD_VERSION = 1n;

/** A node type: typed pointers to `target` (default: its own type), then u64 values. */
function nodeType(name: string, ptrs: string[], vals: string[], targets: Record<string, string> = {}): TypeDef {
  return {
    name,
    fields: [
      ...ptrs.map((p) => ({ name: p, kind: 'ptr' as const, target: targets[p] ?? name })),
      ...vals.map((v) => ({ name: v, kind: 'u64' as const })),
    ],
  };
}

export const WORKLOAD_TYPES: TypeDef[] = [
  nodeType('wl.snode', ['next'], ['seq', 'payload']),
  nodeType('wl.dnode', ['prev', 'next'], ['seq', 'payload']),
  nodeType('wl.tnode', ['left', 'right'], ['key', 'payload']),
  nodeType('wl.gnode', ['c0', 'c1', 'c2', 'item'], ['id', 'payload'], { item: 'wl.tnode' }),
  nodeType('wl.cnode', ['next'], ['seq', 'payload']),
  nodeType('wl.mnode', ['prev', 'next'], ['seq', 'payload']),
];

const KIND = { slist: 1, dlist: 2, tree: 3, dag: 4, ring: 5, mlist: 6 } as const;
const R_MHEAD = 6;
const R_MTAIL = 7;
const U_COUNTER = 0;

/** One node of the expected graph; pointers are indexes into Model.nodes. */
export interface ModelNode {
  type: string;
  label: string;
  vals: Record<string, bigint>;
  ptrs: Record<string, number | null>;
}
export interface Model {
  nodes: ModelNode[];
  /** root slot -> expected node index (null = null pointer) */
  roots: Map<number, number | null>;
}

/** The expected graph for (seed, scale), computed from nothing else. */
export function expectedModel(seed: number, scale = 1): Model {
  const rng = new Rng(seed ^ 0x5eed5eed);
  const nodes: ModelNode[] = [];
  const roots = new Map<number, number | null>();
  const add = (n: ModelNode) => nodes.push(n) - 1;
  const count = (lo: number, span: number) => Math.max(1, Math.round(scale * (lo + rng.below(span))));

  const chain = (type: string, kind: number, n: number, double: boolean): number[] => {
    const ids = Array.from({ length: n }, (_, i) =>
      add({ type, label: `${type}#${i + 1}`, vals: { seq: BigInt(i + 1), payload: payload64(seed, kind, i + 1) }, ptrs: {} }),
    );
    ids.forEach((id, i) => {
      nodes[id]!.ptrs.next = ids[i + 1] ?? null;
      if (double) nodes[id]!.ptrs.prev = i > 0 ? ids[i - 1]! : null;
    });
    return ids;
  };

  const s = chain('wl.snode', KIND.slist, count(100, 200), false);
  roots.set(0, s[0]!);
  const d = chain('wl.dnode', KIND.dlist, count(100, 200), true);
  roots.set(1, d[0]!);
  roots.set(2, d[d.length - 1]!);

  // Binary search tree: random distinct keys inserted in generation order.
  const nT = count(200, 300);
  const keys = new Set<number>();
  while (keys.size < nT) keys.add(rng.uint32());
  const tree: number[] = [];
  let i = 0;
  for (const key of keys) {
    const id = add({ type: 'wl.tnode', label: `wl.tnode#${i}(key=${key})`, vals: { key: BigInt(key), payload: payload64(seed, KIND.tree, i) }, ptrs: { left: null, right: null } });
    i++;
    tree.push(id);
    if (tree.length === 1) continue;
    let at = tree[0]!;
    for (;;) {
      const side = BigInt(key) < nodes[at]!.vals.key! ? 'left' : 'right';
      const next = nodes[at]!.ptrs[side];
      if (next === null || next === undefined) {
        nodes[at]!.ptrs[side] = id;
        break;
      }
      at = next;
    }
  }
  roots.set(3, tree[0]!);

  // DAG: c0 chains every node (all reachable from node 0), c1/c2 point forward at random, so
  // children are shared; item points across types into the tree.
  const nG = count(150, 150);
  const dag = Array.from({ length: nG }, (_, k) =>
    add({ type: 'wl.gnode', label: `wl.gnode#${k}`, vals: { id: BigInt(k), payload: payload64(seed, KIND.dag, k) }, ptrs: {} }),
  );
  dag.forEach((id, k) => {
    const fwd = () => (k + 2 < nG && rng.chance(0.7) ? dag[k + 1 + rng.below(nG - k - 1)]! : null);
    const p = nodes[id]!.ptrs;
    p.c0 = dag[k + 1] ?? null;
    p.c1 = fwd();
    p.c2 = fwd();
    p.item = rng.chance(0.5) ? tree[rng.below(tree.length)]! : null;
  });
  roots.set(4, dag[0]!);

  const ring = chain('wl.cnode', KIND.ring, count(30, 70), false);
  nodes[ring[ring.length - 1]!]!.ptrs.next = ring[0]!;
  roots.set(5, ring[0]!);
  return { nodes, roots };
}

/** Materialises the expected graph into a fresh heap (bulk: one flush at the end). */
export function build(heap: Heap, seed: number, scale = 1): { nodes: number; pointers: number } {
  const model = expectedModel(seed, scale);
  const prev = heap.durability;
  heap.durability = 'deferred';
  const refs = model.nodes.map((n) =>
    heap.alloc(n.type, (r) => {
      for (const [f, v] of Object.entries(n.vals)) heap.setU64(r, f, v);
    }),
  );
  let pointers = 0;
  model.nodes.forEach((n, k) => {
    for (const [f, target] of Object.entries(n.ptrs)) {
      if (target === null) continue;
      heap.setPtr(refs[k]!, f, refs[target]!);
      pointers++;
    }
  });
  for (const [slot, target] of model.roots) heap.setRoot(slot, target === null ? 0 : refs[target]!);
  heap.setRoot(R_MHEAD, 0);
  heap.setRoot(R_MTAIL, 0);
  heap.setRootU64(U_COUNTER, 0n);
  heap.setRootU64(1, BigInt(seed >>> 0));
  heap.setRootU64(2, BigInt(Math.round(scale * 1000)));
  heap.setRootU64(3, WORKLOAD_VERSION);
  heap.flush();
  heap.durability = prev;
  return { nodes: refs.length, pointers: pointers + model.roots.size };
}

// ------------------------------------------------------------------------- checker

export interface Mismatch {
  at: string;
  field?: string;
  expected: string;
  actual: string;
}

export interface CheckReport {
  ok: boolean;
  nodesMatched: number;
  mismatchCount: number;
  mismatches: Mismatch[];
  mutate: { counter: number; length: number; leaked: number };
}

/** Follows a pointer field to a Ref, or returns a description of why it cannot be followed. */
function follow(heap: Heap, ref: Ref, field: string): Ref | string {
  try {
    return heap.getPtr(ref, field);
  } catch (e) {
    return (e as Error).message;
  }
}

export function check(heap: Heap, seed: number, scale = 1, opts: { minMutations?: number; maxMismatches?: number } = {}): CheckReport {
  const model = expectedModel(seed, scale);
  const max = opts.maxMismatches ?? 50;
  const rep: CheckReport = { ok: true, nodesMatched: 0, mismatchCount: 0, mismatches: [], mutate: { counter: 0, length: 0, leaked: 0 } };
  const miss = (m: Mismatch) => {
    rep.mismatchCount++;
    if (rep.mismatches.length < max) rep.mismatches.push(m);
  };
  const root = heap.root;
  for (const [slot, want] of [
    [1, BigInt(seed >>> 0)],
    [2, BigInt(Math.round(scale * 1000))],
    [3, WORKLOAD_VERSION],
  ] as const) {
    const got = heap.getRootU64(slot);
    if (got !== want) miss({ at: 'root', field: `u${slot}`, expected: String(want), actual: String(got) });
  }

  // Parallel walk with a bijection model index <-> Ref.
  const m2r = new Map<number, Ref>();
  const r2m = new Map<Ref, number>();
  const stack: [number, Ref, string][] = [];
  const visit = (mi: number, ref: Ref, from: string) => {
    const seen = m2r.get(mi);
    if (seen !== undefined) {
      if (seen !== ref) miss({ at: from, expected: `${model.nodes[mi]!.label} at ${hex(seen)} (shared)`, actual: `a different object at ${hex(ref)}` });
      return;
    }
    const other = r2m.get(ref);
    if (other !== undefined) {
      miss({ at: from, expected: model.nodes[mi]!.label, actual: `${hex(ref)}, which is ${model.nodes[other]!.label}` });
      return;
    }
    m2r.set(mi, ref);
    r2m.set(ref, mi);
    stack.push([mi, ref, from]);
  };
  for (const [slot, want] of model.roots) {
    const got = follow(heap, root, `r${slot}`);
    const at = `root.r${slot}`;
    if (typeof got === 'string') miss({ at, expected: want === null ? 'null' : model.nodes[want]!.label, actual: got });
    else if (want === null || got === 0) {
      if ((want === null) !== (got === 0)) miss({ at, expected: want === null ? 'null' : model.nodes[want]!.label, actual: got === 0 ? 'null' : hex(got) });
    } else visit(want, got, at);
  }
  while (stack.length) {
    const [mi, ref, from] = stack.pop()!;
    const m = model.nodes[mi]!;
    const r = heap.resolve(ref);
    if (!r) {
      miss({ at: from, expected: m.label, actual: `${hex(ref)} is not an allocated object` });
      continue;
    }
    if (r.type.name !== m.type) {
      miss({ at: from, expected: m.label, actual: `a ${r.type.name} at ${hex(ref)}` });
      continue;
    }
    let good = true;
    for (const [f, v] of Object.entries(m.vals)) {
      const got = heap.getU64(ref, f);
      if (got !== v) {
        good = false;
        miss({ at: m.label, field: f, expected: String(v), actual: String(got) });
      }
    }
    for (const [f, want] of Object.entries(m.ptrs)) {
      const got = follow(heap, ref, f);
      const wantLabel = want === null ? 'null' : model.nodes[want]!.label;
      if (typeof got === 'string') {
        good = false;
        miss({ at: m.label, field: f, expected: wantLabel, actual: got });
      } else if (want === null || got === 0) {
        if ((want === null) !== (got === 0)) {
          good = false;
          miss({ at: m.label, field: f, expected: wantLabel, actual: got === 0 ? 'null' : hex(got) });
        }
      } else visit(want, got, `${m.label}.${f}`);
    }
    if (good) rep.nodesMatched++;
  }

  // Nothing unreachable or extra: per type, allocated count == expected count.
  const expectedCount = new Map<string, number>();
  for (const n of model.nodes) expectedCount.set(n.type, (expectedCount.get(n.type) ?? 0) + 1);
  for (const [type, n] of expectedCount) {
    const got = heap.count(type);
    if (got !== n) miss({ at: `type ${type}`, expected: `${n} allocated objects`, actual: `${got}` });
  }

  checkMutateList(heap, seed, opts.minMutations ?? 0, rep, miss);
  rep.ok = rep.mismatchCount === 0;
  return rep;
}

/** The mutate list may be one append ahead of its counter (cut after the link, before the
 *  counter) and at most one allocated-but-unlinked node may exist (cut after the alloc). */
function checkMutateList(heap: Heap, seed: number, minMutations: number, rep: CheckReport, miss: (m: Mismatch) => void): void {
  const counter = Number(heap.getRootU64(U_COUNTER));
  const list: Ref[] = [];
  let cur = follow(heap, heap.root, `r${R_MHEAD}`);
  let prev: Ref = 0;
  while (typeof cur === 'number' && cur !== 0 && list.length <= counter + 1) {
    const seq = list.length + 1;
    const r = heap.resolve(cur);
    const at = `wl.mnode#${seq}`;
    if (!r || r.type.name !== 'wl.mnode') {
      miss({ at, expected: 'an allocated wl.mnode', actual: r ? `a ${r.type.name}` : `${hex(cur)} (not an object)` });
      cur = 0;
      break;
    }
    list.push(cur);
    const want = { seq: BigInt(seq), payload: payload64(seed, KIND.mlist, seq) };
    for (const [f, v] of Object.entries(want)) {
      const got = heap.getU64(cur, f);
      if (got !== v) miss({ at, field: f, expected: String(v), actual: String(got) });
    }
    const p = follow(heap, cur, 'prev');
    if (p !== prev) miss({ at, field: 'prev', expected: prev ? hex(prev) : 'null', actual: typeof p === 'string' ? p : p ? hex(p) : 'null' });
    prev = cur;
    cur = follow(heap, cur, 'next');
  }
  if (typeof cur === 'string') miss({ at: `wl.mnode#${list.length}`, field: 'next', expected: 'a pointer', actual: cur });
  else if (cur !== 0) miss({ at: 'mutate list', expected: `at most ${counter + 1} nodes (counter ${counter} + 1 in flight)`, actual: 'longer (or a cycle)' });
  const L = list.length;
  if (L < counter) miss({ at: 'mutate list', expected: `>= ${counter} nodes (counter)`, actual: `${L}: acknowledged appends lost` });
  if (L < minMutations) miss({ at: 'mutate list', expected: `>= ${minMutations} nodes (acknowledged by the harness)`, actual: String(L) });
  const tail = follow(heap, heap.root, `r${R_MTAIL}`);
  const okTails = new Set<Ref>([list[L - 1] ?? 0]);
  if (L === counter + 1) okTails.add(list[L - 2] ?? 0);
  if (typeof tail === 'string' || !okTails.has(tail))
    miss({ at: 'root', field: `r${R_MTAIL}`, expected: [...okTails].map((t) => (t ? hex(t) : 'null')).join(' or '), actual: typeof tail === 'string' ? tail : tail ? hex(tail) : 'null' });
  const leaked = heap.count('wl.mnode') - L;
  if (leaked > 1 || leaked < 0) miss({ at: 'type wl.mnode', expected: `${L} or ${L + 1} allocated (one in-flight alloc)`, actual: String(L + leaked) });
  rep.mutate = { counter, length: L, leaked };
}

// ------------------------------------------------------------------------- mutate

export type MutateStep = 'alloc' | 'link' | 'tail' | 'counter';
export const MUTATE_STEPS: MutateStep[] = ['alloc', 'link', 'tail', 'counter'];

/** Thrown by the crash hook after the heap was crashed (stores not persisted are dropped). */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

export interface MutateReport {
  recovered: { freedLeaked: number; fixedTail: boolean; fixedCounter: boolean };
  appended: number;
  length: number;
  counter: number;
}

/** Repairs what a cut in the middle of an append left: frees the unlinked node, points the tail
 *  at the last node and sets the counter to the list length. Each repair is persisted. */
function recoverMutate(heap: Heap): { list: Ref[]; report: MutateReport['recovered'] } {
  const list: Ref[] = [];
  for (let r = heap.getRoot(R_MHEAD); r !== 0; r = heap.getPtr(r, 'next')) {
    list.push(r);
    if (list.length > heap.count('wl.mnode')) throw new HeapUsageError('mutate list has a cycle');
  }
  const linked = new Set(list);
  let freedLeaked = 0;
  for (const r of [...heap.objects('wl.mnode')]) {
    if (!linked.has(r)) {
      heap.free(r);
      freedLeaked++;
    }
  }
  const last = list[list.length - 1] ?? 0;
  const fixedTail = heap.getRoot(R_MTAIL) !== last;
  if (fixedTail) heap.setRoot(R_MTAIL, last);
  const fixedCounter = heap.getRootU64(U_COUNTER) !== BigInt(list.length);
  if (fixedCounter) heap.setRootU64(U_COUNTER, BigInt(list.length));
  return { list, report: { freedLeaked, fixedTail, fixedCounter } };
}

/**
 * Appends `ops` nodes to the mutate list. Every step is persisted before the next, in the order
 * alloc+init (persisted, then its bit) -> link from the old tail -> tail pointer -> counter, so
 * every state a cut can leave is one check() accepts. `crashAt` simulates a cut right after a
 * step of one op; `onAck` is called once an append is complete (counter durable).
 */
export function mutate(
  heap: Heap,
  seed: number,
  ops: number,
  opts: { crashAt?: { op: number; step: MutateStep }; onAck?: (seq: number) => void } = {},
): MutateReport {
  const { list, report: recovered } = recoverMutate(heap);
  let tail = list[list.length - 1] ?? 0;
  let seq = list.length;
  const hit = (op: number, step: MutateStep) => {
    if (opts.crashAt && opts.crashAt.op === op && opts.crashAt.step === step) {
      heap.crash();
      throw new SimulatedCrash(`simulated power cut after step ${step} of op ${op}`);
    }
  };
  for (let op = 1; op <= ops; op++) {
    seq++;
    const s = seq;
    const prev = tail;
    const node = heap.alloc('wl.mnode', (r) => {
      heap.setPtr(r, 'prev', prev);
      heap.setU64(r, 'seq', BigInt(s));
      heap.setU64(r, 'payload', payload64(seed, KIND.mlist, s));
    });
    hit(op, 'alloc');
    if (prev) {
      heap.setPtr(prev, 'next', node);
      heap.persist(prev, 'next');
    } else heap.setRoot(R_MHEAD, node);
    hit(op, 'link');
    heap.setRoot(R_MTAIL, node);
    hit(op, 'tail');
    heap.setRootU64(U_COUNTER, BigInt(s));
    hit(op, 'counter');
    tail = node;
    opts.onAck?.(s);
  }
  return { recovered, appended: ops, length: seq, counter: seq };
}
