// Deterministic PRNG and hashes for the workload: the checker recomputes the expected graph
// from the seed alone, so every random choice must come from here, never from Math.random.
import { mulberry32 } from '../shared/prng.js';

export { mulberry32 };

/** Seeded random helper: uint32(), below(n) in [0, n), chance(p). */
export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  uint32(): number {
    return this.next();
  }
  below(n: number): number {
    return Math.floor((this.next() / 4294967296) * n);
  }
  chance(p: number): boolean {
    return this.next() / 4294967296 < p;
  }
}

/** murmur3 fmix32: a stateless 32-bit mix for payloads keyed by (seed, kind, index). */
export function mix32(x: number): number {
  x = x >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** 64-bit payload of node `index` of structure `kind` under `seed`: what the checker expects. */
export function payload64(seed: number, kind: number, index: number): bigint {
  const hi = mix32(seed ^ mix32(Math.imul(kind, 0x9e3779b9) + index));
  const lo = mix32((seed + 0x7f4a7c15) ^ mix32(index * 31 + kind));
  return (BigInt(hi) << 32n) | BigInt(lo);
}
