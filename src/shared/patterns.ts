// Data patterns: deterministic pseudo-random bytes from (seed, name), so the harness knows the
// ground truth without storing it and a rerun with the same seed writes the same bytes.
import { createCipheriv, createHash } from 'node:crypto';

export function patternBytes(seed: number, name: string, length: number): Buffer {
  const key = createHash('sha256').update(`ftharness-pattern:${seed}:${name}`).digest();
  // AES-CTR keystream over zeros: fast (GB/s) and reproducible.
  const c = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return Buffer.concat([c.update(Buffer.alloc(length)), c.final()]);
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Offset of the first differing byte, or -1. */
export function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

export function countNonZero(b: Buffer): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) n++;
  return n;
}
