// Sizes in scenario files: an integer number of bytes or a string like "256MiB".
const UNITS: Record<string, number> = { B: 1, K: 1024, KiB: 1024, M: 1024 ** 2, MiB: 1024 ** 2, G: 1024 ** 3, GiB: 1024 ** 3 };

export function sizeBytes(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)$/.exec(v);
  if (!m || !UNITS[m[2]]) throw new Error(`bad size "${v}"`);
  return Math.round(Number(m[1]) * UNITS[m[2]]);
}

export const KiB = 1024;
export const MiB = 1024 ** 2;

/** A size for messages, in the largest unit that divides it: "256MiB", "1536KiB", "1000B". */
export function showSize(bytes: number): string {
  if (bytes && bytes % MiB === 0) return `${bytes / MiB}MiB`;
  if (bytes && bytes % KiB === 0) return `${bytes / KiB}KiB`;
  return `${bytes}B`;
}
