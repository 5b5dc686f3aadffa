// Ground truth on the host: what the NVDIMM's backing file holds. The guest is not asked. A pure
// function of evidence kept in the results dir: the file's digest and the pattern writes (whose
// bytes come back from their seed), so a stored run can be judged again.
import { createHash } from 'node:crypto';
import type { CheckResult } from '../results/types.js';
import { patternBytes } from '../shared/patterns.js';
import type { Digest } from './digest.js';

/** One pattern write the harness made, in the order it made them. */
export interface PatternWrite { name: string; offset: number; length: number; seed: number }

export interface BackingFileEvidence {
  label: string;
  digest: Digest;
  writes: PatternWrite[];
  /** every byte no pattern wrote must be zero (a fresh backing file is sparse) */
  restZero: boolean;
}

/**
 * The backing-file oracle, block by block (4 KiB; pattern writes are block-aligned). Every case,
 * first matching row wins:
 *
 * | row | case                                                                  | valid |
 * |-----|-----------------------------------------------------------------------|-------|
 * | 1   | the file ends before the end of a written pattern                     | false |
 * | 2   | a block a pattern wrote (and no later pattern overwrote) differs       | false |
 * | 3   | restZero, and a block no pattern wrote is not all zero                 | false |
 * | 4   | otherwise: every visible pattern block intact (and the rest zero)      | true  |
 *
 * "Visible": where two patterns overlap, the later write is what a correct device holds.
 */
export function judgeBackingFile(e: BackingFileEvidence): CheckResult {
  const { digest: d, writes } = e;
  const name = `backing file holds ${writes.map((w) => w.name).join(', ')}`;
  const evidence: Record<string, unknown> = { file: e.label, size: d.size };
  for (const w of writes) evidence[w.name] = { offset: w.offset, length: w.length, firstDifferenceAt: null };
  const tooLong = writes.find((w) => w.offset + w.length > d.size);
  if (tooLong) return { name, valid: false, message: `${e.label} is ${d.size} bytes: pattern ${tooLong.name} (${tooLong.offset}+${tooLong.length}) does not fit`, evidence };
  // Which write owns each block (the last one covering it), and its bytes there.
  const owner = new Map<number, number>();
  writes.forEach((w, i) => {
    for (let b = Math.floor(w.offset / d.block); b * d.block < w.offset + w.length; b++) owner.set(b, i);
  });
  const bytes = writes.map((w) => patternBytes(w.seed, w.name, w.length));
  for (const [b, i] of [...owner].sort((x, y) => x[0] - y[0])) {
    const w = writes[i];
    const want = Buffer.alloc(Math.min(d.block, d.size - b * d.block));
    const a = Math.max(b * d.block, w.offset);
    const z = Math.min((b + 1) * d.block, w.offset + w.length);
    bytes[i].copy(want, a - b * d.block, a - w.offset, z - w.offset);
    const h = want.some((x) => x !== 0) ? createHash('sha256').update(want).digest('hex').slice(0, 16) : undefined;
    if (d.blocks[b]?.[0] !== h) {
      (evidence[w.name] as Record<string, unknown>).firstDifferenceAt = b * d.block;
      return { name, valid: false, message: `pattern ${w.name} differs at byte ${b * d.block} of ${e.label} (in the block there)`, evidence };
    }
  }
  if (e.restZero) {
    let nonZero = 0;
    let firstAt = -1;
    for (const [b, [, nz]] of Object.entries(d.blocks)) {
      if (owner.has(Number(b))) continue;
      nonZero += nz;
      if (firstAt < 0 || Number(b) * d.block < firstAt) firstAt = Number(b) * d.block;
    }
    evidence.nonZeroOutsidePatterns = nonZero;
    if (nonZero) return { name, valid: false, message: `${nonZero} unexpected non-zero bytes outside the written patterns (first in the block at ${firstAt})`, evidence };
  }
  return { name, valid: true, message: `${writes.length} pattern(s) intact${e.restZero ? ', rest all zero' : ''}`, evidence };
}
