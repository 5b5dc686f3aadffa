// Sizes, one parser for the whole project (scenario files, agent flags, metric units): a bare
// number is bytes; K/M/G/T and KiB/MiB/GiB/TiB are binary; kB/MB/GB/TB are decimal.

export const KiB = 1024;
export const MiB = 1024 ** 2;

const SIZE_TO_BYTES: Record<string, number> = {
  b: 1, byte: 1, bytes: 1,
  k: KiB, kib: KiB, kb: 1000, m: MiB, mib: MiB, mb: 1e6,
  g: 1024 ** 3, gib: 1024 ** 3, gb: 1e9, t: 1024 ** 4, tib: 1024 ** 4, tb: 1e12,
};

/** Factor that turns a value in `unit` into bytes, or undefined if it is not a size unit. */
export function bytesFactor(unit: string): number | undefined {
  return SIZE_TO_BYTES[unit.trim().toLowerCase()];
}

/** "256MiB" → 268435456; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const f = m[2] === '' ? 1 : bytesFactor(m[2]);
  return f === undefined ? undefined : Math.round(Number(m[1]) * f);
}

/** A size as scenario files give it: bytes, or a string parseSize reads; throws otherwise. */
export function sizeBytes(v: number | string): number {
  if (typeof v === 'number') return v;
  const n = parseSize(v);
  if (n === undefined) throw new Error(`bad size "${v}"`);
  return n;
}

/** A size for messages, in the largest unit that divides it: "256MiB", "1536KiB", "1000B". */
export function showSize(bytes: number): string {
  if (bytes && bytes % MiB === 0) return `${bytes / MiB}MiB`;
  if (bytes && bytes % KiB === 0) return `${bytes / KiB}KiB`;
  return `${bytes}B`;
}
