// The persistent heap: slabs of one type each, an allocation bitmap per slab, typed fields,
// and pointers stored as ABSOLUTE 64-bit addresses valid for the base the heap is mapped at.
// Opening at another base runs the swizzle pass (swizzle.ts) before anything else can read.
//
// Persistence model (PMDK's low-level one): stores are not durable until persisted. Field
// setters only store; alloc/free persist what they must in the order that keeps the heap
// consistent at any power cut; callers persist their own links (heap.persist). With
// durability 'deferred' (bulk building), persists only mark ranges and flush() makes them
// durable at once.

import * as fs from 'node:fs';
import { HeapCorruptError, HeapUsageError } from './errors.js';
import {
  DEFAULT_SLAB_SIZE,
  FORMAT_VERSION,
  HEADER_SLOTS,
  type Header,
  PAGE,
  SLAB_RELBASE_AT,
  SWZ_ACTIVE,
  SWZ_IDLE,
  decodeSlabHeader,
  encodeHeader,
  encodeSlabHeader,
  hex,
  planLayout,
  readCurrentHeader,
  slabGeometry,
} from './layout.js';
import { type Access, type AccessKind, type Region, openRegion, prepareRegion, regionSize as regionSizeOf, resolveAccess } from './mmap.js';
import { type FieldInfo, type TypeDef, type TypeInfo, TypeRegistry } from './registry.js';
import { type SwizzleHooks, type SwizzleReport, emptyReport, hooksFromEnv, recover } from './swizzle.js';

/** Heap offset of an object's first byte. 0 is null (offset 0 is the header, never an object). */
export type Ref = number;

export const DEFAULT_HEAP_SIZE = 16 * 1024 * 1024;
/** Base used on the file path when the caller gives none at create: canonical-looking, and
 *  far from anything a real mmap returns, so a later mmap open always swizzles. */
export const DEFAULT_FILE_BASE = 0x5000_0000_0000n;
const MIN_BASE = 0x10000n;

export interface CreateOptions {
  /** region size in bytes; default: the device size, or 16 MiB for a new file */
  size?: number;
  slabSize?: number;
  types: TypeDef[];
  access?: Access;
  /** file path: the base to record; mmap path: an address hint for the mapping */
  base?: bigint;
}

export interface OpenOptions extends SwizzleHooks {
  access?: Access;
  /** file path: the base to open at (default: the stored one); mmap path: an address hint */
  base?: bigint;
}

/** Everything the heap knows about one slab, cached from its persistent header. */
export interface SlabInfo {
  index: number;
  /** region offset of the slab start */
  offset: number;
  type: TypeInfo | null;
  objSize: number;
  objCount: number;
  /** region offset of the first object */
  objStart: number;
  /** index of the first bitmap word in the region's Uint32Array view */
  bitmapWord: number;
  bitmapWords: number;
  /** allocated objects */
  used: number;
  /** base this slab's pointers are relative to (the per-slab swizzle progress record) */
  relBase: bigint;
}

export interface Resolved {
  slab: SlabInfo;
  index: number;
  type: TypeInfo;
}

function checkBase(base: bigint, size: number): void {
  if (base < MIN_BASE || base % BigInt(PAGE) !== 0n || base + BigInt(size) >= 1n << 64n)
    throw new HeapUsageError(`base ${hex(base)} must be page aligned, >= ${hex(MIN_BASE)} and leave room for the heap below 2^64`);
}

const popcount32 = (x: number): number => {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
};

export class Heap {
  /** what open() did: old/new base, swizzle statistics (create: a trivial report) */
  openReport!: SwizzleReport;
  durability: 'immediate' | 'deferred' = 'immediate';
  /** base all pointers in the heap are valid for, once open() returned */
  base: bigint;
  readonly u32: Uint32Array;
  readonly u64: BigUint64Array;
  readonly f64: Float64Array;
  readonly slabs: SlabInfo[] = [];
  private readonly slabsByType = new Map<number, number[]>();
  private readonly allocCursor = new Map<number, number>();
  private freeSlabCursor = 0;
  private closed = false;

  private constructor(
    readonly region: Region,
    public header: Header,
    readonly types: TypeRegistry,
    base: bigint,
  ) {
    this.base = base;
    const words = Math.floor(region.length / 8);
    this.u32 = new Uint32Array(region.bytes.buffer, 0, words * 2);
    this.u64 = new BigUint64Array(region.bytes.buffer, 0, words);
    this.f64 = new Float64Array(region.bytes.buffer, 0, words);
  }

  get path(): string {
    return this.region.path;
  }
  get access(): AccessKind {
    return this.region.kind;
  }
  get size(): number {
    return this.header.regionSize;
  }
  get bytes(): Uint8Array {
    return this.region.bytes;
  }

  // ------------------------------------------------------------ create / open / close

  static create(path: string, opts: CreateOptions): Heap {
    const kind = resolveAccess(opts.access);
    const existing = fs.existsSync(path) ? regionSizeOf(path) : 0;
    const size = prepareRegion(path, opts.size ?? (existing > 0 ? existing : DEFAULT_HEAP_SIZE));
    const region = openRegion(path, kind, opts.base, size);
    try {
      const base = region.base ?? opts.base ?? DEFAULT_FILE_BASE;
      checkBase(base, size);
      const layout = planLayout(Math.floor(size / PAGE) * PAGE, opts.slabSize ?? DEFAULT_SLAB_SIZE);
      const types = TypeRegistry.fromDefs(opts.types);
      for (const t of types.all())
        if (slabGeometry(layout.slabSize, t.size).objCount === 0)
          throw new HeapUsageError(`type ${t.name} (${t.size} B) does not fit a slab of ${layout.slabSize} B`);
      const header: Header = {
        ...layout,
        version: FORMAT_VERSION,
        seq: 0n,
        base,
        swzState: SWZ_IDLE,
        swzFrom: 0n,
        swzTo: 0n,
        rootOffset: 0,
        uuid: BigInt.asUintN(64, BigInt(Date.now()) * 0x9e3779b97f4a7c15n) ^ BigInt(process.pid),
      };
      // Metadata first, header last: until the header is durable the region is "not a heap",
      // so a cut during create never leaves a half-formatted heap that opens.
      region.bytes.fill(0, 0, layout.slabsOffset);
      region.bytes.set(types.encode(layout.registryBytes), layout.registryOffset);
      region.touch(0, layout.slabsOffset);
      const heap = new Heap(region, header, types, base);
      heap.loadSlabs();
      heap.durability = 'deferred';
      const root = heap.alloc(types.root);
      heap.header.rootOffset = root;
      heap.flush();
      heap.durability = 'immediate';
      heap.writeHeader({ rootOffset: root });
      heap.openReport = emptyReport(region.kind, path, base, base);
      return heap;
    } catch (e) {
      region.close({ flush: false });
      throw e;
    }
  }

  /** Opens a heap, finishing any interrupted swizzle and swizzling to the new base. Throws
   *  HeapCorruptError for damaged metadata and SwizzleInterruptedError from the test hook. */
  static open(path: string, opts: OpenOptions = {}): Heap {
    const kind = resolveAccess(opts.access);
    const region = openRegion(path, kind, opts.base);
    try {
      if (region.length < PAGE) throw new HeapCorruptError('region', `${path} is ${region.length} bytes, too small for a heap`);
      const cur = readCurrentHeader(region.bytes);
      const h = cur.header;
      const types = TypeRegistry.decode(region.bytes.subarray(h.registryOffset, h.registryOffset + h.registryBytes));
      // File path: no real mapping, the base is the caller's choice; by default the one the
      // pointers are (or, mid-swizzle, were going to be) valid for.
      const target = region.base ?? opts.base ?? (h.swzState === SWZ_ACTIVE ? h.swzTo : h.base);
      checkBase(target, h.regionSize);
      const heap = new Heap(region, h, types, h.base);
      heap.loadSlabs();
      if (h.rootOffset === 0 || heap.resolve(h.rootOffset)?.type !== types.root)
        throw new HeapCorruptError('header', `root offset ${hex(h.rootOffset)} is not an allocated root object`);
      const env = hooksFromEnv();
      heap.openReport = recover(heap, target, {
        stopAfterSlabs: opts.stopAfterSlabs ?? env.stopAfterSlabs,
        tornSlab: opts.tornSlab ?? env.tornSlab,
        batchBytes: opts.batchBytes,
      });
      if (cur.otherSlotProblem) heap.openReport.headerNote = `older header copy ignored: ${cur.otherSlotProblem}`;
      heap.base = target;
      return heap;
    } catch (e) {
      region.close({ flush: false });
      throw e;
    }
  }

  /** Clean shutdown: everything stored becomes durable. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.region.close({ flush: true });
  }

  /** Simulated power cut: what was not persisted is lost (file path); the object is dead. */
  crash(): void {
    if (this.closed) return;
    this.closed = true;
    this.region.close({ flush: false });
  }

  // ------------------------------------------------------------ persistence

  /** Makes [off, off+len) durable (or marks it, in deferred mode). */
  persistRange(off: number, len: number): void {
    if (this.durability === 'deferred') this.region.touch(off, len);
    else this.region.persist(off, len);
  }

  /** Persists a whole object, or one field of it. */
  persist(ref: Ref, field?: string | FieldInfo): void {
    if (field === undefined) this.persistRange(ref, this.typeOf(ref).size);
    else {
      const f = this.fieldOf(ref, field);
      this.persistRange(ref + f.offset, f.kind === 'u32' ? 4 : 8);
    }
  }

  flush(): void {
    this.region.flush();
  }

  /** Writes the header into the slot that is not current (seq parity), then persists it. */
  writeHeader(changes: Partial<Header>): void {
    const next: Header = { ...this.header, ...changes, seq: this.header.seq + 1n };
    const at = HEADER_SLOTS[Number(next.seq & 1n)];
    this.region.bytes.set(encodeHeader(next), at);
    this.region.persist(at, PAGE / 2);
    this.header = next;
  }

  // ------------------------------------------------------------ slabs

  private slabOffset(i: number): number {
    return this.header.slabsOffset + i * this.header.slabSize;
  }

  /** Reads the slab table and every assigned slab header; any inconsistency is corruption. */
  private loadSlabs(): void {
    const h = this.header;
    const allowed = h.swzState === SWZ_ACTIVE ? [h.swzFrom, h.swzTo] : [h.base];
    for (let i = 0; i < h.slabCount; i++) {
      const typeId = this.u32[(h.slabTableOffset >> 2) + i]!;
      const offset = this.slabOffset(i);
      const info: SlabInfo = { index: i, offset, type: null, objSize: 0, objCount: 0, objStart: 0, bitmapWord: 0, bitmapWords: 0, used: 0, relBase: 0n };
      this.slabs.push(info);
      if (typeId === 0) continue;
      const type = this.types.get(typeId);
      if (!type) throw new HeapCorruptError('slab-table', `entry ${i} names unknown type ${typeId}`);
      const sh = decodeSlabHeader(this.region.bytes, offset);
      if (typeof sh === 'string') throw new HeapCorruptError('slab-header', `slab ${i}: ${sh}`);
      const g = slabGeometry(h.slabSize, type.size);
      const bad = (why: string) => {
        throw new HeapCorruptError('slab-header', `slab ${i} (${type.name}): ${why}`);
      };
      if (sh.typeId !== typeId) bad(`header says type ${sh.typeId}, slab table says ${typeId}`);
      if (sh.slabIndex !== i) bad(`header says slab index ${sh.slabIndex}`);
      if (sh.objSize !== type.size) bad(`object size ${sh.objSize}, registry says ${type.size}`);
      if (sh.objCount !== g.objCount || sh.objOffset !== g.objOffset) bad(`object count/offset ${sh.objCount}/${sh.objOffset} do not match the slab geometry`);
      if (!allowed.includes(sh.relBase))
        bad(`relBase ${hex(sh.relBase)} is not ${allowed.map((b) => hex(b)).join(' or ')} (swizzle state ${h.swzState})`);
      Object.assign(info, {
        type,
        objSize: type.size,
        objCount: g.objCount,
        objStart: offset + g.objOffset,
        bitmapWord: (offset + g.bitmapOffset) >> 2,
        bitmapWords: g.bitmapWords,
        relBase: sh.relBase,
      });
      let used = 0;
      for (let w = 0; w < g.bitmapWords; w++) used += popcount32(this.u32[info.bitmapWord + w]!);
      const tail = g.objCount % 32;
      if (tail && this.u32[info.bitmapWord + g.bitmapWords - 1]! >>> tail) bad('allocation bits set beyond the last object');
      info.used = used;
      this.typedSlabs(typeId).push(i);
    }
  }

  private typedSlabs(typeId: number): number[] {
    let l = this.slabsByType.get(typeId);
    if (!l) this.slabsByType.set(typeId, (l = []));
    return l;
  }

  /** Assigns free slab i to type t: slab header + empty bitmap durable first, then the slab
   *  table entry (one aligned 4-byte store), so a cut leaves the slab either free or complete. */
  private formatSlab(i: number, t: TypeInfo): SlabInfo {
    const g = slabGeometry(this.header.slabSize, t.size);
    const offset = this.slabOffset(i);
    const bytes = this.region.bytes;
    bytes.fill(0, offset, offset + g.objOffset);
    bytes.set(encodeSlabHeader({ typeId: t.id, objSize: t.size, objCount: g.objCount, objOffset: g.objOffset, slabIndex: i, relBase: this.base }), offset);
    this.persistRange(offset, g.objOffset);
    const tableWord = (this.header.slabTableOffset >> 2) + i;
    this.u32[tableWord] = t.id;
    this.persistRange(tableWord * 4, 4);
    const info = this.slabs[i]!;
    Object.assign(info, {
      type: t,
      objSize: t.size,
      objCount: g.objCount,
      objStart: offset + g.objOffset,
      bitmapWord: (offset + g.bitmapOffset) >> 2,
      bitmapWords: g.bitmapWords,
      used: 0,
      relBase: this.base,
    });
    this.typedSlabs(t.id).push(i);
    return info;
  }

  /** Updates a slab's progress record: one aligned 8-byte store (caller persists). */
  setSlabRelBase(s: SlabInfo, base: bigint): void {
    this.u64[(s.offset + SLAB_RELBASE_AT) >> 3] = base;
    this.region.touch(s.offset + SLAB_RELBASE_AT, 8);
    s.relBase = base;
  }

  // ------------------------------------------------------------ alloc / free

  type(t: string | TypeInfo): TypeInfo {
    if (typeof t !== 'string') return t;
    const info = this.types.byName(t);
    if (!info) throw new HeapUsageError(`unknown type ${t}`);
    return info;
  }

  private slabWithSpace(t: TypeInfo): SlabInfo {
    const list = this.typedSlabs(t.id);
    const cur = this.allocCursor.get(t.id) ?? 0;
    for (let k = 0; k < list.length; k++) {
      const s = this.slabs[list[(cur + k) % list.length]!]!;
      if (s.used < s.objCount) {
        this.allocCursor.set(t.id, (cur + k) % list.length);
        return s;
      }
    }
    for (; this.freeSlabCursor < this.slabs.length; this.freeSlabCursor++) {
      if (this.slabs[this.freeSlabCursor]!.type === null) {
        const s = this.formatSlab(this.freeSlabCursor, t);
        this.allocCursor.set(t.id, list.length - 1);
        return s;
      }
    }
    throw new HeapUsageError(`heap full: no free slot or slab for ${t.name}`);
  }

  /**
   * Allocates an object of type t. Crash consistency: the object is zeroed, initialised by
   * `init` and made durable BEFORE its allocation bit is set and persisted, so after a power
   * cut an allocation is either absent (bit clear: the slot is free, whatever it holds) or
   * complete. Linking the new object into the graph is the caller's next, separate step.
   */
  alloc(type: string | TypeInfo, init?: (ref: Ref) => void): Ref {
    this.assertOpen();
    const t = this.type(type);
    const s = this.slabWithSpace(t);
    let w = 0;
    let word = 0;
    for (; w < s.bitmapWords; w++) {
      word = this.u32[s.bitmapWord + w]!;
      if (word !== 0xffffffff) break;
    }
    const bit = 31 - Math.clz32(~word & (word + 1));
    const index = w * 32 + bit;
    if (index >= s.objCount) throw new Error(`pheap: slab ${s.index} bookkeeping says free but bitmap is full`);
    const ref = s.objStart + index * s.objSize;
    this.region.bytes.fill(0, ref, ref + s.objSize);
    this.region.touch(ref, s.objSize);
    if (init) init(ref);
    this.persistRange(ref, s.objSize);
    this.u32[s.bitmapWord + w] = word | (1 << bit);
    this.persistRange((s.bitmapWord + w) * 4, 4);
    s.used++;
    return ref;
  }

  /** Frees an object: clears and persists its bit. References to it become dangling, which
   *  validateHeap reports; unlinking first is the caller's job. */
  free(ref: Ref): void {
    this.assertOpen();
    const r = this.resolve(ref);
    if (!r) throw new HeapUsageError(`free(${hex(ref)}): not an allocated object`);
    const wi = r.slab.bitmapWord + (r.index >>> 5);
    this.u32[wi] = this.u32[wi]! & ~(1 << (r.index & 31));
    this.persistRange(wi * 4, 4);
    r.slab.used--;
  }

  /** Slab, index and type of the allocated object starting at `ref`, or null. */
  resolve(ref: number): Resolved | null {
    const r = this.locate(ref);
    if (!r) return null;
    const { slab, index } = r;
    if (((this.u32[slab.bitmapWord + (index >>> 5)]! >>> (index & 31)) & 1) === 0) return null;
    return r;
  }

  /** Like resolve, allocated or not: an object slot start in an assigned slab. */
  locate(ref: number): Resolved | null {
    const h = this.header;
    if (!Number.isInteger(ref) || ref < h.slabsOffset) return null;
    const si = Math.floor((ref - h.slabsOffset) / h.slabSize);
    const slab = this.slabs[si];
    if (!slab || !slab.type || ref < slab.objStart) return null;
    const rel = ref - slab.objStart;
    if (rel % slab.objSize !== 0) return null;
    const index = rel / slab.objSize;
    if (index >= slab.objCount) return null;
    return { slab, index, type: slab.type };
  }

  typeOf(ref: Ref): TypeInfo {
    const r = this.resolve(ref);
    if (!r) throw new HeapUsageError(`${hex(ref)} is not an allocated object`);
    return r.type;
  }

  isAllocated(ref: Ref): boolean {
    return this.resolve(ref) !== null;
  }

  /** Field handle for hot loops: pass it instead of a name to skip the lookup. */
  field(type: string | TypeInfo, name: string): FieldInfo {
    const t = this.type(type);
    const f = t.byName.get(name);
    if (!f) throw new HeapUsageError(`${t.name} has no field ${name}`);
    return f;
  }

  /** Field by name resolves the type from the slab (the object may be mid-alloc: not yet
   *  allocated), so a name on a bad reference is a HeapUsageError, not a wild store. */
  private fieldOf(ref: Ref, f: string | FieldInfo): FieldInfo {
    if (typeof f !== 'string') return f;
    const r = this.locate(ref);
    if (!r) throw new HeapUsageError(`${hex(ref)} is not an object slot`);
    return this.field(r.type, f);
  }

  /** All allocated objects of a type (or of every type), in slab/bitmap order. */
  *objects(type?: string | TypeInfo): Generator<Ref> {
    const t = type === undefined ? undefined : this.type(type);
    for (const s of this.slabs) {
      if (!s.type || (t && s.type !== t)) continue;
      for (let w = 0; w < s.bitmapWords; w++) {
        let bits = this.u32[s.bitmapWord + w]!;
        while (bits !== 0) {
          const b = 31 - Math.clz32(bits & -bits);
          bits &= bits - 1;
          yield s.objStart + (w * 32 + b) * s.objSize;
        }
      }
    }
  }

  count(type?: string | TypeInfo): number {
    const t = type === undefined ? undefined : this.type(type);
    let n = 0;
    for (const s of this.slabs) if (s.type && (!t || s.type === t)) n += s.used;
    return n;
  }

  // ------------------------------------------------------------ typed fields

  getU64(ref: Ref, f: string | FieldInfo): bigint {
    return this.u64[(ref + this.fieldOf(ref, f).offset) >> 3]!;
  }
  setU64(ref: Ref, f: string | FieldInfo, v: bigint): void {
    const at = ref + this.fieldOf(ref, f).offset;
    this.u64[at >> 3] = v;
    this.region.touch(at, 8);
  }
  getU32(ref: Ref, f: string | FieldInfo): number {
    return this.u32[(ref + this.fieldOf(ref, f).offset) >> 2]!;
  }
  setU32(ref: Ref, f: string | FieldInfo, v: number): void {
    const at = ref + this.fieldOf(ref, f).offset;
    this.u32[at >> 2] = v;
    this.region.touch(at, 4);
  }
  getF64(ref: Ref, f: string | FieldInfo): number {
    return this.f64[(ref + this.fieldOf(ref, f).offset) >> 3]!;
  }
  setF64(ref: Ref, f: string | FieldInfo, v: number): void {
    const at = ref + this.fieldOf(ref, f).offset;
    this.f64[at >> 3] = v;
    this.region.touch(at, 8);
  }

  /** The stored absolute address (0n = null). */
  getRawPtr(ref: Ref, f: string | FieldInfo): bigint {
    return this.u64[(ref + this.fieldOf(ref, f).offset) >> 3]!;
  }
  setRawPtr(ref: Ref, f: string | FieldInfo, v: bigint): void {
    this.setU64(ref, f, v);
  }

  /** Follows a pointer field: the target's Ref, 0 for null. An address outside the heap is a
   *  HeapUsageError (validateHeap explains it); never a silently wrong reference. */
  getPtr(ref: Ref, f: string | FieldInfo): Ref {
    const raw = this.u64[(ref + this.fieldOf(ref, f).offset) >> 3]!;
    if (raw === 0n) return 0;
    const off = raw - this.base;
    if (off < 0n || off >= BigInt(this.size))
      throw new HeapUsageError(`pointer ${hex(raw)} in ${hex(ref)} is outside the heap [${hex(this.base)}, +${hex(this.size)})`);
    return Number(off);
  }
  /** Stores `target` as an absolute address in the current mapping. */
  setPtr(ref: Ref, f: string | FieldInfo, target: Ref): void {
    const at = ref + this.fieldOf(ref, f).offset;
    this.u64[at >> 3] = target === 0 ? 0n : this.base + BigInt(target);
    this.region.touch(at, 8);
  }

  // ------------------------------------------------------------ roots

  get root(): Ref {
    return this.header.rootOffset;
  }
  getRoot(i: number): Ref {
    return this.getPtr(this.root, `r${i}`);
  }
  setRoot(i: number, ref: Ref): void {
    this.setPtr(this.root, `r${i}`, ref);
    this.persist(this.root, `r${i}`);
  }
  getRootU64(i: number): bigint {
    return this.getU64(this.root, `u${i}`);
  }
  setRootU64(i: number, v: bigint): void {
    this.setU64(this.root, `u${i}`, v);
    this.persist(this.root, `u${i}`);
  }

  stats(): { slabs: number; slabsUsed: number; objects: number; pointerFields: number } {
    let slabsUsed = 0;
    let objects = 0;
    let pointerFields = 0;
    for (const s of this.slabs) {
      if (!s.type) continue;
      slabsUsed++;
      objects += s.used;
      pointerFields += s.used * s.type.ptrWords.length;
    }
    return { slabs: this.slabs.length, slabsUsed, objects, pointerFields };
  }

  private assertOpen(): void {
    if (this.closed) throw new HeapUsageError('heap is closed');
  }
}

