// Ground truth on the host: what the NVDIMM's backing file holds. The guest is not asked.
import { open } from 'node:fs/promises';
import type { CheckResult } from '../results/types.js';
import { firstDifference, sha256 } from '../runner/patterns.js';

export interface ExpectedRegion { name: string; offset: number; bytes: Buffer }

const CHUNK = 8 * 2 ** 20;
const ZERO = Buffer.alloc(CHUNK);

/**
 * Every expected region must be in the file byte for byte, and (when `restZero`) every other
 * byte must be zero: a fresh backing file is sparse, so anything else was written by someone.
 */
export async function checkBackingFile(file: string, regions: ExpectedRegion[], restZero: boolean): Promise<CheckResult> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const evidence: Record<string, unknown> = { file, size };
    for (const r of regions) {
      const got = Buffer.alloc(r.bytes.length);
      await fh.read(got, 0, got.length, r.offset);
      const diff = firstDifference(got, r.bytes);
      evidence[r.name] = { offset: r.offset, length: r.bytes.length, expectedSha256: sha256(r.bytes), actualSha256: sha256(got), firstDifferenceAt: diff < 0 ? null : r.offset + diff };
      if (diff >= 0) return { name: `backing file holds ${r.name}`, valid: false, message: `pattern ${r.name} differs at byte ${r.offset + diff} of ${file}`, evidence };
    }
    if (restZero) {
      let nonZero = 0;
      let firstAt = -1;
      const buf = Buffer.alloc(CHUNK);
      for (let off = 0; off < size; off += CHUNK) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, off);
        const view = buf.subarray(0, bytesRead);
        if (view.equals(ZERO.subarray(0, bytesRead))) continue;
        for (let i = 0; i < bytesRead; i++) {
          const abs = off + i;
          if (view[i] !== 0 && !regions.some((r) => abs >= r.offset && abs < r.offset + r.bytes.length)) {
            nonZero++;
            if (firstAt < 0) firstAt = abs;
          }
        }
      }
      evidence.nonZeroOutsidePatterns = nonZero;
      if (nonZero) return { name: `backing file holds ${regions.map((r) => r.name).join(', ')}`, valid: false, message: `${nonZero} unexpected non-zero bytes outside the written patterns (first at ${firstAt})`, evidence };
    }
    return { name: `backing file holds ${regions.map((r) => r.name).join(', ')}`, valid: true, message: `${regions.length} pattern(s) intact${restZero ? ', rest all zero' : ''}`, evidence };
  } finally {
    await fh.close();
  }
}
