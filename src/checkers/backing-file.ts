// Ground truth on the host: what the NVDIMM's backing file holds. The guest is not asked.
import { open } from 'node:fs/promises';
import type { CheckResult } from '../results/types.js';

/** One pattern write the harness made, in the order it made them. */
export interface ExpectedRegion { name: string; offset: number; bytes: Buffer }

/** Reads `length` bytes at `offset`; fewer at the end of the content. */
export type ByteReader = (offset: number, length: number) => Promise<Buffer>;

const CHUNK = 8 * 2 ** 20;

/** The bytes a correct device holds in [off, off+len): zeros, with every write laid over in
 *  order (a later write wins where two overlap), and which write owns each byte (-1: none). */
function expectedChunk(off: number, len: number, writes: ExpectedRegion[]): { bytes: Buffer; owner: Int16Array } {
  const bytes = Buffer.alloc(len);
  const owner = new Int16Array(len).fill(-1);
  writes.forEach((w, i) => {
    const a = Math.max(off, w.offset);
    const b = Math.min(off + len, w.offset + w.bytes.length);
    if (a >= b) return;
    w.bytes.copy(bytes, a - off, a - w.offset, b - w.offset);
    owner.fill(i, a - off, b - off);
  });
  return { bytes, owner };
}

/**
 * The backing-file oracle. Every case, first matching row wins:
 *
 * | row | case                                                                  | valid |
 * |-----|-----------------------------------------------------------------------|-------|
 * | 1   | the file ends before the end of a written pattern                     | false |
 * | 2   | a byte a pattern wrote (and no later pattern overwrote) differs        | false |
 * | 3   | restZero, and a byte no pattern wrote is non-zero                      | false |
 * | 4   | otherwise: every visible pattern byte intact (and the rest zero)       | true  |
 *
 * "Visible": where two patterns overlap, the later write is what a correct device holds. A
 * fresh backing file is sparse (all zero), so with `restZero` anything else was written by
 * someone. Compared range by range (Buffer.equals), bytewise only inside a differing range.
 */
export async function judgeBackingFile(label: string, size: number, read: ByteReader, writes: ExpectedRegion[], restZero: boolean): Promise<CheckResult> {
  const name = `backing file holds ${writes.map((r) => r.name).join(', ')}`;
  const evidence: Record<string, unknown> = { file: label, size };
  const end = Math.max(0, ...writes.map((w) => w.offset + w.bytes.length));
  for (const w of writes) evidence[w.name] = { offset: w.offset, length: w.bytes.length, firstDifferenceAt: null };
  if (end > size) {
    const w = writes.find((x) => x.offset + x.bytes.length > size)!;
    return { name, valid: false, message: `${label} is ${size} bytes: pattern ${w.name} (${w.offset}+${w.bytes.length}) does not fit`, evidence };
  }
  let nonZeroOutside = 0;
  let firstOutsideAt = -1;
  const limit = restZero ? size : end;
  for (let off = 0; off < limit; off += CHUNK) {
    const len = Math.min(CHUNK, limit - off);
    const got = await read(off, len);
    const want = expectedChunk(off, len, writes);
    if (got.length === len && got.equals(want.bytes)) continue;
    for (let i = 0; i < len; i++) {
      const actual = i < got.length ? got[i] : undefined;
      if (actual === want.bytes[i]) continue;
      const o = want.owner[i];
      if (o >= 0) {
        const w = writes[o];
        (evidence[w.name] as Record<string, unknown>).firstDifferenceAt = off + i;
        return { name, valid: false, message: `pattern ${w.name} differs at byte ${off + i} of ${label}`, evidence };
      }
      if (!restZero) continue;
      nonZeroOutside++;
      if (firstOutsideAt < 0) firstOutsideAt = off + i;
    }
  }
  evidence.nonZeroOutsidePatterns = nonZeroOutside;
  if (nonZeroOutside) return { name, valid: false, message: `${nonZeroOutside} unexpected non-zero bytes outside the written patterns (first at ${firstOutsideAt})`, evidence };
  return { name, valid: true, message: `${writes.length} pattern(s) intact${restZero ? ', rest all zero' : ''}`, evidence };
}

/** judgeBackingFile on a host file. */
export async function checkBackingFile(file: string, regions: ExpectedRegion[], restZero: boolean): Promise<CheckResult> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const read: ByteReader = async (offset, length) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    };
    return await judgeBackingFile(file, size, read, regions, restZero);
  } finally {
    await fh.close();
  }
}

