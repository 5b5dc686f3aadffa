// Ground truth for the persistent heap (src/pheap) that is NOT the SUT's own word: an
// independent decoder of the on-media format, written from its documentation (the comments of
// src/pheap/layout.ts, registry.ts and swizzle.ts, and src/pheap/README.md), that imports no
// pheap code. It reads the bytes of an image (a snapshot of an NVDIMM backing file) and checks
// the structural invariants that hold after any power cut, whatever the workload did:
//
//   image     large enough to hold the header slots
//   header    two slots (offsets 0 and 2048, 128 B: magic "PHEAPHDR", crc32 of bytes 0..124 at
//             124); at least one valid, the valid one with the highest seq is current; when both
//             are valid they carry different seqs and the same immutable layout (version,
//             region/slab size, slab count, registry/table/slabs offsets, uuid); a damaged other
//             slot (magic but bad checksum: a torn header write) is a note, not a violation;
//             the current one describes a possible layout (size field 128, region inside the
//             image, registry after the header page, table after the registry, slabs after the
//             table and inside the region, slab size a multiple of 4 KiB, swizzle state idle or
//             active, page-aligned bases, an active pass between non-null disjoint ranges) and,
//             with `base`, records that base as current (idle at it)
//   registry  magic "PHEAPREG", version 1, crc32 of bytes 8..20 + body, records inside the body
//             and filling it, ids 1..n, type 1 is "pheap.root", sizes multiples of 8, fields of a
//             known kind, naturally aligned inside the object, pointer targets that exist,
//             names of legal length and unique
//   slab table  every entry 0 (free) or a registered type
//   slab headers of every assigned slab: magic "SLAB", crc32 of bytes 0..28, type = table
//             entry, index = its position, object size = the registry's, header size 64, bitmap
//             (u32 words at 64) before the 8-aligned objects, objects inside the slab; its
//             swizzle progress record (relBase) = the header base when idle, from or to while a
//             pass is active; no allocation bit beyond the last object
//   root      the header's root offset is an allocated "pheap.root" object
//   pointers  every pointer field (as the registry declares) of every allocated object is null
//             or the absolute address, for the base its slab must be relative to (idle: the
//             header base; active: `to` for a slab whose record says to, `from` or `to` for one
//             whose record says from), of the first byte of an allocated object of the declared
//             target type: not outside the heap, not into metadata, a free slab, a slab header or
//             bitmap, the middle of an object or a free object
//   requirements (optional): at least N allocated objects of a type, a root u64/u32 field >= N
//
// A slab whose non-null pointers all lie outside the heap is reported as unswizzled, with the
// other base they would be valid for when one is found. Nothing here trusts the heap's own
// bookkeeping beyond the bytes: e.g. a slab whose record says "done" but whose pointers are not
// is exactly what this must catch.

import { readFile } from 'node:fs/promises';
import type { CheckResult } from '../../results/types.js';

// ------------------------------------------------------------------ format constants (from the docs)
const PAGE = 4096;
const HEADER_SLOTS = [0, 2048];
const HEADER_BYTES = 128;
const HEADER_MAGIC = 'PHEAPHDR';
const HEADER_CRC_AT = 124;
const FORMAT_VERSION = 1;
const REGISTRY_MAGIC = 'PHEAPREG';
const REGISTRY_VERSION = 1;
const REGISTRY_HEAD = 24;
const TYPE_REC = 64;
const FIELD_REC = 48;
const TYPE_NAME_MAX = 48;
const FIELD_NAME_MAX = 32;
const ROOT_TYPE = 'pheap.root';
const SLAB_HEADER_BYTES = 64;
const SLAB_MAGIC = 0x42414c53; // "SLAB"
const SLAB_CRC_AT = 28;
const SLAB_RELBASE_AT = 32;
const SWZ_IDLE = 0;
const SWZ_ACTIVE = 1;
const KINDS: Record<number, FieldKind> = { 1: 'ptr', 2: 'u64', 3: 'u32', 4: 'f64' };

type FieldKind = 'ptr' | 'u64' | 'u32' | 'f64';

// ------------------------------------------------------------------ crc32 (IEEE 802.3, as zlib)
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** crc32 over the concatenation of the given byte ranges. */
function crc32(bytes: Uint8Array, ...ranges: [number, number][]): number {
  let c = 0xffffffff;
  for (const [start, end] of ranges) for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const hex = (v: bigint | number): string => '0x' + v.toString(16);

// ------------------------------------------------------------------ report

export type PheapPart = 'image' | 'header' | 'registry' | 'slab-table' | 'slab-header' | 'bitmap' | 'root' | 'pointer' | 'requirement';
export type PointerProblem =
  | 'outside-heap'
  | 'into-metadata'
  | 'into-free-slab'
  | 'into-bad-slab'
  | 'into-slab-metadata'
  | 'not-object-start'
  | 'unallocated-target'
  | 'type-mismatch';

export interface PheapViolation {
  part: PheapPart;
  /** what is wrong, e.g. checksum, geometry, rel-base, outside-heap, type-mismatch */
  kind: string;
  slab?: number;
  object?: number;
  type?: string;
  field?: string;
  /** heap offset of the object holding the pointer */
  ref?: string;
  pointer?: string;
  message: string;
}

export interface UnswizzledSlab {
  slab: number;
  type: string;
  relBase: string;
  nonNullPointers: number;
  outsideHeap: number;
  /** an other base every one of these pointers is valid for (the base it was not moved from) */
  validAtBase?: string;
  message: string;
}

export interface PheapCheckOptions {
  /** the heap must be idle at this base (what the header records as current) */
  base?: bigint;
  /** type name -> at least this many allocated objects */
  minCount?: Record<string, number>;
  /** root field name (u64/u32) -> at least this value */
  minRoot?: Record<string, bigint>;
  /** violations listed in the report (all are counted); default 10 */
  maxViolations?: number;
}

export interface PheapCheckReport {
  checker: 'pheap';
  ok: boolean;
  imageBytes: number;
  header?: {
    slot: number;
    seq: string;
    regionSize: number;
    slabSize: number;
    slabCount: number;
    registryOffset: number;
    slabTableOffset: number;
    slabsOffset: number;
    base: string;
    rootOffset: string;
    uuid: string;
    /** the other slot: ok, empty (no magic) or why it is unreadable */
    otherSlot: string;
  };
  swizzle?: { state: 'idle' | 'active'; base: string; from?: string; to?: string; slabsAtFrom?: number; slabsAtTo?: number };
  types?: { id: number; name: string; size: number; pointerFields: string[] }[];
  slabs?: { total: number; assigned: number; free: number };
  objects: number;
  pointerFields: number;
  nonNullPointers: number;
  /** allocated objects per type name */
  counts: Record<string, number>;
  /** the root object's integer fields (decimal) */
  root?: Record<string, string>;
  unswizzledSlabs: UnswizzledSlab[];
  notes: string[];
  violationCount: number;
  violations: PheapViolation[];
  /** one line: the verdict and, on a violation, the first problem (last key: a host-check's
   *  failure message is the end of the output) */
  message: string;
}

// ------------------------------------------------------------------ decoding

interface Hdr {
  version: number;
  headerBytes: number;
  seq: bigint;
  regionSize: bigint;
  slabSize: number;
  slabCount: number;
  registryOffset: number;
  registryBytes: number;
  slabTableOffset: number;
  slabsOffset: number;
  base: bigint;
  swzState: number;
  swzFrom: bigint;
  swzTo: bigint;
  rootOffset: bigint;
  uuid: bigint;
}

type Slot = { ok: true; h: Hdr } | { ok: false; magic: boolean; reason: string };

interface Field {
  name: string;
  kind: FieldKind;
  offset: number;
  target: number;
}
interface Type {
  id: number;
  name: string;
  size: number;
  fields: Field[];
  ptrs: Field[];
}

interface Slab {
  index: number;
  offset: number;
  /** 0 = free; otherwise the table entry */
  typeId: number;
  /** null: free, or its header/table entry is unusable (reported) */
  type: Type | null;
  bad: boolean;
  objCount: number;
  objStart: number;
  bitmapAt: number;
  relBase: bigint;
}

function ascii(b: Uint8Array, at: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(b[at + i]!);
  return s;
}

function decodeSlot(img: Uint8Array, dv: DataView, at: number): Slot {
  if (img.length < at + HEADER_BYTES) return { ok: false, magic: false, reason: 'beyond the end of the image' };
  const magic = ascii(img, at, 8);
  if (magic !== HEADER_MAGIC) return { ok: false, magic: false, reason: `no header magic (${JSON.stringify(magic)})` };
  const stored = dv.getUint32(at + HEADER_CRC_AT, true);
  const actual = crc32(img, [at, at + HEADER_CRC_AT]);
  if (stored !== actual) return { ok: false, magic: true, reason: `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})` };
  const version = dv.getUint32(at + 8, true);
  if (version !== FORMAT_VERSION) return { ok: false, magic: true, reason: `format version ${version}, expected ${FORMAT_VERSION}` };
  const u32 = (o: number) => dv.getUint32(at + o, true);
  const u64 = (o: number) => dv.getBigUint64(at + o, true);
  return {
    ok: true,
    h: {
      version,
      headerBytes: u32(12),
      seq: u64(16),
      regionSize: u64(24),
      slabSize: u32(32),
      slabCount: u32(36),
      registryOffset: u32(40),
      registryBytes: u32(44),
      slabTableOffset: u32(48),
      slabsOffset: u32(52),
      base: u64(56),
      swzState: u32(64),
      swzFrom: u64(72),
      swzTo: u64(80),
      rootOffset: u64(88),
      uuid: u64(96),
    },
  };
}

const IMMUTABLE: (keyof Hdr)[] = ['version', 'headerBytes', 'regionSize', 'slabSize', 'slabCount', 'registryOffset', 'registryBytes', 'slabTableOffset', 'slabsOffset', 'uuid'];

/** Geometry of the current header: every reason it cannot describe a heap in this image. */
function geometryProblems(h: Hdr, imageBytes: number): string[] {
  const out: string[] = [];
  const size = h.regionSize;
  if (h.headerBytes !== HEADER_BYTES) out.push(`header size field ${h.headerBytes}, expected ${HEADER_BYTES}`);
  if (size > BigInt(imageBytes)) out.push(`records region size ${size} but the image has ${imageBytes} bytes`);
  if (h.slabSize < PAGE || h.slabSize % PAGE !== 0) out.push(`slab size ${h.slabSize} is not a positive multiple of ${PAGE}`);
  if (h.slabCount === 0) out.push('no slabs');
  if (h.registryOffset < PAGE) out.push(`registry at ${h.registryOffset} overlaps the header slots`);
  if (h.registryBytes < REGISTRY_HEAD) out.push(`registry of ${h.registryBytes} bytes cannot hold its head`);
  if (h.slabTableOffset < h.registryOffset + h.registryBytes) out.push(`slab table at ${h.slabTableOffset} overlaps the registry [${h.registryOffset}, ${h.registryOffset + h.registryBytes})`);
  if (h.slabsOffset < h.slabTableOffset + 4 * h.slabCount) out.push(`slabs at ${h.slabsOffset} overlap the slab table of ${h.slabCount} entries at ${h.slabTableOffset}`);
  const end = BigInt(h.slabsOffset) + BigInt(h.slabCount) * BigInt(h.slabSize);
  if (end > size) out.push(`${h.slabCount} slabs of ${h.slabSize} B from ${h.slabsOffset} end at ${end}, past the region (${size} B)`);
  const badBase = (b: bigint) => b === 0n || b % BigInt(PAGE) !== 0n || b + size >= 1n << 64n;
  if (badBase(h.base)) out.push(`base ${hex(h.base)} is not a valid mapping base (non-null, page aligned, heap below 2^64)`);
  if (h.swzState === SWZ_ACTIVE) {
    if (badBase(h.swzFrom) || badBase(h.swzTo)) out.push(`swizzle pass ${hex(h.swzFrom)} -> ${hex(h.swzTo)} has an invalid base`);
    else if ((h.swzFrom > h.swzTo ? h.swzFrom - h.swzTo : h.swzTo - h.swzFrom) < size)
      out.push(`swizzle pass ${hex(h.swzFrom)} -> ${hex(h.swzTo)} between overlapping ranges (heap of ${size} B)`);
  } else if (h.swzState !== SWZ_IDLE) out.push(`unknown swizzle state ${h.swzState}`);
  return out;
}

/** The registry, or the reason it cannot be read. */
function decodeRegistry(img: Uint8Array, dv: DataView, at: number, bytes: number): Type[] | string {
  if (ascii(img, at, 8) !== REGISTRY_MAGIC) return `bad magic ${JSON.stringify(ascii(img, at, 8))}`;
  const version = dv.getUint32(at + 8, true);
  const count = dv.getUint32(at + 12, true);
  const body = dv.getUint32(at + 16, true);
  if (REGISTRY_HEAD + body > bytes) return `body of ${body} bytes exceeds the registry area of ${bytes}`;
  const stored = dv.getUint32(at + 20, true);
  const actual = crc32(img, [at + 8, at + 20], [at + REGISTRY_HEAD, at + REGISTRY_HEAD + body]);
  if (stored !== actual) return `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`;
  if (version !== REGISTRY_VERSION) return `version ${version}, expected ${REGISTRY_VERSION}`;
  const end = at + REGISTRY_HEAD + body;
  const types: Type[] = [];
  const names = new Set<string>();
  let p = at + REGISTRY_HEAD;
  for (let i = 0; i < count; i++) {
    if (p + TYPE_REC > end) return `type record ${i + 1} runs past the body`;
    const id = dv.getUint32(p, true);
    const size = dv.getUint32(p + 4, true);
    const nf = dv.getUint32(p + 8, true);
    const nameLen = dv.getUint32(p + 12, true);
    if (nameLen === 0 || nameLen > TYPE_NAME_MAX) return `type record ${i + 1}: name length ${nameLen}`;
    const name = ascii(img, p + 16, nameLen);
    if (id !== i + 1) return `type ${name} has id ${id}, expected ${i + 1}`;
    if (names.has(name)) return `type name ${name} registered twice`;
    names.add(name);
    if (size === 0 || size % 8 !== 0) return `type ${name} has size ${size} (not a positive multiple of 8)`;
    p += TYPE_REC;
    const fields: Field[] = [];
    const fnames = new Set<string>();
    for (let k = 0; k < nf; k++) {
      if (p + FIELD_REC > end) return `type ${name} field ${k} runs past the body`;
      const code = dv.getUint32(p, true);
      const kind = KINDS[code];
      const offset = dv.getUint32(p + 4, true);
      const target = dv.getUint32(p + 8, true);
      const fl = dv.getUint32(p + 12, true);
      if (fl === 0 || fl > FIELD_NAME_MAX) return `type ${name} field ${k}: name length ${fl}`;
      const fname = ascii(img, p + 16, fl);
      if (!kind) return `${name}.${fname}: unknown field kind ${code}`;
      if (fnames.has(fname)) return `${name}.${fname}: field declared twice`;
      fnames.add(fname);
      const width = kind === 'u32' ? 4 : 8;
      if (offset % width !== 0 || offset + width > size) return `${name}.${fname}: ${kind} at offset ${offset} is misaligned or outside the ${size}-byte object`;
      if (kind === 'ptr' && target > count) return `${name}.${fname}: target type ${target} does not exist (${count} types)`;
      if (kind !== 'ptr' && target !== 0) return `${name}.${fname}: a ${kind} field with a target type`;
      fields.push({ name: fname, kind, offset, target });
      p += FIELD_REC;
    }
    types.push({ id, name, size, fields, ptrs: fields.filter((f) => f.kind === 'ptr') });
  }
  if (p !== end) return `the ${count} type records end ${end - p} bytes before the body does`;
  if (types[0]?.name !== ROOT_TYPE) return `type 1 is ${types[0] ? JSON.stringify(types[0].name) : 'missing'}, not ${ROOT_TYPE}`;
  return types;
}

// ------------------------------------------------------------------ the check

export function checkPheapImage(img: Uint8Array, opts: PheapCheckOptions = {}): PheapCheckReport {
  const max = opts.maxViolations ?? 10;
  const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const rep: PheapCheckReport = {
    checker: 'pheap',
    ok: false,
    imageBytes: img.length,
    objects: 0,
    pointerFields: 0,
    nonNullPointers: 0,
    counts: {},
    unswizzledSlabs: [],
    notes: [],
    violationCount: 0,
    violations: [],
    message: '',
  };
  const add = (v: PheapViolation) => {
    rep.violationCount++;
    if (rep.violations.length < max) rep.violations.push(v);
  };
  const finish = (): PheapCheckReport => {
    rep.ok = rep.violationCount === 0;
    const first = rep.unswizzledSlabs[0]?.message ?? rep.violations[0]?.message;
    const state = rep.swizzle?.state === 'active' ? `swizzle pass ${rep.swizzle.from} -> ${rep.swizzle.to} in flight` : `idle at base ${rep.swizzle?.base}`;
    rep.message = rep.ok ? `heap image consistent: ${rep.objects} objects, ${rep.nonNullPointers} non-null pointers, ${state}` : `${rep.violationCount} violation(s): ${first}`;
    // Key order of the JSON: what the image is, what was found, the message last.
    const { checker, ok, imageBytes, header, swizzle, types, slabs, objects, pointerFields, nonNullPointers, counts, root, notes, unswizzledSlabs, violationCount, violations, message } = rep;
    return { checker, ok, imageBytes, header, swizzle, types, slabs, objects, pointerFields, nonNullPointers, counts, root, notes, unswizzledSlabs, violationCount, violations, message };
  };

  // ---- header
  if (img.length < PAGE) {
    add({ part: 'image', kind: 'size', message: `image of ${img.length} bytes is too small for a heap (header page of ${PAGE})` });
    return finish();
  }
  const slots = HEADER_SLOTS.map((at) => decodeSlot(img, dv, at));
  const valid = slots.map((s, i) => [s, i] as const).filter((x): x is [{ ok: true; h: Hdr }, number] => x[0].ok);
  if (valid.length === 0) {
    add({ part: 'header', kind: 'no-valid-copy', message: `no valid header copy: ${slots.map((s, i) => `slot ${i}: ${s.ok ? 'ok' : s.reason}`).join('; ')}` });
    return finish();
  }
  valid.sort((a, b) => (a[0].h.seq > b[0].h.seq ? -1 : a[0].h.seq < b[0].h.seq ? 1 : 0));
  const [[cur, curSlot]] = valid as [[{ ok: true; h: Hdr }, number]];
  const h = cur.h;
  const other = slots[1 - curSlot]!;
  if (other.ok) {
    if (other.h.seq === h.seq) add({ part: 'header', kind: 'copies', message: `both header copies carry seq ${h.seq}: no current one` });
    const differ = IMMUTABLE.filter((k) => other.h[k] !== h[k]);
    if (differ.length)
      add({ part: 'header', kind: 'copies', message: `the header copies disagree on the immutable layout: ${differ.map((k) => `${k} ${String(h[k])} vs ${String(other.h[k])}`).join(', ')}` });
  } else if (other.magic) rep.notes.push(`header slot ${1 - curSlot} unreadable, ignored (a torn header write leaves that): ${other.reason}`);
  rep.header = {
    slot: curSlot,
    seq: String(h.seq),
    regionSize: Number(h.regionSize),
    slabSize: h.slabSize,
    slabCount: h.slabCount,
    registryOffset: h.registryOffset,
    slabTableOffset: h.slabTableOffset,
    slabsOffset: h.slabsOffset,
    base: hex(h.base),
    rootOffset: hex(h.rootOffset),
    uuid: hex(h.uuid),
    otherSlot: other.ok ? 'ok' : other.magic ? other.reason : 'empty',
  };
  const geo = geometryProblems(h, img.length);
  if (geo.length) {
    for (const g of geo) add({ part: 'header', kind: 'geometry', message: `header slot ${curSlot}: ${g}` });
    return finish();
  }
  const active = h.swzState === SWZ_ACTIVE;
  rep.swizzle = active ? { state: 'active', base: hex(h.base), from: hex(h.swzFrom), to: hex(h.swzTo), slabsAtFrom: 0, slabsAtTo: 0 } : { state: 'idle', base: hex(h.base) };
  if (opts.base !== undefined && (active || h.base !== opts.base))
    add({
      part: 'header',
      kind: 'base',
      message: active
        ? `expected the heap idle at base ${hex(opts.base)}, but a swizzle pass ${hex(h.swzFrom)} -> ${hex(h.swzTo)} is in flight`
        : `header records base ${hex(h.base)} as current, expected ${hex(opts.base)}`,
    });

  // ---- registry
  const types = decodeRegistry(img, dv, h.registryOffset, h.registryBytes);
  if (typeof types === 'string') {
    add({ part: 'registry', kind: 'decode', message: `type registry at ${h.registryOffset}: ${types}` });
    return finish();
  }
  rep.types = types.map((t) => ({ id: t.id, name: t.name, size: t.size, pointerFields: t.ptrs.map((f) => f.name) }));
  for (const t of types) rep.counts[t.name] = 0;

  // ---- slab table + slab headers + bitmaps
  const size = Number(h.regionSize);
  const slabs: Slab[] = [];
  let assigned = 0;
  for (let i = 0; i < h.slabCount; i++) {
    const offset = h.slabsOffset + i * h.slabSize;
    const typeId = dv.getUint32(h.slabTableOffset + 4 * i, true);
    const s: Slab = { index: i, offset, typeId, type: null, bad: false, objCount: 0, objStart: 0, bitmapAt: 0, relBase: 0n };
    slabs.push(s);
    if (typeId === 0) continue;
    assigned++;
    const t = types[typeId - 1];
    if (!t) {
      s.bad = true;
      add({ part: 'slab-table', kind: 'unknown-type', slab: i, message: `slab table entry ${i} names type ${typeId}, which is not registered (${types.length} types)` });
      continue;
    }
    const badHeader = (kind: string, why: string) => {
      s.bad = true;
      add({ part: 'slab-header', kind, slab: i, type: t.name, message: `slab ${i} (${t.name}): ${why}` });
    };
    const magic = dv.getUint32(offset, true);
    if (magic !== SLAB_MAGIC) {
      badHeader('magic', `bad slab header magic ${hex(magic)}`);
      continue;
    }
    const stored = dv.getUint32(offset + SLAB_CRC_AT, true);
    const actual = crc32(img, [offset, offset + SLAB_CRC_AT]);
    if (stored !== actual) {
      badHeader('checksum', `slab header checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`);
      continue;
    }
    const sType = dv.getUint32(offset + 4, true);
    const objSize = dv.getUint32(offset + 8, true);
    const objCount = dv.getUint32(offset + 12, true);
    const hdrBytes = dv.getUint32(offset + 16, true);
    const objOffset = dv.getUint32(offset + 20, true);
    const sIndex = dv.getUint32(offset + 24, true);
    const relBase = dv.getBigUint64(offset + SLAB_RELBASE_AT, true);
    const words = Math.ceil(objCount / 32);
    const geo: string[] = [];
    if (sType !== typeId) geo.push(`header says type ${sType}, slab table says ${typeId}`);
    if (sIndex !== i) geo.push(`header says slab index ${sIndex}`);
    if (objSize !== t.size) geo.push(`object size ${objSize}, the registry says ${t.size}`);
    if (hdrBytes !== SLAB_HEADER_BYTES) geo.push(`header size field ${hdrBytes}, expected ${SLAB_HEADER_BYTES}`);
    if (objCount === 0) geo.push('no objects');
    if (objOffset % 8 !== 0 || objOffset < SLAB_HEADER_BYTES + 4 * words) geo.push(`objects at ${objOffset} overlap the header or the ${words}-word bitmap, or are not 8-byte aligned`);
    if (objOffset + objCount * objSize > h.slabSize) geo.push(`${objCount} objects of ${objSize} B from ${objOffset} overrun the ${h.slabSize}-byte slab`);
    if (geo.length) {
      badHeader('geometry', geo.join('; '));
      continue;
    }
    Object.assign(s, { type: t, objCount, objStart: offset + objOffset, bitmapAt: offset + SLAB_HEADER_BYTES, relBase });
    if (active) {
      if (relBase === h.swzFrom) rep.swizzle.slabsAtFrom!++;
      else if (relBase === h.swzTo) rep.swizzle.slabsAtTo!++;
      else add({ part: 'slab-header', kind: 'rel-base', slab: i, type: t.name, message: `slab ${i} (${t.name}): swizzle record relBase ${hex(relBase)} is neither the pass's from ${hex(h.swzFrom)} nor its to ${hex(h.swzTo)}` });
    } else if (relBase !== h.base)
      add({ part: 'slab-header', kind: 'rel-base', slab: i, type: t.name, message: `slab ${i} (${t.name}): swizzle record relBase ${hex(relBase)}, but the heap is idle at ${hex(h.base)}` });
    const tail = objCount % 32;
    if (tail && dv.getUint32(s.bitmapAt + 4 * (words - 1), true) >>> tail)
      add({ part: 'bitmap', kind: 'beyond-last', slab: i, type: t.name, message: `slab ${i} (${t.name}): allocation bits set beyond its last object (${objCount})` });
  }
  rep.slabs = { total: h.slabCount, assigned, free: h.slabCount - assigned };

  const slabsEnd = h.slabsOffset + h.slabCount * h.slabSize;
  const allocated = (s: Slab, k: number) => ((dv.getUint32(s.bitmapAt + 4 * (k >>> 5), true) >>> (k & 31)) & 1) === 1;
  /** The allocated object starting at heap offset o: its slab and index, or why not. */
  const objectAt = (o: number): { slab: Slab; index: number } | [PointerProblem, string] => {
    if (o < h.slabsOffset || o >= slabsEnd) return ['into-metadata', `lands in heap metadata at offset ${hex(o)}`];
    const ts = slabs[Math.floor((o - h.slabsOffset) / h.slabSize)]!;
    if (ts.typeId === 0) return ['into-free-slab', `lands in free slab ${ts.index}`];
    if (!ts.type) return ['into-bad-slab', `lands in slab ${ts.index}, whose header or table entry is unusable`];
    const rel = o - ts.objStart;
    if (rel < 0) return ['into-slab-metadata', `lands in the header/bitmap of slab ${ts.index}`];
    const index = Math.floor(rel / ts.type.size);
    if (rel % ts.type.size !== 0 || index >= ts.objCount)
      return ['not-object-start', index >= ts.objCount ? `lands past the last object of slab ${ts.index}` : `lands ${rel % ts.type.size} bytes into object ${index} of slab ${ts.index}`];
    if (!allocated(ts, index)) return ['unallocated-target', `lands on free object ${index} of slab ${ts.index}`];
    return { slab: ts, index };
  };

  // ---- root object
  const rootOff = h.rootOffset < BigInt(size) ? Number(h.rootOffset) : -1;
  const root = rootOff > 0 ? objectAt(rootOff) : (['into-metadata', `offset ${hex(h.rootOffset)}`] as [PointerProblem, string]);
  if (Array.isArray(root) || root.slab.type!.id !== 1) {
    add({ part: 'root', kind: 'root', message: `header root offset ${hex(h.rootOffset)} is not an allocated ${ROOT_TYPE} object: ${Array.isArray(root) ? root[1] : `it is a ${root.slab.type!.name}`}` });
  } else {
    rep.root = {};
    for (const f of types[0]!.fields)
      if (f.kind === 'u64') rep.root[f.name] = String(dv.getBigUint64(rootOff + f.offset, true));
      else if (f.kind === 'u32') rep.root[f.name] = String(dv.getUint32(rootOff + f.offset, true));
  }

  // ---- every pointer of every allocated object
  const bigSize = BigInt(size);
  for (const s of slabs) {
    const t = s.type;
    if (!t) continue;
    // Bases this slab's pointers may be relative to (swizzle.ts: idle => the header base;
    // active => to for a finished slab, from or to per field for one not finished).
    const bases = !active ? [h.base] : s.relBase === h.swzTo ? [h.swzTo] : [h.swzFrom, h.swzTo];
    const range = bases.map((b) => `[${hex(b)}, ${hex(b + bigSize)})`).join(' or ');
    let nonNull = 0;
    const outside: bigint[] = [];
    const outsideFields: Field[] = [];
    for (let k = 0; k < s.objCount; k++) {
      if (!allocated(s, k)) continue;
      rep.objects++;
      rep.counts[t.name]!++;
      const ref = s.objStart + k * t.size;
      for (const f of t.ptrs) {
        rep.pointerFields++;
        const p = dv.getBigUint64(ref + f.offset, true);
        if (p === 0n) continue;
        rep.nonNullPointers++;
        nonNull++;
        const where = `slab ${s.index} object ${k} (${t.name} at ${hex(ref)}) field ${f.name} = ${hex(p)}`;
        const bad = (kind: PointerProblem, why: string) =>
          add({ part: 'pointer', kind, slab: s.index, object: k, type: t.name, field: f.name, ref: hex(ref), pointer: hex(p), message: `${where}: ${why}` });
        const b = bases.find((x) => p >= x && p - x < bigSize);
        if (b === undefined) {
          outside.push(p);
          outsideFields.push(f);
          bad('outside-heap', `points outside the heap ${range} (the base${bases.length > 1 ? 's' : ''} the header records as current)`);
          continue;
        }
        const at = objectAt(Number(p - b));
        if (Array.isArray(at)) {
          bad(at[0], at[1]);
          continue;
        }
        if (f.target !== 0 && at.slab.type!.id !== f.target)
          bad('type-mismatch', `field declares ${types[f.target - 1]!.name}, but the target is a ${at.slab.type!.name} (slab ${at.slab.index} object ${at.index})`);
      }
    }
    if (outside.length > 0 && outside.length === nonNull) {
      const valid = guessBase(outside, outsideFields, bases, bigSize, objectAt);
      rep.unswizzledSlabs.push({
        slab: s.index,
        type: t.name,
        relBase: hex(s.relBase),
        nonNullPointers: nonNull,
        outsideHeap: outside.length,
        ...(valid !== undefined ? { validAtBase: hex(valid) } : {}),
        message:
          `slab ${s.index} (${t.name}) is not swizzled: all ${nonNull} of its non-null pointers lie outside the heap ${range}` +
          (valid !== undefined ? `; they are valid for the old base ${hex(valid)}` : '') +
          `, yet its swizzle record says ${hex(s.relBase)}`,
      });
    }
  }

  // ---- requirements
  for (const [name, n] of Object.entries(opts.minCount ?? {})) {
    if (!(name in rep.counts)) add({ part: 'requirement', kind: 'min-count', type: name, message: `required >= ${n} ${name} objects, but the registry has no type ${name}` });
    else if (rep.counts[name]! < n) add({ part: 'requirement', kind: 'min-count', type: name, message: `required >= ${n} allocated ${name} objects, the image holds ${rep.counts[name]}` });
  }
  for (const [name, n] of Object.entries(opts.minRoot ?? {})) {
    const got = rep.root?.[name];
    if (got === undefined)
      add({ part: 'requirement', kind: 'min-root', field: name, message: rep.root ? `required root.${name} >= ${n}, but ${ROOT_TYPE} has no integer field ${name}` : `required root.${name} >= ${n}, but there is no root object` });
    else if (BigInt(got) < n) add({ part: 'requirement', kind: 'min-root', field: name, message: `required root.${name} >= ${n}, the image holds ${got}` });
  }
  return finish();
}

/**
 * The one other page-aligned base every pointer of an unswizzled slab is valid for (each lands
 * on an allocated object of its declared type), found from the first pointer and each object of
 * its target type; undefined when there is none (or too many candidates to try).
 */
function guessBase(
  ptrs: bigint[],
  fields: Field[],
  current: bigint[],
  size: bigint,
  objectAt: (o: number) => { slab: Slab; index: number } | [PointerProblem, string],
): bigint | undefined {
  const p0 = ptrs[0]!;
  const ok = (b: bigint) =>
    ptrs.every((p, i) => {
      if (p < b || p - b >= size) return false;
      const at = objectAt(Number(p - b));
      return !Array.isArray(at) && (fields[i]!.target === 0 || at.slab.type!.id === fields[i]!.target);
    });
  // Every page-aligned base b with p0 in [b, b + size) is p0 - o for an o ≡ p0 (mod PAGE).
  const page = BigInt(PAGE);
  let tries = 0;
  for (let o = Number(p0 % page); BigInt(o) < size && tries < 1 << 16; o += PAGE, tries++) {
    const b = p0 - BigInt(o);
    if (b <= 0n || current.includes(b)) continue;
    if (ok(b)) return b;
  }
  return undefined;
}

/** The image file checked as a harness CheckResult (valid: false on any violation). */
export async function checkPheapFile(file: string, opts: PheapCheckOptions = {}): Promise<CheckResult> {
  const rep = checkPheapImage(await readFile(file), opts);
  return { name: `pheap image ${file} is structurally consistent (independent decoder)`, valid: rep.ok, message: rep.message, evidence: { file, ...rep } };
}
