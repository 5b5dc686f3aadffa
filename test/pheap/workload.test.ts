// The seeded workload and its checker: the expected graph comes from the seed alone; a single
// wrong payload, a redirected pointer, a lost share, a broken cycle are each caught; every state
// a cut can leave in the middle of a mutate append is accepted, and recovery repairs it.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Heap, type Ref } from '../../src/pheap/heap.js';
import { validateHeap } from '../../src/pheap/validate.js';
import { MUTATE_STEPS, SimulatedCrash, WORKLOAD_TYPES, build, check, expectedModel, mutate } from '../../src/pheap/workload.js';
import { ACCESS_PATHS, cli, tmpDir } from './helpers.js';

const SEED = 1234;

/** Ref of the node reached from a root slot by following `path` fields. */
function walk(h: Heap, slot: number, ...path: string[]): Ref {
  let r = h.getRoot(slot);
  for (const f of path) r = h.getPtr(r, f);
  return r;
}

/** Copies an object (all fields) into a fresh allocation of the same type. */
function clone(h: Heap, r: Ref): Ref {
  const t = h.typeOf(r);
  return h.alloc(t, (c) => h.bytes.copyWithin(c, r, r + t.size));
}

describe('pheap workload', () => {
  const t = tmpDir();
  after(() => t.cleanup());
  let golden = '';
  before(() => {
    golden = t.file('golden.img');
    const h = Heap.create(golden, { size: 4 << 20, slabSize: 16384, types: WORKLOAD_TYPES, access: 'file' });
    build(h, SEED);
    h.close();
  });
  const open = (name: string, base?: bigint) => {
    const h = Heap.open(t.copy(golden, name), { access: 'file', base });
    h.durability = 'deferred';
    return h;
  };

  it('derives the expected graph from the seed alone', () => {
    const a = expectedModel(99);
    assert.deepEqual(expectedModel(99), a, 'deterministic');
    const b = expectedModel(100);
    assert.notDeepEqual(b.nodes.map((n) => n.vals.payload), a.nodes.map((n) => n.vals.payload));
    const types = new Set(a.nodes.map((n) => n.type));
    assert.deepEqual([...types].sort(), ['wl.cnode', 'wl.dnode', 'wl.gnode', 'wl.snode', 'wl.tnode']);
    // the DAG really shares children
    const inDegree = new Map<number, number>();
    for (const n of a.nodes) if (n.type === 'wl.gnode') for (const c of [n.ptrs.c0, n.ptrs.c1, n.ptrs.c2]) if (c != null) inDegree.set(c, (inDegree.get(c) ?? 0) + 1);
    assert.ok([...inDegree.values()].some((d) => d > 1));
  });

  for (const access of ACCESS_PATHS) {
    it(`builds and checks clean graphs for several seeds (${access}), also after a move`, () => {
      for (const seed of [1, 2, 0xdeadbeef]) {
        const f = t.file(`seed-${seed}-${access}.img`);
        const h = Heap.create(f, { size: 4 << 20, types: WORKLOAD_TYPES, access });
        const b = build(h, seed, 1.5);
        h.close();
        const h2 = Heap.open(f, { access, base: 0x7c00_0000_0000n }); // mmap: a hint, so the base surely moves
        assert.equal(h2.openReport.pointersSwizzled, b.pointers);
        const r = check(h2, seed, 1.5);
        assert.equal(r.ok, true, JSON.stringify(r.mismatches.slice(0, 3)));
        assert.equal(r.nodesMatched, b.nodes);
        assert.equal(validateHeap(h2).ok, true);
        assert.equal(check(h2, seed + 1, 1.5).ok, false, 'another seed does not match');
        h2.close();
      }
    });
  }

  it('detects a single wrong payload and names the node and field', () => {
    const h = open('payload.img', 0x7d00_0000_0000n);
    const victim = walk(h, 3, 'left', 'right');
    h.setU64(victim, 'payload', h.getU64(victim, 'payload') ^ 1n);
    const r = check(h, SEED);
    assert.equal(r.mismatchCount, 1, JSON.stringify(r.mismatches));
    assert.match(r.mismatches[0]!.at, /^wl\.tnode#\d+\(key=\d+\)$/);
    assert.equal(r.mismatches[0]!.field, 'payload');
    assert.equal(validateHeap(h).ok, true, 'structurally sound: only the checker can see it');
    h.crash();
  });

  it('detects a pointer redirected to an identical-looking copy', () => {
    const h = open('lookalike.img');
    const a = walk(h, 1, 'next', 'next');
    const b = h.getPtr(a, 'next');
    h.setPtr(a, 'next', clone(h, b)); // same seq, payload, prev, next
    assert.equal(validateHeap(h).ok, true);
    const r = check(h, SEED);
    assert.equal(r.ok, false);
    const text = JSON.stringify(r.mismatches);
    assert.match(text, /shared/);
    assert.match(text, /type wl\.dnode.*allocated objects/);
    h.crash();
  });

  it('detects a lost share in the DAG and a broken cycle', () => {
    const h = open('dag.img');
    // find a DAG node whose c1 is also reached through c0 chains: any c1 is shared by design
    let g = h.getRoot(4);
    while (h.getPtr(g, 'c1') === 0) g = h.getPtr(g, 'c0');
    h.setPtr(g, 'c1', clone(h, h.getPtr(g, 'c1')));
    const r = check(h, SEED);
    assert.equal(r.ok, false);
    assert.match(JSON.stringify(r.mismatches), /wl\.gnode#\d+ at 0x[0-9a-f]+ \(shared\)/);
    h.crash();

    const h2 = open('ring.img');
    let c = h2.getRoot(5);
    while (h2.getPtr(c, 'next') !== h2.getRoot(5)) c = h2.getPtr(c, 'next');
    h2.setPtr(c, 'next', 0);
    const r2 = check(h2, SEED);
    assert.deepEqual(r2.mismatches.map((m) => [m.field, m.expected, m.actual]), [['next', 'wl.cnode#1', 'null']]);
    h2.crash();
  });

  it('mutate: every cut inside an append leaves a checkable state that recovery repairs', () => {
    for (const step of MUTATE_STEPS) {
      const f = t.copy(golden, `mut-${step}.img`);
      let h = Heap.open(f, { access: 'file' });
      mutate(h, SEED, 5);
      assert.throws(() => mutate(h, SEED, 10, { crashAt: { op: 3, step } }), SimulatedCrash);
      // after the cut, at another base
      h = Heap.open(f, { access: 'file', base: 0x7b00_0000_0000n });
      const r = check(h, SEED, 1, { minMutations: 7 });
      assert.equal(r.ok, true, `${step}: ${JSON.stringify(r.mismatches)}`);
      const inFlight = step === 'alloc' ? 0 : 1;
      assert.equal(r.mutate.length, 7 + inFlight);
      assert.equal(r.mutate.counter, step === 'counter' ? 8 : 7);
      assert.equal(r.mutate.leaked, step === 'alloc' ? 1 : 0);
      assert.equal(validateHeap(h).ok, true);
      const m = mutate(h, SEED, 4);
      assert.equal(m.recovered.freedLeaked, step === 'alloc' ? 1 : 0);
      assert.equal(m.recovered.fixedTail, step === 'link');
      assert.equal(m.recovered.fixedCounter, step === 'link' || step === 'tail');
      h.close();
      h = Heap.open(f, { access: 'file' });
      const r2 = check(h, SEED, 1, { minMutations: 11 + inFlight });
      assert.equal(r2.ok, true, JSON.stringify(r2.mismatches));
      assert.deepEqual(r2.mutate, { counter: 11 + inFlight, length: 11 + inFlight, leaked: 0 });
      assert.equal(check(h, SEED, 1, { minMutations: 30 }).ok, false, 'acknowledged-but-missing appends are a failure');
      h.close();
    }
  });

  it('runs build / mutate / verify end to end through the guest CLI', () => {
    const f = t.file('cli.img');
    const b = cli(['build', '--dev', f, '--seed', '5', '--size', String(8 << 20)]);
    assert.equal(b.code, 0, JSON.stringify(b.out));
    assert.equal(b.out.command, 'build');
    const m = cli(['mutate', '--dev', f, '--seed', '5', '--ops', '10', '--crash-at', '7:link']);
    assert.equal(m.code, 0, JSON.stringify(m.out));
    assert.equal(m.out.crashed, true);
    assert.equal(m.out.acked, 6);
    const v = cli(['verify', '--dev', f, '--seed', '5', '--min-mutations', '6']);
    assert.equal(v.code, 0, JSON.stringify(v.out.check?.mismatches ?? v.out));
    assert.equal(v.out.check.mutate.length, 7);
    const bad = cli(['verify', '--dev', f, '--seed', '6']);
    assert.equal(bad.code, 1);
    assert.equal(bad.out.ok, false);
    const usage = cli(['verify', '--dev', f]);
    assert.equal(usage.code, 2, 'a usage error is not a verdict');
  });
});
