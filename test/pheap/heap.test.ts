// Heap basics on real temp files, both access paths: allocation bitmap and field values
// survive reopen, the registry persists, alloc/free are durable in the right order.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { HeapUsageError } from '../../src/pheap/errors.js';
import { Heap } from '../../src/pheap/heap.js';
import { ACCESS_PATHS, CLI, LIST_TYPES, buildList, descending, readList, tmpDir } from './helpers.js';

describe('pheap heap', () => {
  const t = tmpDir();
  after(() => t.cleanup());

  for (const access of ACCESS_PATHS) {
    describe(`${access} path`, () => {
      it('persists allocations, frees and fields across reopen', () => {
        const f = t.file(`alloc-${access}.img`);
        let h = Heap.create(f, { size: 1 << 20, slabSize: 4096, types: LIST_TYPES, access });
        const refs = buildList(h, 600); // 16-byte nodes: several 4 KiB slabs
        const freed = [refs[0]!, refs[100]!, refs[599]!];
        // unlink the head (refs[599]) before freeing it; refs[0]/refs[100] are simply dropped
        h.setRoot(0, refs[598]!);
        h.setPtr(refs[101]!, 'next', refs[99]!);
        h.persist(refs[101]!);
        h.setPtr(refs[1]!, 'next', 0);
        h.persist(refs[1]!);
        for (const r of freed) h.free(r);
        const p = h.alloc('pair', (r) => {
          h.setU32(r, 'tag', 0xdeadbeef);
          h.setF64(r, 'w', 2.5);
          h.setPtr(r, 'a', refs[5]!);
        });
        h.setRoot(1, p);
        assert.equal(h.count('node'), 597);
        const slabsUsed = h.stats().slabsUsed;
        h.close();

        h = Heap.open(f, { access });
        assert.equal(h.count('node'), 597);
        assert.equal(h.stats().slabsUsed, slabsUsed);
        for (const r of freed) assert.equal(h.isAllocated(r), false, `freed ${r} stays free`);
        assert.equal(h.isAllocated(refs[1]!), true);
        const want = descending(599).filter((v) => v !== 100 && v !== 0);
        assert.deepEqual(readList(h), want);
        const q = h.getRoot(1);
        assert.equal(h.getU32(q, 'tag'), 0xdeadbeef);
        assert.equal(h.getF64(q, 'w'), 2.5);
        assert.equal(h.getPtr(q, 'a'), refs[5]);
        assert.equal(h.typeOf(q).name, 'pair');
        // a freed slot is reused by the next allocation of its type
        const again = h.alloc('node');
        assert.ok(freed.includes(again), 'freed slot reused');
        h.close();
      });

      it('persists the type registry (ids, sizes, offsets, targets)', () => {
        const f = t.file(`reg-${access}.img`);
        const h1 = Heap.create(f, { size: 1 << 20, types: LIST_TYPES, access });
        const before = h1.types.all().map((x) => ({ id: x.id, name: x.name, size: x.size, fields: x.fields }));
        h1.close();
        const h2 = Heap.open(f, { access });
        const after = h2.types.all().map((x) => ({ id: x.id, name: x.name, size: x.size, fields: x.fields }));
        assert.deepEqual(after, before);
        const pair = h2.types.byName('pair')!;
        assert.equal(pair.size, 32);
        assert.deepEqual(pair.fields.map((x) => [x.name, x.offset, x.kind]), [['a', 0, 'ptr'], ['b', 8, 'ptr'], ['tag', 16, 'u32'], ['w', 24, 'f64']]);
        assert.equal(pair.fields[0]!.target, h2.types.byName('node')!.id);
        assert.equal(pair.fields[1]!.target, 0, 'untyped pointer');
        assert.deepEqual(pair.ptrWords, [0, 1]);
        h2.close();
      });
    });
  }

  it('drops unpersisted stores at a crash but keeps completed allocations (file path)', () => {
    const f = t.file('crash.img');
    const h = Heap.create(f, { size: 1 << 20, types: LIST_TYPES, access: 'file' });
    const a = h.alloc('node', (r) => h.setU64(r, 'v', 7n));
    h.setRoot(0, a); // setRoot persists
    h.setU64(a, 'v', 8n); // stored, never persisted
    h.crash();
    const h2 = Heap.open(f, { access: 'file' });
    assert.equal(h2.getRoot(0), a);
    assert.equal(h2.getU64(a, 'v'), 7n, 'the unpersisted store is gone, the persisted init is there');
    h2.close();
  });

  it('rejects bad calls with HeapUsageError, never a wild store', () => {
    const f = t.file('usage.img');
    const h = Heap.create(f, { size: 64 * 4096, slabSize: 4096, types: LIST_TYPES, access: 'file' });
    assert.throws(() => h.alloc('nope'), HeapUsageError);
    assert.throws(() => h.free(12345), HeapUsageError);
    assert.throws(() => h.getU64(8, 'v'), HeapUsageError);
    assert.throws(() => h.field('node', 'zzz'), HeapUsageError);
    assert.throws(() => Heap.create(t.file('x.img'), { size: 1 << 20, types: [{ name: 'a', fields: [{ name: 'p', kind: 'ptr', target: 'missing' }] }], access: 'file' }), HeapUsageError);
    // fill the heap: a clean "heap full", not a crash (deferred: no fdatasync per alloc)
    h.durability = 'deferred';
    assert.throws(() => {
      for (;;) h.alloc('node');
    }, /heap full/);
    h.close();
    assert.throws(() => h.alloc('node'), /closed/);
  });

  it('creates a heap in an existing sparse file and uses its size', () => {
    const f = t.file('existing.img');
    fs.writeFileSync(f, '');
    fs.truncateSync(f, 3 << 20);
    const h = Heap.create(f, { types: LIST_TYPES, access: 'file' });
    assert.equal(h.size, 3 << 20);
    h.close();
  });
});

describe('pheap access fallback', () => {
  const t = tmpDir();
  after(() => t.cleanup());

  it('falls back to the file path with a clear message when the addon is not available', () => {
    const f = t.file('fallback.img');
    const r = spawnSync(process.execPath, [CLI, 'build', '--dev', f, '--seed', '3', '--size', String(2 << 20)], {
      env: { ...process.env, PHEAP_NATIVE: 'off' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stdout);
    assert.equal(JSON.parse(r.stdout).access, 'file');
    assert.match(r.stderr, /PHEAP_NO_NATIVE.*native addon disabled by PHEAP_NATIVE=off.*Falling back to the portable file path/s);
    const m = spawnSync(process.execPath, [CLI, 'open', '--dev', f, '--access', 'mmap'], { env: { ...process.env, PHEAP_NATIVE: 'off' }, encoding: 'utf8' });
    assert.equal(m.status, 2, 'explicit mmap without the addon is an error, not a silent fallback');
    assert.match(JSON.parse(m.stdout).message, /mmap access requested but native addon disabled/);
  });
});
