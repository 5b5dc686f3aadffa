// The independent pheap image checker (src/pheap/plugin/checker.ts): images are built and damaged with
// the heap's own code (and raw byte edits, checksums recomputed where the damage must get past
// them), and every branch of the checker must say what it is there to say: true on good heaps
// (fresh, built, mutated, moved, mid-swizzle), false naming the part / slab / object / field on
// every kind of damage, including a slab left unswizzled by the deliberately broken variant.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkPheapFile, checkPheapImage, type PheapCheckOptions, type PheapCheckReport } from '../../src/pheap/plugin/checker.js';
import { SwizzleInterruptedError } from '../../src/pheap/errors.js';
import { Heap, type Ref } from '../../src/pheap/heap.js';
import { HEADER_SLOTS, type Header, SLAB_RELBASE_AT, crc32, encodeHeader, readCurrentHeader } from '../../src/pheap/layout.js';
import { nativeStatus } from '../../src/pheap/mmap.js';
import { CLI as HEAP_CLI, LIST_TYPES, buildList, cli as heapCli, patch, thrown, tmpDir } from './helpers.js';

const CHECKER_CLI = fileURLToPath(new URL('../../src/pheap/plugin/checker-cli.js', import.meta.url));
const SIZE = 1 << 20;
const SLAB = 4096;
const B0 = 0x5000_0000_0000n;
const B1 = 0x3000_0000_0000n;
const N = 300; // nodes: 250 per 4 KiB slab, so slab 1 is full and slab 2 holds 50

// ------------------------------------------------------------------ fixtures

const read = (f: string): Buffer => fs.readFileSync(f);
const check = (f: string, opts?: PheapCheckOptions): PheapCheckReport => checkPheapImage(read(f), opts);
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const u64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};
const header = (f: string): Header => readCurrentHeader(read(f)).header;

/** Writes a new current header (seq + 1, into the other slot) with `changes`. */
function rewriteHeader(f: string, changes: Partial<Header>): void {
  const h = header(f);
  const next = { ...h, ...changes, seq: h.seq + 1n };
  patch(f, HEADER_SLOTS[Number(next.seq & 1n)], encodeHeader(next));
}
/** Overwrites a u32 of the current header slot and recomputes its checksum. */
function patchHeaderU32(f: string, at: number, v: number): void {
  const slot = HEADER_SLOTS[readCurrentHeader(read(f)).slot];
  const b = Buffer.from(read(f).subarray(slot, slot + 128));
  b.writeUInt32LE(v, at);
  b.writeUInt32LE(crc32(b, 0, 124), 124);
  patch(f, slot, b);
}
const slabOffset = (f: string, i: number) => header(f).slabsOffset + i * header(f).slabSize;
/** Overwrites a u32 of slab i's header; the checksum is recomputed unless `keepCrc`. */
function patchSlabU32(f: string, i: number, at: number, v: number, keepCrc = false): void {
  const off = slabOffset(f, i);
  const b = Buffer.from(read(f).subarray(off, off + 64));
  b.writeUInt32LE(v >>> 0, at);
  if (!keepCrc) b.writeUInt32LE(crc32(b, 0, 28), 28);
  patch(f, off, b);
}

/** Record offsets of the registry: type i (1-based) and its field k, relative to the registry. */
function registryLayout(reg: Buffer): { type: number[]; field: number[][]; end: number } {
  const type: number[] = [];
  const field: number[][] = [];
  let p = 24;
  for (let i = 0; i < reg.readUInt32LE(12); i++) {
    type[i + 1] = p;
    const nf = reg.readUInt32LE(p + 8);
    p += 64;
    field[i + 1] = [];
    for (let k = 0; k < nf; k++, p += 48) field[i + 1]![k] = p;
  }
  return { type, field, end: p };
}
/** Edits the registry in place; its checksum is recomputed (from the edited head) unless `keepCrc`. */
function editRegistry(f: string, edit: (reg: Buffer, at: ReturnType<typeof registryLayout>) => void, keepCrc = false): void {
  const h = header(f);
  const reg = Buffer.from(read(f).subarray(h.registryOffset, h.registryOffset + h.registryBytes));
  edit(reg, registryLayout(reg));
  const body = reg.readUInt32LE(16);
  if (!keepCrc && 24 + body <= reg.length) reg.writeUInt32LE(crc32(reg, 24, 24 + body, crc32(reg, 8, 20)), 20);
  patch(f, h.registryOffset, reg);
}

interface Built {
  file: string;
  nodes: Ref[];
  pairs: Ref[];
}

/** A heap at B0: root, a list of N nodes (slabs 1-2), 3 pairs (slab 3), root r0 -> list, r1 -> pair 0. */
function buildHeap(file: string): Built {
  const h = Heap.create(file, { size: SIZE, slabSize: SLAB, types: LIST_TYPES, access: 'file', base: B0 });
  const nodes = buildList(h, N);
  const pairs = [0, 1, 2].map(() => h.alloc('pair'));
  h.setPtr(pairs[0]!, 'a', nodes[0]!);
  h.setPtr(pairs[0]!, 'b', pairs[1]!); // untyped pointer: any type
  h.setPtr(pairs[1]!, 'a', nodes[5]!);
  h.setPtr(pairs[1]!, 'b', nodes[7]!);
  h.setU32(pairs[0]!, 'tag', 7);
  h.setRoot(1, pairs[0]!);
  h.setRootU64(0, 42n);
  h.close();
  return { file, nodes, pairs };
}

/** Opens at the stored base (no swizzle), sets one raw pointer field, closes. */
function setRaw(f: string, ref: Ref, field: string, v: bigint): void {
  const h = Heap.open(f, { access: 'file' });
  h.setRawPtr(ref, field, v);
  h.persist(ref, field);
  h.close();
}

const kinds = (r: PheapCheckReport) => r.violations.map((v) => `${v.part}/${v.kind}`);
function assertOk(r: PheapCheckReport): void {
  assert.equal(r.ok, true, JSON.stringify(r.violations.slice(0, 3)));
  assert.equal(r.violationCount, 0);
  assert.match(r.message, /^heap image consistent/);
}
/** Exactly one violation (or the first of several), of this part/kind, whose message matches. */
function assertViolation(r: PheapCheckReport, part: string, kind: string, msg: RegExp, opts: { only?: boolean } = {}): void {
  assert.equal(r.ok, false, 'expected a violation');
  if (opts.only ?? true) assert.equal(r.violationCount, 1, JSON.stringify(r.violations));
  const v = r.violations.find((x) => x.part === part && x.kind === kind);
  assert.ok(v, `no ${part}/${kind} in ${JSON.stringify(kinds(r))}`);
  assert.match(v.message, msg);
  assert.equal(Object.keys(r).at(-1), 'message', 'message is the last key');
}

function checkerCli(args: string[], env: Record<string, string> = {}): { code: number | null; out: Record<string, any>; stdout: string } {
  const r = spawnSync(process.execPath, [CHECKER_CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, out: JSON.parse(r.stdout) as Record<string, any>, stdout: r.stdout };
}

// ------------------------------------------------------------------ tests

describe('pheap independent image checker', () => {
  const t = tmpDir();
  after(() => t.cleanup());
  let golden: Built;
  before(() => {
    golden = buildHeap(t.file('golden.img'));
  });
  const fresh = (name: string) => t.copy(golden.file, name);

  describe('good heaps', () => {
    it('accepts a built heap and reports its shape (header, types, counts, root fields)', () => {
      const r = check(golden.file);
      assertOk(r);
      assert.equal(r.objects, 1 + N + 3);
      assert.deepEqual(r.counts, { 'pheap.root': 1, node: N, pair: 3 });
      assert.equal(r.nonNullPointers, N - 1 + 4 + 2);
      assert.equal(r.header?.base, '0x500000000000');
      assert.deepEqual(r.swizzle, { state: 'idle', base: '0x500000000000' });
      assert.equal(r.root?.u0, '42');
      assert.deepEqual(r.slabs, { total: header(golden.file).slabCount, assigned: 4, free: header(golden.file).slabCount - 4 });
      assert.deepEqual(r.types?.map((x) => [x.name, x.pointerFields.length]), [['pheap.root', 16], ['node', 1], ['pair', 2]]);
      assert.match(r.message, /idle at base 0x500000000000/);
    });

    it('accepts a fresh heap (one header copy, the other slot empty) and one moved twice (both copies valid)', () => {
      const f = t.file('fresh.img');
      Heap.create(f, { size: SIZE, slabSize: SLAB, types: LIST_TYPES, access: 'file', base: B0 }).close();
      const r = check(f);
      assertOk(r);
      assert.equal(r.header?.otherSlot, 'empty');
      const m = fresh('moved.img');
      Heap.open(m, { access: 'file', base: B1 }).close();
      Heap.open(m, { access: 'file', base: 0x7f00_0000_0000n }).close();
      const r2 = check(m, { base: 0x7f00_0000_0000n });
      assertOk(r2);
      assert.equal(r2.header?.otherSlot, 'ok');
      assert.equal(r2.nonNullPointers, r.nonNullPointers + N - 1 + 6);
    });

    it('accepts the seeded workload after build, mutate and a move through the heap CLI', () => {
      const f = t.file('wl.img');
      assert.equal(heapCli(['build', '--dev', f, '--seed', '7', '--access', 'file', '--size', String(4 << 20)]).code, 0);
      assert.equal(heapCli(['mutate', '--dev', f, '--seed', '7', '--ops', '25', '--access', 'file', '--base', '0x300000000000']).code, 0);
      const r = check(f, { base: B1, minCount: { 'wl.mnode': 25 }, minRoot: { u0: 25n } });
      assertOk(r);
      assert.equal(r.root?.u0, '25');
      assert.equal(r.counts['wl.mnode'], 25);
    });

    (nativeStatus().available ? it : it.skip)('accepts a heap opened through a real mmap (kernel-chosen base)', () => {
      const f = fresh('mmap.img');
      const h = Heap.open(f, { access: 'mmap' });
      const base = h.base;
      h.close();
      assertOk(check(f, { base }));
    });

    it('accepts a heap cut in the middle of a swizzle pass (finished slabs at to, a torn slab mixed)', () => {
      const f = fresh('mid.img');
      thrown(SwizzleInterruptedError, () => Heap.open(f, { access: 'file', base: B1, stopAfterSlabs: 2, tornSlab: true }));
      const r = check(f);
      assertOk(r);
      assert.deepEqual(r.swizzle, { state: 'active', base: '0x500000000000', from: '0x500000000000', to: '0x300000000000', slabsAtFrom: 2, slabsAtTo: 2 });
      assert.match(r.message, /swizzle pass 0x500000000000 -> 0x300000000000 in flight/);
      // ... but it is not idle at any base
      assertViolation(check(f, { base: B1 }), 'header', 'base', /a swizzle pass 0x500000000000 -> 0x300000000000 is in flight/);
    });
  });

  describe('the deliberately broken swizzle (FTH_BROKEN_SUT=pheap:skip-swizzle-slab)', () => {
    it('says false on a heap with an unswizzled slab, naming slab, object, field and the old base', () => {
      const f = t.file('broken.img');
      assert.equal(heapCli(['build', '--dev', f, '--seed', '3', '--access', 'file', '--size', String(4 << 20)]).code, 0);
      assertOk(check(f));
      const open = heapCli(['open', '--dev', f, '--access', 'file', '--base', '0x300000000000'], { FTH_BROKEN_SUT: 'pheap:skip-swizzle-slab' });
      // The heap's own bookkeeping does not notice: every slab is recorded as swizzled.
      assert.equal(open.code, 0);
      assert.equal(open.out.slabsSwizzled, open.out.stats.slabsUsed);
      assert.equal(open.out.strayPointers, 0);
      const r = check(f);
      assert.equal(r.ok, false);
      assert.equal(r.unswizzledSlabs.length, 1);
      const u = r.unswizzledSlabs[0]!;
      assert.deepEqual([u.slab, u.type, u.relBase, u.validAtBase], [1, 'wl.snode', '0x300000000000', '0x500000000000']);
      assert.equal(u.outsideHeap, u.nonNullPointers);
      assert.equal(r.violationCount, u.nonNullPointers);
      const v = r.violations[0]!;
      assert.deepEqual([v.part, v.kind, v.slab, v.object, v.type, v.field], ['pointer', 'outside-heap', 1, 0, 'wl.snode', 'next']);
      assert.match(v.message, /^slab 1 object 0 \(wl\.snode at 0x[0-9a-f]+\) field next = 0x5000[0-9a-f]+: points outside the heap \[0x300000000000, 0x300000400000\)/);
      assert.match(r.message, /slab 1 \(wl\.snode\) is not swizzled: all \d+ of its non-null pointers lie outside the heap \[0x300000000000, 0x300000400000\); they are valid for the old base 0x500000000000, yet its swizzle record says 0x300000000000/);
      // Through the CLI: exit 1, the same message last.
      const c = checkerCli(['--image', f]);
      assert.equal(c.code, 1);
      assert.equal(c.out.message, r.message);
    });

    it('changes nothing without the variable (or with another variant)', () => {
      const f = t.file('notbroken.img');
      assert.equal(heapCli(['build', '--dev', f, '--seed', '3', '--access', 'file', '--size', String(4 << 20)]).code, 0);
      assert.equal(heapCli(['open', '--dev', f, '--access', 'file', '--base', '0x300000000000'], { FTH_BROKEN_SUT: 'pmem-ha-standby:skip-verify' }).code, 0);
      assertOk(check(f, { base: B1 }));
    });
  });

  describe('image and header', () => {
    it('refuses an image too small for a heap', () => {
      const f = t.file('tiny.img');
      fs.writeFileSync(f, Buffer.alloc(100));
      assertViolation(check(f), 'image', 'size', /image of 100 bytes is too small/);
    });

    it('refuses an image with no valid header copy (zeros; corrupted; unknown version)', () => {
      const z = t.file('zeros.img');
      fs.writeFileSync(z, Buffer.alloc(8192));
      assertViolation(check(z), 'header', 'no-valid-copy', /slot 0: no header magic .*slot 1: no header magic/);
      const c = fresh('hdr-corrupt.img');
      assert.equal(heapCli(['corrupt', '--dev', c, '--what', 'header']).code, 0);
      assertViolation(check(c), 'header', 'no-valid-copy', /slot 1: checksum mismatch/);
      const v = fresh('hdr-version.img');
      rewriteHeader(v, { version: 2 }); // slot 0 now magic + good crc but version 2: slot 1 still current
      const rv = check(v);
      assertOk(rv);
      assert.match(rv.notes[0]!, /header slot 0 unreadable, ignored .*format version 2/);
      patch(v, 2048, encodeHeader({ ...header(v), version: 2 }));
      assertViolation(check(v), 'header', 'no-valid-copy', /slot 0: format version 2, expected 1; slot 1: format version 2/);
    });

    it('notes a torn older header copy but uses the current one', () => {
      const f = fresh('torn-hdr.img');
      Heap.open(f, { access: 'file', base: B1 }).close(); // both slots valid now
      const cur = readCurrentHeader(read(f)).slot;
      const older = HEADER_SLOTS[1 - cur];
      patch(f, older + 30, Uint8Array.of(read(f)[older + 30]! ^ 0xff));
      const r = check(f);
      assertOk(r);
      assert.match(r.header!.otherSlot, /checksum mismatch/);
      assert.match(r.notes[0]!, new RegExp(`header slot ${1 - cur} unreadable`));
    });

    it('refuses two valid copies with the same seq, or that disagree on the immutable layout', () => {
      const f = fresh('same-seq.img');
      const h = header(f);
      patch(f, 0, encodeHeader(h)); // slot 1 holds seq 1; slot 0 now too
      assertViolation(check(f), 'header', 'copies', /both header copies carry seq 1/);
      const g = fresh('disagree.img');
      patch(g, 0, encodeHeader({ ...header(g), seq: 0n, uuid: 12345n, slabSize: 8192 }));
      assertViolation(check(g), 'header', 'copies', /disagree on the immutable layout: slabSize 4096 vs 8192, uuid/);
    });

    const geometry: [string, (f: string) => void, RegExp][] = [
      ['the header size field', (f) => patchHeaderU32(f, 12, 64), /header size field 64, expected 128/],
      ['a region larger than the image', (f) => rewriteHeader(f, { regionSize: 2 * SIZE }), /records region size 2097152 but the image has 1048576 bytes/],
      ['a slab size not a multiple of 4 KiB', (f) => rewriteHeader(f, { slabSize: 1000 }), /slab size 1000 is not a positive multiple of 4096/],
      ['no slabs', (f) => rewriteHeader(f, { slabCount: 0 }), /no slabs/],
      ['a registry over the header slots', (f) => rewriteHeader(f, { registryOffset: 2048 }), /registry at 2048 overlaps the header slots/],
      ['a registry too small for its head', (f) => rewriteHeader(f, { registryBytes: 8 }), /registry of 8 bytes cannot hold its head/],
      ['a slab table over the registry', (f) => rewriteHeader(f, { slabTableOffset: 4096 + 100 }), /slab table at 4196 overlaps the registry/],
      ['slabs over the slab table', (f) => rewriteHeader(f, { slabsOffset: header(f).slabTableOffset + 4 }), /slabs at \d+ overlap the slab table/],
      ['slabs past the region', (f) => rewriteHeader(f, { slabSize: 8192 }), /slabs of 8192 B from \d+ end at \d+, past the region/],
      ['a bad base', (f) => rewriteHeader(f, { base: 0x1234n }), /base 0x1234 is not a valid mapping base/],
      ['an active pass with a null base', (f) => rewriteHeader(f, { swzState: 1, swzFrom: B0, swzTo: 0n }), /swizzle pass 0x500000000000 -> 0x0 has an invalid base/],
      ['an active pass between overlapping ranges', (f) => rewriteHeader(f, { swzState: 1, swzFrom: B0, swzTo: B0 + 4096n }), /between overlapping ranges/],
      ['an unknown swizzle state', (f) => rewriteHeader(f, { swzState: 7 }), /unknown swizzle state 7/],
    ];
    for (const [what, damage, msg] of geometry)
      it(`refuses a current header with ${what}`, () => {
        const f = fresh(`geo-${what.replaceAll(' ', '-')}.img`);
        damage(f);
        const r = check(f);
        assertViolation(r, 'header', 'geometry', msg, { only: false });
        assert.ok(r.violations.every((v) => v.part === 'header'), JSON.stringify(kinds(r)));
      });

    it('checks the expected base (--base)', () => {
      assertOk(check(golden.file, { base: B0 }));
      assertViolation(check(golden.file, { base: B1 }), 'header', 'base', /header records base 0x500000000000 as current, expected 0x300000000000/);
    });
  });

  describe('type registry', () => {
    const cases: [string, (reg: Buffer, at: ReturnType<typeof registryLayout>) => void, RegExp, boolean?][] = [
      ['bad magic', (r) => void (r[0] = 0x51), /bad magic "QHEAPREG"/],
      ['a body past the registry area', (r) => r.writeUInt32LE(r.length, 16), /body of 16384 bytes exceeds the registry area/],
      ['a flipped body byte (checksum)', (r, at) => void (r[at.type[2]! + 16] ^= 1), /checksum mismatch/, true],
      ['an unknown version', (r) => r.writeUInt32LE(2, 8), /version 2, expected 1/],
      ['more types than records', (r) => r.writeUInt32LE(4, 12), /type record 4 runs past the body/],
      ['an empty type name', (r, at) => r.writeUInt32LE(0, at.type[2]! + 12), /type record 2: name length 0/],
      ['a wrong type id', (r, at) => r.writeUInt32LE(5, at.type[2]!), /type node has id 5, expected 2/],
      ['a duplicate type name', (r, at) => r.write('node', at.type[3]! + 16, 'latin1'), /type name node registered twice/],
      ['a bad type size', (r, at) => r.writeUInt32LE(12, at.type[2]! + 4), /type node has size 12/],
      ['more fields than records', (r, at) => r.writeUInt32LE(5, at.type[3]! + 8), /type pair field 4 runs past the body/],
      ['an empty field name', (r, at) => r.writeUInt32LE(0, at.field[2]![0]! + 12), /type node field 0: name length 0/],
      ['an unknown field kind', (r, at) => r.writeUInt32LE(9, at.field[2]![0]!), /node\.next: unknown field kind 9/],
      ['a duplicate field', (r, at) => (r.writeUInt32LE(4, at.field[2]![1]! + 12), r.write('next', at.field[2]![1]! + 16, 'latin1')), /node\.next: field declared twice/],
      ['a misaligned field', (r, at) => r.writeUInt32LE(4, at.field[2]![1]! + 4), /node\.v: u64 at offset 4 is misaligned or outside the 16-byte object/],
      ['a field outside its object', (r, at) => r.writeUInt32LE(16, at.field[2]![1]! + 4), /node\.v: u64 at offset 16 is misaligned or outside/],
      ['a pointer to a type that does not exist', (r, at) => r.writeUInt32LE(9, at.field[2]![0]! + 8), /node\.next: target type 9 does not exist \(3 types\)/],
      ['a target on an integer field', (r, at) => r.writeUInt32LE(2, at.field[2]![1]! + 8), /node\.v: a u64 field with a target type/],
      ['a body longer than its records', (r) => r.writeUInt32LE(r.readUInt32LE(16) + 48, 16), /the 3 type records end 48 bytes before the body does/],
      ['type 1 not the root type', (r, at) => r.write('pheap.ro0t', at.type[1]! + 16, 'latin1'), /type 1 is "pheap\.ro0t", not pheap\.root/],
    ];
    for (const [what, edit, msg, keepCrc] of cases)
      it(`refuses ${what}`, () => {
        const f = fresh(`reg-${what.replaceAll(' ', '-')}.img`);
        editRegistry(f, edit, keepCrc);
        assertViolation(check(f), 'registry', 'decode', msg);
      });

    it('refuses the registry damage of the heap CLI (corrupt --what registry)', () => {
      const f = fresh('reg-cli.img');
      assert.equal(heapCli(['corrupt', '--dev', f, '--what', 'registry']).code, 0);
      assertViolation(check(f), 'registry', 'decode', /checksum mismatch/);
    });
  });

  describe('slab table, slab headers, bitmaps, root', () => {
    it('refuses a slab table entry naming an unknown type; pointers into that slab are into-bad-slab', () => {
      const f = fresh('table.img');
      patch(f, header(f).slabTableOffset + 4 * 3, u32(999)); // the pairs' slab
      const r = check(f);
      assertViolation(r, 'slab-table', 'unknown-type', /slab table entry 3 names type 999, which is not registered \(3 types\)/, { only: false });
      assert.deepEqual(kinds(r), ['slab-table/unknown-type', 'pointer/into-bad-slab']);
      assert.match(r.violations[1]!.message, /^slab 0 object 0 \(pheap\.root at 0x[0-9a-f]+\) field r1 = 0x[0-9a-f]+: lands in slab 3, whose header or table entry is unusable/);
      const c = fresh('table-cli.img');
      assert.equal(heapCli(['corrupt', '--dev', c, '--what', 'slab-table']).code, 0);
      assertViolation(check(c), 'slab-table', 'unknown-type', /slab table entry 3 names type 999/, { only: false });
    });

    const slabCases: [string, (f: string) => void, string, RegExp][] = [
      ['bad magic', (f) => patchSlabU32(f, 2, 0, 0x12345678), 'magic', /slab 2 \(node\): bad slab header magic 0x12345678/],
      ['a checksum mismatch', (f) => patchSlabU32(f, 2, 12, 7, true), 'checksum', /slab 2 \(node\): slab header checksum mismatch/],
      ['a type other than the table says', (f) => patchSlabU32(f, 2, 4, 3), 'geometry', /header says type 3, slab table says 2/],
      ['a wrong slab index', (f) => patchSlabU32(f, 2, 24, 9), 'geometry', /header says slab index 9/],
      ['an object size other than the registry says', (f) => patchSlabU32(f, 2, 8, 24), 'geometry', /object size 24, the registry says 16/],
      ['a wrong header size field', (f) => patchSlabU32(f, 2, 16, 60), 'geometry', /header size field 60, expected 64/],
      ['no objects', (f) => patchSlabU32(f, 2, 12, 0), 'geometry', /no objects/],
      ['objects over the bitmap', (f) => patchSlabU32(f, 2, 20, 72), 'geometry', /objects at 72 overlap the header or the 8-word bitmap/],
      ['objects past the slab end', (f) => patchSlabU32(f, 2, 12, 251), 'geometry', /251 objects of 16 B from 96 overrun the 4096-byte slab/],
    ];
    for (const [what, damage, kind, msg] of slabCases)
      it(`refuses a slab header with ${what}`, () => {
        const f = fresh(`slab-${what.replaceAll(' ', '-')}.img`);
        damage(f);
        const r = check(f);
        assertViolation(r, 'slab-header', kind, msg, { only: false });
        // The slab's objects are not walked; the only other violation: root.r0 -> the list head
        // (node 299, in slab 2) lands in an unusable slab.
        assert.deepEqual(kinds(r).slice(1), ['pointer/into-bad-slab']);
        assert.equal(r.violations[1]!.field, 'r0');
      });

    it('refuses the slab-header damage of the heap CLI (corrupt --what slab-header)', () => {
      const f = fresh('slab-cli.img');
      const c = heapCli(['corrupt', '--dev', f, '--what', 'slab-header', '--seed', '1']);
      assert.equal(c.code, 0);
      const r = check(f);
      assertViolation(r, 'slab-header', 'checksum', new RegExp(`^slab ${c.out.slab} \\(\\w+\\): slab header checksum mismatch`), { only: false });
      assert.equal(r.violations[0]!.slab, c.out.slab);
    });

    it('refuses a swizzle record (relBase) other than the idle base', () => {
      const f = fresh('relbase.img');
      patch(f, slabOffset(f, 1) + SLAB_RELBASE_AT, u64(B1));
      assertViolation(check(f), 'slab-header', 'rel-base', /slab 1 \(node\): swizzle record relBase 0x300000000000, but the heap is idle at 0x500000000000/);
    });

    it('refuses allocation bits beyond the last object', () => {
      const f = fresh('bitmap.img');
      const at = slabOffset(f, 1) + 64 + 4 * 7; // 250 objects: word 7 holds objects 224..249, bits 26-31 beyond
      patch(f, at, u32(read(f).readUInt32LE(at) | (1 << 30)));
      assertViolation(check(f), 'bitmap', 'beyond-last', /slab 1 \(node\): allocation bits set beyond its last object \(250\)/);
    });

    it('refuses a root offset that is not an allocated root object', () => {
      const f = fresh('root-node.img');
      rewriteHeader(f, { rootOffset: golden.nodes[3]! });
      assertViolation(check(f), 'root', 'root', /header root offset 0x[0-9a-f]+ is not an allocated pheap\.root object: it is a node/);
      const g = fresh('root-zero.img');
      rewriteHeader(g, { rootOffset: 0 });
      assertViolation(check(g), 'root', 'root', /header root offset 0x0 is not an allocated pheap\.root object: offset 0x0/);
      const h = fresh('root-far.img');
      rewriteHeader(h, { rootOffset: 2 * SIZE });
      assertViolation(check(h), 'root', 'root', /header root offset 0x200000 is not an allocated/);
      const k = fresh('root-meta.img');
      rewriteHeader(k, { rootOffset: 4096 });
      assertViolation(check(k), 'root', 'root', /lands in heap metadata at offset 0x1000/);
    });
  });

  describe('pointers', () => {
    const ptrCases: [string, (b: Built, f: string) => [Ref, string, bigint], string, RegExp][] = [
      ['outside the heap', (b) => [b.nodes[10]!, 'next', B0 + BigInt(SIZE) + 16n], 'outside-heap', /points outside the heap \[0x500000000000, 0x500000100000\)/],
      ['into heap metadata', (b) => [b.nodes[10]!, 'next', B0 + 4096n], 'into-metadata', /lands in heap metadata at offset 0x1000/],
      ['into a free slab', (b, f) => [b.nodes[10]!, 'next', B0 + BigInt(slabOffset(f, 9) + 96)], 'into-free-slab', /lands in free slab 9/],
      ['into a slab header', (b, f) => [b.nodes[10]!, 'next', B0 + BigInt(slabOffset(f, 1) + 8)], 'into-slab-metadata', /lands in the header\/bitmap of slab 1/],
      ['into the middle of an object', (b) => [b.nodes[10]!, 'next', B0 + BigInt(b.nodes[4]! + 8)], 'not-object-start', /lands 8 bytes into object 4 of slab 1/],
      ['past the last object of a slab', (b, f) => [b.pairs[2]!, 'a', B0 + BigInt(slabOffset(f, 3) + 80 + 125 * 32)], 'not-object-start', /lands past the last object of slab 3/],
      ['to a free object', (b) => [b.nodes[10]!, 'next', B0 + BigInt(b.nodes[299]! + 16 * 10)], 'unallocated-target', /lands on free object 59 of slab 2/],
      ['to an object of the wrong type', (b) => [b.pairs[2]!, 'a', B0 + BigInt(b.pairs[1]!)], 'type-mismatch', /field declares node, but the target is a pair \(slab 3 object 1\)/],
    ];
    for (const [what, bad, kind, msg] of ptrCases)
      it(`refuses a pointer ${what}, naming slab, object and field`, () => {
        const f = fresh(`ptr-${what.replaceAll(' ', '-')}.img`);
        const [ref, field, v] = bad(golden, f);
        setRaw(f, ref, field, v);
        const r = check(f);
        assertViolation(r, 'pointer', kind, msg);
        const x = r.violations[0]!;
        const slab = Math.floor((ref - header(f).slabsOffset) / SLAB);
        assert.equal(x.slab, slab);
        assert.equal(x.field, field);
        assert.equal(x.ref, '0x' + ref.toString(16));
        assert.equal(x.pointer, '0x' + v.toString(16));
        assert.match(x.message, new RegExp(`^slab ${slab} object ${x.object} \\(${x.type} at ${x.ref}\\) field ${field} = ${x.pointer}: `));
      });

    it('accepts an untyped pointer to any type', () => {
      const f = fresh('ptr-any.img');
      setRaw(f, golden.pairs[2]!, 'b', B0 + BigInt(golden.pairs[0]!));
      assertOk(check(f));
    });

    it('refuses a pointer freed under its holder (heap.free without unlinking)', () => {
      const f = fresh('ptr-freed.img');
      const h = Heap.open(f, { access: 'file' });
      h.free(golden.nodes[5]!); // node 6's next and pair 1's a point to it
      h.close();
      const r = check(f);
      assert.deepEqual(kinds(r), ['pointer/unallocated-target', 'pointer/unallocated-target']);
      assert.deepEqual(r.violations.map((v) => [v.type, v.field]), [['node', 'next'], ['pair', 'a']]);
      assert.equal(r.counts.node, N - 1);
    });

    it('reports the pointer damage of the heap CLI (corrupt --what pointer) as exactly that pointer', () => {
      const f = fresh('ptr-cli.img');
      const c = heapCli(['corrupt', '--dev', f, '--what', 'pointer', '--seed', '2']);
      assert.equal(c.code, 0);
      const r = check(f);
      assertViolation(r, 'pointer', 'not-object-start', /lands 8 bytes into object/);
      assert.deepEqual([r.violations[0]!.slab, r.violations[0]!.object, r.violations[0]!.field], [c.out.slab, c.out.object, c.out.field]);
    });

    it('calls a slab unswizzled only when all its non-null pointers are outside, and finds no old base for garbage', () => {
      const f = fresh('garbage.img');
      const h = Heap.open(f, { access: 'file' });
      h.setRawPtr(golden.pairs[0]!, 'a', 0x10n);
      h.setRawPtr(golden.pairs[0]!, 'b', 0n);
      h.setRawPtr(golden.pairs[1]!, 'a', 0n);
      h.setRawPtr(golden.pairs[1]!, 'b', 0n);
      h.persist(golden.pairs[0]!);
      h.persist(golden.pairs[1]!);
      h.close();
      const r = check(f);
      assertViolation(r, 'pointer', 'outside-heap', /field a = 0x10: points outside/);
      assert.equal(r.unswizzledSlabs.length, 1);
      assert.equal(r.unswizzledSlabs[0]!.validAtBase, undefined);
      assert.match(r.message, /slab 3 \(pair\) is not swizzled: all 1 of its non-null pointers lie outside the heap \[0x500000000000, 0x500000100000\), yet its swizzle record says 0x500000000000/);
      // One bad pointer among good ones: a bad pointer, not an unswizzled slab.
      const g = fresh('one-bad.img');
      setRaw(g, golden.nodes[10]!, 'next', 0x10n);
      const r2 = check(g);
      assert.equal(r2.unswizzledSlabs.length, 0);
      assert.match(r2.message, /^1 violation\(s\): slab 1 object 10 \(node at 0x[0-9a-f]+\) field next = 0x10: points outside/);
    });

    it('in a pass in flight: a finished slab must be to-relative, an unfinished one from- or to-relative, records from or to', () => {
      const f = fresh('mid-bad.img');
      thrown(SwizzleInterruptedError, () => Heap.open(f, { access: 'file', base: B1, stopAfterSlabs: 1, tornSlab: true }));
      const r0 = check(f);
      assertOk(r0);
      assert.deepEqual([r0.swizzle?.slabsAtTo, r0.swizzle?.slabsAtFrom], [1, 3]);
      // The root's slab is done (relBase = to): a from-relative pointer there is outside its heap.
      const root = header(f).rootOffset;
      patch(f, root + 0, u64(B0 + BigInt(golden.nodes[N - 1]!)));
      assertViolation(check(f), 'pointer', 'outside-heap', /field r0 = 0x5000[0-9a-f]+: points outside the heap \[0x300000000000, 0x300000100000\) \(the base the header/);
      // An unfinished slab (slab 3, the pairs) may hold either; garbage in neither range is caught.
      const g = t.copy(f, 'mid-bad2.img');
      patch(g, root + 0, u64(B1 + BigInt(golden.nodes[N - 1]!)));
      assertOk(check(g));
      patch(g, golden.pairs[1]! + 8, u64(0x7000_0000_0000n));
      assertViolation(check(g), 'pointer', 'outside-heap', /field b = 0x700000000000: points outside the heap \[0x500000000000, 0x500000100000\) or \[0x300000000000, 0x300000100000\) \(the bases/);
      // A progress record that is neither from nor to.
      const k = t.copy(f, 'mid-bad3.img');
      patch(k, root + 0, u64(B1 + BigInt(golden.nodes[N - 1]!)));
      patch(k, slabOffset(k, 3) + SLAB_RELBASE_AT, u64(0x7000_0000_0000n));
      assertViolation(check(k), 'slab-header', 'rel-base', /slab 3 \(pair\): swizzle record relBase 0x700000000000 is neither the pass's from 0x500000000000 nor its to 0x300000000000/, { only: false });
    });
  });

  describe('requirements', () => {
    it('at least N objects of a type', () => {
      assertOk(check(golden.file, { minCount: { node: N, pair: 3 } }));
      assertViolation(check(golden.file, { minCount: { node: N + 1 } }), 'requirement', 'min-count', /required >= 301 allocated node objects, the image holds 300/);
      assertViolation(check(golden.file, { minCount: { nope: 1 } }), 'requirement', 'min-count', /the registry has no type nope/);
    });

    it('a root integer field of at least N', () => {
      assertOk(check(golden.file, { minRoot: { u0: 42n, u1: 0n } }));
      assertViolation(check(golden.file, { minRoot: { u0: 43n } }), 'requirement', 'min-root', /required root\.u0 >= 43, the image holds 42/);
      assertViolation(check(golden.file, { minRoot: { r0: 1n } }), 'requirement', 'min-root', /pheap\.root has no integer field r0/);
      const f = fresh('req-noroot.img');
      rewriteHeader(f, { rootOffset: 0 });
      const r = check(f, { minRoot: { u0: 1n } });
      assert.deepEqual(kinds(r), ['root/root', 'requirement/min-root']);
      assert.match(r.violations[1]!.message, /there is no root object/);
    });
  });

  describe('report', () => {
    it('lists at most maxViolations, counts them all, and says the first in its message', () => {
      const f = t.file('many.img');
      assert.equal(heapCli(['build', '--dev', f, '--seed', '3', '--access', 'file', '--size', String(4 << 20)]).code, 0);
      assert.equal(heapCli(['open', '--dev', f, '--access', 'file', '--base', '0x300000000000'], { FTH_BROKEN_SUT: 'pheap:skip-swizzle-slab' }).code, 0);
      const r = check(f, { maxViolations: 3 });
      assert.equal(r.violations.length, 3);
      assert.ok(r.violationCount > 100);
      assert.match(r.message, new RegExp(`^${r.violationCount} violation\\(s\\): slab 1 \\(wl.snode\\) is not swizzled`));
      assert.equal(check(f).violations.length, 10, 'default: 10');
    });

    it('checkPheapFile gives a harness CheckResult', async () => {
      const good = await checkPheapFile(golden.file);
      assert.equal(good.valid, true);
      assert.match(good.message, /^heap image consistent/);
      assert.equal((good.evidence as any).file, golden.file);
      const f = fresh('cr-bad.img');
      setRaw(f, golden.nodes[10]!, 'next', 0x10n);
      const bad = await checkPheapFile(f);
      assert.equal(bad.valid, false);
      assert.match(bad.message, /field next = 0x10: points outside/);
    });
  });

  describe('CLI', () => {
    it('exit 0 on a good image, one JSON object with the message last', () => {
      const c = checkerCli(['--image', golden.file, '--base', '0x500000000000', '--min-count', 'node=300', '--min-root', 'u0=42']);
      assert.equal(c.code, 0, c.stdout);
      assert.equal(c.stdout.trim().split('\n').length, 1);
      assert.equal(c.out.ok, true);
      assert.equal(c.out.image, golden.file);
      assert.equal(Object.keys(c.out).at(-1), 'message');
    });

    it('exit 1 on a violation (base, requirement), with --max-violations', () => {
      assert.equal(checkerCli(['--image', golden.file, '--base', '0x300000000000']).code, 1);
      const c = checkerCli(['--image', golden.file, '--min-count', 'node=301', '--min-count', 'pair=4', '--min-root', 'u0=43', '--max-violations', '1']);
      assert.equal(c.code, 1);
      assert.equal(c.out.violationCount, 3);
      assert.equal(c.out.violations.length, 1);
      assert.match(c.out.message, /^3 violation\(s\): required >= 301 allocated node objects/);
    });

    it('exit 2 when it cannot say: bad usage or an unreadable image', () => {
      const cases: [string[], RegExp][] = [
        [[], /--image FILE is required/],
        [['--image', t.file('missing.img')], /cannot read .*missing\.img: ENOENT/],
        [['--image', t.dir], /cannot read .*EISDIR/],
        [['--image', golden.file, '--base', 'zz'], /--base must be an integer/],
        [['--image', golden.file, '--min-count', 'node'], /--min-count must be NAME=N, got node/],
        [['--image', golden.file, '--min-root', 'u0=-1'], /--min-root must be NAME=N/],
        [['--image', golden.file, '--max-violations', 'x'], /--max-violations must be a non-negative integer/],
        [['--image', golden.file, '--what'], /Unknown option '--what'/],
      ];
      for (const [args, msg] of cases) {
        const c = checkerCli(args);
        assert.equal(c.code, 2, `${args.join(' ')}: ${c.stdout}`);
        assert.equal(c.out.ok, false);
        assert.match(c.out.message, msg, args.join(' '));
      }
    });

    it('is the same decoder on the host the scenarios use: heap CLI build + open at another base, then the checker', () => {
      const f = t.file('e2e.img');
      assert.equal(spawnSync(process.execPath, [HEAP_CLI, 'build', '--dev', f, '--seed', '5', '--access', 'file', '--size', String(4 << 20)]).status, 0);
      assert.equal(heapCli(['open', '--dev', f, '--access', 'file', '--base', '0x200000000000']).code, 0);
      const c = checkerCli(['--image', f, '--base', '0x200000000000']);
      assert.equal(c.code, 0, c.out.message);
      assert.equal(c.out.swizzle.base, '0x200000000000');
    });
  });
});
