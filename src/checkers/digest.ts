// Content digests: what a checker keeps of a backing file, a store generation or a snapshot, so
// that it can judge again later from the results dir without the bytes (a 64 MiB NVDIMM digests
// to a few hundred KiB). Per 4 KiB block: a hash and the count of non-zero bytes, for non-zero
// blocks only (a fresh NVDIMM is all zero); plus a hash of the whole content.
import { createHash } from 'node:crypto';

export const DIGEST_BLOCK = 4096;

export interface Digest {
  size: number;
  block: number;
  sha256: string;
  /** block index → [first 16 hex digits of its sha256, non-zero bytes in it]; zero blocks absent */
  blocks: Record<string, [string, number]>;
}

const ZERO = Buffer.alloc(DIGEST_BLOCK);

export function digest(buf: Buffer, block = DIGEST_BLOCK): Digest {
  const blocks: Digest['blocks'] = {};
  for (let off = 0, i = 0; off < buf.length; off += block, i++) {
    const b = buf.subarray(off, off + block);
    if (b.equals(ZERO.subarray(0, b.length))) continue;
    let nz = 0;
    for (let k = 0; k < b.length; k++) if (b[k]) nz++;
    blocks[i] = [createHash('sha256').update(b).digest('hex').slice(0, 16), nz];
  }
  return { size: buf.length, block, sha256: createHash('sha256').update(buf).digest('hex'), blocks };
}

export function sameContent(a: Digest, b: Digest): boolean {
  return a.size === b.size && a.sha256 === b.sha256;
}

/** Byte offset of the first block that differs, or -1 when the contents are the same. */
export function firstDifferentBlock(a: Digest, b: Digest): number {
  if (sameContent(a, b)) return -1;
  const n = Math.ceil(Math.max(a.size, b.size) / a.block);
  for (let i = 0; i < n; i++) if (a.blocks[i]?.[0] !== b.blocks[i]?.[0]) return i * a.block;
  return Math.min(a.size, b.size);
}

/** Non-zero bytes of `primary` in the blocks `standby` does not hold exactly (the RPO in bytes,
 *  at block granularity). */
export function bytesAtRisk(primary: Digest, standby: Digest): number {
  let n = 0;
  for (const [i, [h, nz]] of Object.entries(primary.blocks)) if (standby.blocks[i]?.[0] !== h) n += nz;
  return n;
}
