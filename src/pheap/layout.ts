// On-media layout of a persistent heap. Everything here is pure encode/decode of bytes, so the
// layout can be read (and corrupted on purpose) without a Heap object.
//
//   offset 0       header slot 0   (128 B, checksummed)   } two slots: a header update writes the
//   offset 2048    header slot 1   (128 B, checksummed)   } slot that is NOT current, so a torn
//                                                           header write never loses the heap
//   offset 4096    type registry   (REGISTRY_BYTES, checksummed, written once at create)
//   slabTableOff   slab table      (u32 type id per slab; 0 = free slab)
//   slabsOffset    slab 0, slab 1, ... each slabSize bytes:
//                    slab header (64 B: immutable part checksummed + relBase, the per-slab
//                                 swizzle progress record)
//                    allocation bitmap (1 bit per object, u32 words)
//                    objects (objSize bytes each, 8-byte aligned)
//
// All integers are little endian. Pointers inside objects are ABSOLUTE 64-bit addresses valid
// for the mapping base recorded in the header (and, per slab, in relBase).

import { HeapCorruptError } from './errors.js';

export const PAGE = 4096;
export const FORMAT_VERSION = 1;
export const HEADER_MAGIC = 'PHEAPHDR';
export const HEADER_SLOTS = [0, 2048] as const;
export const HEADER_BYTES = 128;
const HEADER_CRC_AT = 124;
export const REGISTRY_OFFSET = PAGE;
export const REGISTRY_BYTES = 16 * 1024;
export const SLAB_HEADER_BYTES = 64;
export const SLAB_MAGIC = 0x42414c53; // "SLAB"
const SLAB_CRC_AT = 28;
export const SLAB_RELBASE_AT = 32;
export const MIN_SLAB_SIZE = PAGE;
export const DEFAULT_SLAB_SIZE = 64 * 1024;

export const SWZ_IDLE = 0;
export const SWZ_ACTIVE = 1;

// ---------------------------------------------------------------- crc32 (IEEE, as zlib)
// Own implementation: zlib.crc32 appeared only in Node 20.15 and the guest may be older.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, prev = 0): number {
  let c = ~prev >>> 0;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export const align = (n: number, a: number): number => Math.ceil(n / a) * a;
export const hex = (v: bigint | number): string => '0x' + v.toString(16);

// ---------------------------------------------------------------- header
export interface Header {
  version: number;
  /** generation of the header; the valid slot with the highest seq is current */
  seq: bigint;
  regionSize: number;
  slabSize: number;
  slabCount: number;
  registryOffset: number;
  registryBytes: number;
  slabTableOffset: number;
  slabsOffset: number;
  /** base all pointers are relative to when swzState is idle ("last mapped at") */
  base: bigint;
  swzState: number;
  /** while swzState is active: the pass rewrites pointers from swzFrom- to swzTo-relative */
  swzFrom: bigint;
  swzTo: bigint;
  /** heap offset of the root object (offsets, not pointers: they never need swizzling) */
  rootOffset: number;
  uuid: bigint;
}

export function encodeHeader(h: Header): Uint8Array {
  const b = new Uint8Array(HEADER_BYTES);
  const v = view(b);
  for (let i = 0; i < 8; i++) b[i] = HEADER_MAGIC.charCodeAt(i);
  v.setUint32(8, h.version, true);
  v.setUint32(12, HEADER_BYTES, true);
  v.setBigUint64(16, h.seq, true);
  v.setBigUint64(24, BigInt(h.regionSize), true);
  v.setUint32(32, h.slabSize, true);
  v.setUint32(36, h.slabCount, true);
  v.setUint32(40, h.registryOffset, true);
  v.setUint32(44, h.registryBytes, true);
  v.setUint32(48, h.slabTableOffset, true);
  v.setUint32(52, h.slabsOffset, true);
  v.setBigUint64(56, h.base, true);
  v.setUint32(64, h.swzState, true);
  v.setBigUint64(72, h.swzFrom, true);
  v.setBigUint64(80, h.swzTo, true);
  v.setBigUint64(88, BigInt(h.rootOffset), true);
  v.setBigUint64(96, h.uuid, true);
  v.setUint32(HEADER_CRC_AT, crc32(b, 0, HEADER_CRC_AT), true);
  return b;
}

export type HeaderSlot = { ok: true; header: Header } | { ok: false; reason: string; magicOk: boolean };

export function decodeHeaderSlot(region: Uint8Array, at: number): HeaderSlot {
  const b = region.subarray(at, at + HEADER_BYTES);
  if (b.length < HEADER_BYTES) return { ok: false, reason: 'region too small for a header', magicOk: false };
  const v = view(b);
  let magic = '';
  for (let i = 0; i < 8; i++) magic += String.fromCharCode(b[i]!);
  if (magic !== HEADER_MAGIC) return { ok: false, reason: `bad magic ${JSON.stringify(magic)}`, magicOk: false };
  const stored = v.getUint32(HEADER_CRC_AT, true);
  const actual = crc32(b, 0, HEADER_CRC_AT);
  if (stored !== actual)
    return { ok: false, reason: `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`, magicOk: true };
  const version = v.getUint32(8, true);
  if (version !== FORMAT_VERSION)
    return { ok: false, reason: `unsupported version ${version} (this build reads ${FORMAT_VERSION})`, magicOk: true };
  return {
    ok: true,
    header: {
      version,
      seq: v.getBigUint64(16, true),
      regionSize: Number(v.getBigUint64(24, true)),
      slabSize: v.getUint32(32, true),
      slabCount: v.getUint32(36, true),
      registryOffset: v.getUint32(40, true),
      registryBytes: v.getUint32(44, true),
      slabTableOffset: v.getUint32(48, true),
      slabsOffset: v.getUint32(52, true),
      base: v.getBigUint64(56, true),
      swzState: v.getUint32(64, true),
      swzFrom: v.getBigUint64(72, true),
      swzTo: v.getBigUint64(80, true),
      rootOffset: Number(v.getBigUint64(88, true)),
      uuid: v.getBigUint64(96, true),
    },
  };
}

export interface CurrentHeader {
  header: Header;
  slot: number;
  /** set when the other slot carries a header magic but is unreadable (torn or damaged) */
  otherSlotProblem?: string;
}

/** Picks the current header: the valid slot with the highest seq. Both slots bad → corrupt.
 *  `regionLength` defaults to the buffer's length (pass it when reading only the first page). */
export function readCurrentHeader(region: Uint8Array, regionLength = region.length): CurrentHeader {
  const slots = HEADER_SLOTS.map((at) => decodeHeaderSlot(region, at));
  let best = -1;
  slots.forEach((s, i) => {
    if (!s.ok) return;
    const cur = slots[best];
    if (best < 0 || (cur && cur.ok && s.header.seq > cur.header.seq)) best = i;
  });
  if (best < 0) {
    const reasons = slots.map((s, i) => `slot ${i}: ${s.ok ? 'ok' : s.reason}`).join('; ');
    throw new HeapCorruptError('header', reasons);
  }
  const cur = slots[best] as { ok: true; header: Header };
  checkGeometry(cur.header, regionLength);
  const other = slots[1 - best]!;
  const out: CurrentHeader = { header: cur.header, slot: best };
  if (!other.ok && other.magicOk) out.otherSlotProblem = `slot ${1 - best}: ${other.reason}`;
  return out;
}

/** A checksummed header can still describe an impossible layout (a bug or a crafted image). */
function checkGeometry(h: Header, regionLength: number): void {
  const bad = (why: string) => {
    throw new HeapCorruptError('header', why);
  };
  if (h.regionSize > regionLength) bad(`records region size ${h.regionSize} but the region has ${regionLength} bytes`);
  if (h.slabSize < MIN_SLAB_SIZE || h.slabSize % PAGE !== 0) bad(`slab size ${h.slabSize} is not a multiple of ${PAGE}`);
  if (h.slabTableOffset < h.registryOffset + h.registryBytes) bad('slab table overlaps the registry');
  if (h.slabsOffset < h.slabTableOffset + 4 * h.slabCount) bad('slabs overlap the slab table');
  if (h.slabsOffset + h.slabCount * h.slabSize > h.regionSize) bad(`${h.slabCount} slabs do not fit the region`);
  if (h.swzState !== SWZ_IDLE && h.swzState !== SWZ_ACTIVE) bad(`unknown swizzle state ${h.swzState}`);
  if (h.base === 0n || h.base % 8n !== 0n) bad(`base ${hex(h.base)} is not a valid mapping base`);
}

/** Layout of a fresh heap of `regionSize` bytes cut into slabs of `slabSize`. */
export function planLayout(regionSize: number, slabSize: number): Pick<
  Header,
  'regionSize' | 'slabSize' | 'slabCount' | 'registryOffset' | 'registryBytes' | 'slabTableOffset' | 'slabsOffset'
> {
  if (slabSize < MIN_SLAB_SIZE || slabSize % PAGE !== 0) throw new RangeError(`slab size must be a multiple of ${PAGE}`);
  const slabTableOffset = REGISTRY_OFFSET + REGISTRY_BYTES;
  // slabCount depends on the table size, which depends on slabCount: solve from above.
  let slabCount = Math.floor((regionSize - slabTableOffset) / slabSize);
  while (slabCount > 0 && align(slabTableOffset + 4 * slabCount, PAGE) + slabCount * slabSize > regionSize) slabCount--;
  if (slabCount < 2) throw new RangeError(`region of ${regionSize} bytes is too small for 2 slabs of ${slabSize}`);
  return {
    regionSize,
    slabSize,
    slabCount,
    registryOffset: REGISTRY_OFFSET,
    registryBytes: REGISTRY_BYTES,
    slabTableOffset,
    slabsOffset: align(slabTableOffset + 4 * slabCount, PAGE),
  };
}

// ---------------------------------------------------------------- slab header
export interface SlabGeometry {
  objSize: number;
  objCount: number;
  /** offsets relative to the slab start */
  bitmapOffset: number;
  bitmapWords: number; // u32 words
  objOffset: number;
}

export function slabGeometry(slabSize: number, objSize: number): SlabGeometry {
  // Largest n with header + bitmap(n) + n objects <= slabSize.
  let n = Math.floor((slabSize - SLAB_HEADER_BYTES) / objSize);
  const fits = (k: number) => SLAB_HEADER_BYTES + align(Math.ceil(k / 32) * 4, 8) + k * objSize <= slabSize;
  while (n > 0 && !fits(n)) n--;
  const bitmapWords = Math.ceil(n / 32);
  return {
    objSize,
    objCount: n,
    bitmapOffset: SLAB_HEADER_BYTES,
    bitmapWords,
    objOffset: SLAB_HEADER_BYTES + align(bitmapWords * 4, 8),
  };
}

export interface SlabHeader {
  typeId: number;
  objSize: number;
  objCount: number;
  objOffset: number;
  slabIndex: number;
  relBase: bigint;
}

/** The immutable part (magic..slabIndex) is checksummed; relBase is the mutable progress
 *  record and is written alone, as one aligned 8-byte store. */
export function encodeSlabHeader(s: SlabHeader): Uint8Array {
  const b = new Uint8Array(SLAB_HEADER_BYTES);
  const v = view(b);
  v.setUint32(0, SLAB_MAGIC, true);
  v.setUint32(4, s.typeId, true);
  v.setUint32(8, s.objSize, true);
  v.setUint32(12, s.objCount, true);
  v.setUint32(16, SLAB_HEADER_BYTES, true);
  v.setUint32(20, s.objOffset, true);
  v.setUint32(24, s.slabIndex, true);
  v.setUint32(SLAB_CRC_AT, crc32(b, 0, SLAB_CRC_AT), true);
  v.setBigUint64(SLAB_RELBASE_AT, s.relBase, true);
  return b;
}

/** Decodes and checks a slab header; returns a reason string instead of throwing so the caller
 *  can name the slab in its error. */
export function decodeSlabHeader(region: Uint8Array, at: number): SlabHeader | string {
  const b = region.subarray(at, at + SLAB_HEADER_BYTES);
  const v = view(b);
  if (v.getUint32(0, true) !== SLAB_MAGIC) return `bad magic ${hex(v.getUint32(0, true))}`;
  const stored = v.getUint32(SLAB_CRC_AT, true);
  const actual = crc32(b, 0, SLAB_CRC_AT);
  if (stored !== actual) return `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`;
  return {
    typeId: v.getUint32(4, true),
    objSize: v.getUint32(8, true),
    objCount: v.getUint32(12, true),
    objOffset: v.getUint32(20, true),
    slabIndex: v.getUint32(24, true),
    relBase: v.getBigUint64(SLAB_RELBASE_AT, true),
  };
}
