// Where things live in the bucket, and what a generation id looks like.
//
//   <prefix>/gen/<generation>/chunk/<index>     one object per non-zero chunk (index in decimal)
//   <prefix>/gen/<generation>/manifest.json     the commit point (written with If-None-Match: *)
//   <prefix>/latest                             advisory pointer, JSON {generation, manifestKey, manifestSha256, committedAt}
//
// Generation ids are `<15-digit zero-padded ms>-<8 hex random>`: they sort as strings in time
// order, and the random part keeps two saves in the same millisecond (or by two primaries with
// skewed clocks) from sharing a key space. Monotonicity across primary restarts comes from
// `nextGeneration`: the time part is max(now, newest seen in the store + 1).

import { randomBytes } from 'node:crypto';

const GEN_RE = /^(\d{15})-([0-9a-f]{8})$/;

export function normalizePrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, '');
}

function join(prefix: string, rest: string): string {
  const p = normalizePrefix(prefix);
  return p === '' ? rest : `${p}/${rest}`;
}

export const genRoot = (prefix: string): string => join(prefix, 'gen/');
export const genDir = (prefix: string, generation: string): string => join(prefix, `gen/${generation}/`);
export const chunkKey = (prefix: string, generation: string, index: number): string => `${genDir(prefix, generation)}chunk/${index}`;
export const manifestKey = (prefix: string, generation: string): string => `${genDir(prefix, generation)}manifest.json`;
export const latestKey = (prefix: string): string => join(prefix, 'latest');
/** A chunk stored by its content (pre-copy): the key is its sha256, so it never changes. */
export const casRoot = (prefix: string): string => join(prefix, 'cas/');
export const casKey = (prefix: string, sha256: string): string => join(prefix, `cas/${sha256}`);

export function isGenerationId(s: string): boolean {
  return GEN_RE.test(s);
}

/** Time part (ms) of a generation id, or undefined if it is not one of ours. */
export function generationTime(gen: string): number | undefined {
  const m = GEN_RE.exec(gen);
  return m ? Number(m[1]) : undefined;
}

/** Negative if a is older than b. Both must be generation ids (fixed width, so string order). */
export function compareGenerations(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A fresh id newer than `newestKnown` (if any) and than the clock. */
export function nextGeneration(newestKnown?: string | null, now: number = Date.now()): string {
  const floor = newestKnown ? (generationTime(newestKnown) ?? 0) + 1 : 0;
  const t = Math.max(now, floor);
  return `${String(t).padStart(15, '0')}-${randomBytes(4).toString('hex')}`;
}

/** The generation id inside a key under genRoot(prefix), e.g. from a CommonPrefix. */
export function generationFromKey(prefix: string, key: string): string | undefined {
  const root = genRoot(prefix);
  if (!key.startsWith(root)) return undefined;
  const gen = key.slice(root.length).split('/')[0];
  return isGenerationId(gen) ? gen : undefined;
}
