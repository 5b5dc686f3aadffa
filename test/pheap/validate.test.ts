// validateHeap finds every kind of bad pointer and names slab, object and field; damaged
// header, registry, slab table and slab headers are HeapCorruptError naming what is wrong
// (never a crash, never a silently wrong pointer), including through the guest CLI.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { HeapCorruptError } from '../../src/pheap/errors.js';
import { Heap, type Ref } from '../../src/pheap/heap.js';
import { HEADER_SLOTS, SLAB_RELBASE_AT, encodeHeader, readCurrentHeader } from '../../src/pheap/layout.js';
import { type IssueKind, validateHeap } from '../../src/pheap/validate.js';
import { LIST_TYPES, cli, patch, thrown, tmpDir } from './helpers.js';

const corruptError = (fn: () => unknown) => thrown(HeapCorruptError, fn);

describe('pheap validation', () => {
  const t = tmpDir();
  after(() => t.cleanup());

  describe('validateHeap', () => {
    let h: Heap;
    let nodes: Ref[];
    let pair: Ref;
    before(() => {
      h = Heap.create(t.file('v.img'), { size: 1 << 20, slabSize: 4096, types: LIST_TYPES, access: 'file' });
      h.durability = 'deferred';
      nodes = Array.from({ length: 10 }, () => h.alloc('node'));
      pair = h.alloc('pair', (r) => h.setPtr(r, 'a', nodes[0]!));
      h.setPtr(nodes[1]!, 'next', nodes[2]!);
    });
    after(() => h.crash());

    it('accepts a sound heap, including an untyped field pointing to any type', () => {
      h.setPtr(pair, 'b', pair);
      const v = validateHeap(h);
      assert.equal(v.ok, true, JSON.stringify(v.issues));
      assert.equal(v.objects, 12); // root + 10 nodes + pair
      assert.equal(v.nonNullPointers, 3);
    });

    const cases: [IssueKind, string, () => bigint | (() => void)][] = [
      ['outside-heap', 'past the end', () => h.base + BigInt(h.size) + 64n],
      ['outside-heap', 'below the base', () => h.base - 4096n],
      ['into-metadata', 'into the registry', () => h.base + 4096n + 16n],
      ['into-free-slab', 'into a free slab', () => h.base + BigInt(h.slabs[h.slabs.length - 1]!.offset + 128)],
      ['not-object-start', 'into the middle of an object', () => h.base + BigInt(nodes[3]! + 8)],
      ['not-object-start', 'into a slab header', () => h.base + BigInt(h.resolve(nodes[3]!)!.slab.offset + 8)],
      [
        'unallocated-target',
        'to a freed object',
        () => {
          const x = h.alloc('node');
          h.free(x);
          return h.base + BigInt(x);
        },
      ],
      ['type-mismatch', 'to an object of another type', () => h.base + BigInt(pair)],
    ];
    for (const [kind, what, value] of cases) {
      it(`reports ${kind} for a pointer ${what}, naming slab, object and field`, () => {
        const saved = h.getRawPtr(nodes[5]!, 'next');
        const v0 = value();
        h.setRawPtr(nodes[5]!, 'next', v0 as bigint);
        const v = validateHeap(h);
        h.setRawPtr(nodes[5]!, 'next', saved);
        assert.equal(v.ok, false);
        assert.equal(v.issueCount, 1, JSON.stringify(v.issues));
        const i = v.issues[0]!;
        const where = h.resolve(nodes[5]!)!;
        assert.equal(i.kind, kind);
        assert.equal(i.slab, where.slab.index);
        assert.equal(i.object, where.index);
        assert.equal(i.type, 'node');
        assert.equal(i.field, 'next');
        assert.equal(i.pointer, '0x' + (v0 as bigint).toString(16));
        assert.match(i.message, new RegExp(`slab ${where.slab.index} object ${where.index} \\(node .*field next`));
      });
    }

    it('reports a slab whose pointers are relative to another base', () => {
      const s = h.resolve(nodes[0]!)!.slab;
      const saved = s.relBase;
      h.setSlabRelBase(s, saved + 0x1000_0000n);
      const v = validateHeap(h);
      h.setSlabRelBase(s, saved);
      assert.deepEqual(v.issues.map((i) => [i.kind, i.slab]), [['slab-base', s.index]]);
    });

    it('caps the issue list but counts every issue', () => {
      for (const n of nodes) h.setRawPtr(n, 'next', 8n);
      const v = validateHeap(h, { maxIssues: 3 });
      for (const n of nodes) h.setPtr(n, 'next', 0);
      assert.equal(v.issueCount, 10);
      assert.equal(v.issues.length, 3);
    });
  });

  describe('corrupt metadata is HeapCorruptError', () => {
    let golden = '';
    before(() => {
      golden = t.file('golden.img');
      const r = cli(['build', '--dev', golden, '--seed', '7', '--size', String(4 << 20), '--slab-size', '8192', '--access', 'file']);
      assert.equal(r.code, 0, JSON.stringify(r.out));
    });
    const fresh = (name: string) => t.copy(golden, name);

    const viaCli: [string, string, RegExp][] = [
      ['header', 'header', /slot 0: bad magic.*slot 1: checksum mismatch/],
      ['registry', 'registry', /checksum mismatch/],
      ['slab-header', 'slab-header', /slab \d+: checksum mismatch/],
      ['slab-table', 'slab-table', /entry \d+ names unknown type 999/],
    ];
    for (const [what, part, re] of viaCli) {
      it(`corrupt --what ${what} is detected at open, by the library and by verify`, () => {
        const f = fresh(`c-${what}.img`);
        const c = cli(['corrupt', '--dev', f, '--what', what]);
        assert.equal(c.code, 0, JSON.stringify(c.out));
        assert.ok(c.out.edits.length >= 1 && c.out.edits[0].before !== c.out.edits[0].after, 'it changed bytes and says which');
        const e = corruptError(() => Heap.open(f, { access: 'file' }));
        assert.equal(e.part, part);
        assert.match(e.detail, re);
        const v = cli(['verify', '--dev', f, '--seed', '7', '--access', 'file']);
        assert.equal(v.code, 1);
        assert.equal(v.out.ok, false);
        assert.equal(v.out.error, 'HeapCorruptError');
        assert.equal(v.out.part, part);
      });
    }

    it('corrupt --what pointer is found by verify, at the slab/object/field it reports', () => {
      const f = fresh('c-pointer.img');
      const c = cli(['corrupt', '--dev', f, '--what', 'pointer', '--seed', '3']);
      assert.equal(c.code, 0, JSON.stringify(c.out));
      const v = cli(['verify', '--dev', f, '--seed', '7', '--access', 'file', '--base', '0x7e0000000000']);
      assert.equal(v.code, 1);
      const issue = v.out.validation.issues[0];
      assert.equal(v.out.validation.issueCount, 1);
      assert.equal(issue.kind, 'not-object-start');
      assert.deepEqual([issue.slab, issue.object, issue.field], [c.out.slab, c.out.object, c.out.field]);
      assert.ok(v.out.check.mismatchCount >= 1, 'the graph comparison fails too');
    });

    it('names bad magic, unsupported version and impossible geometry', () => {
      const h = readCurrentHeader(fs.readFileSync(golden)).header;
      const f1 = fresh('magic.img');
      for (const s of HEADER_SLOTS) patch(f1, s, Buffer.from('NOTAHEAP'));
      assert.match(corruptError(() => Heap.open(f1, { access: 'file' })).detail, /slot 0: bad magic.*slot 1: bad magic/);
      const f2 = fresh('version.img');
      for (const s of HEADER_SLOTS) patch(f2, s, encodeHeader({ ...h, version: 2 }));
      assert.match(corruptError(() => Heap.open(f2, { access: 'file' })).detail, /unsupported version 2/);
      const f3 = fresh('geometry.img');
      for (const s of HEADER_SLOTS) patch(f3, s, encodeHeader({ ...h, slabSize: h.slabSize * 4 }));
      assert.match(corruptError(() => Heap.open(f3, { access: 'file' })).detail, /slabs do not fit/);
      const f4 = fresh('root.img');
      for (const s of HEADER_SLOTS) patch(f4, s, encodeHeader({ ...h, rootOffset: h.rootOffset + 8 }));
      assert.match(corruptError(() => Heap.open(f4, { access: 'file' })).detail, /root offset/);
    });

    it('names a slab whose progress record matches no base', () => {
      const f = fresh('relbase.img');
      const h = readCurrentHeader(fs.readFileSync(f)).header;
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(0x1234_5000n);
      patch(f, h.slabsOffset + 2 * h.slabSize + SLAB_RELBASE_AT, b);
      const e = corruptError(() => Heap.open(f, { access: 'file' }));
      assert.equal(e.part, 'slab-header');
      assert.match(e.detail, /slab 2 .*relBase 0x12345000/);
    });

    it('refuses a region that is not a heap', () => {
      const z = t.file('zeros.img');
      fs.writeFileSync(z, Buffer.alloc(1 << 16));
      assert.match(corruptError(() => Heap.open(z, { access: 'file' })).message, /heap corrupt: header: slot 0: bad magic/);
      const tiny = t.file('tiny.img');
      fs.writeFileSync(tiny, Buffer.alloc(100));
      assert.equal(corruptError(() => Heap.open(tiny, { access: 'file' })).part, 'region');
    });
  });
});
