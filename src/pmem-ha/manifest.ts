// The manifest is what turns a set of chunk objects into a committed generation. It is written
// last, with If-None-Match: *, so its existence is the commit point; it carries a checksum of
// itself so a standby can refuse a damaged one instead of restoring garbage.

import { createHash } from 'node:crypto';

export const MANIFEST_FORMAT = 'ftharness.pmem-ha.manifest';
/** 2 adds chunk entries stored by content (`cas`); a manifest without any is still written as 1. */
export const MANIFEST_VERSION = 2;
const MANIFEST_VERSIONS = [1, 2];

export interface ChunkEntry {
  index: number;
  /** sha256 (hex) of the chunk's bytes as read from the region (zero chunks too). */
  sha256: string;
  /** true = all bytes zero: recorded here, never uploaded. */
  zero: boolean;
  /** true = stored by content at <prefix>/cas/<sha256> (a pre-copy while AC was present),
   *  not under this generation (version 2). */
  cas?: true;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: number;
  generation: string;
  /** Who saved it (default hostname:device); informational. */
  sourceId: string;
  regionSize: number;
  chunkSize: number;
  chunks: ChunkEntry[];
  /** Wall-clock ms when the save started reading the region / when the manifest was built. */
  startedAt: number;
  committedAt: number;
  /** sha256 (hex) of the canonical JSON of every other field. */
  manifestSha256: string;
}

export type ManifestBody = Omit<Manifest, 'manifestSha256'>;

/** JSON with object keys sorted at every level, so the checksum does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sealManifest(body: ManifestBody): Manifest {
  return { ...body, manifestSha256: sha256Hex(canonicalJson(body)) };
}

export function serializeManifest(m: Manifest): Buffer {
  return Buffer.from(JSON.stringify(m, null, 1) + '\n', 'utf8');
}

export function chunkCountFor(regionSize: number, chunkSize: number): number {
  return Math.ceil(regionSize / chunkSize);
}

/** Byte length of chunk `index` (the last one may be short). */
export function chunkLength(regionSize: number, chunkSize: number, index: number): number {
  return Math.min(chunkSize, regionSize - index * chunkSize);
}

const zeroShaCache = new Map<number, string>();
/** sha256 of `length` zero bytes; zero chunks must carry exactly this. */
export function zeroChunkSha(length: number): string {
  let s = zeroShaCache.get(length);
  if (s === undefined) {
    s = sha256Hex(Buffer.alloc(length));
    zeroShaCache.set(length, s);
  }
  return s;
}

export class ManifestError extends Error {
  override name = 'ManifestError';
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Parse and validate a manifest. Throws ManifestError saying exactly what is wrong
 * (bad JSON, bad manifest checksum, inconsistent geometry, ...). `expectGeneration` guards
 * against a manifest copied under another generation's key.
 */
export function parseManifest(bytes: Uint8Array | string, expectGeneration?: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new ManifestError(`manifest is not valid JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ManifestError('manifest is not a JSON object');
  const m = raw as Record<string, unknown>;
  if (m.format !== MANIFEST_FORMAT) throw new ManifestError(`manifest format is ${JSON.stringify(m.format)}, expected ${MANIFEST_FORMAT}`);
  if (!MANIFEST_VERSIONS.includes(m.version as number)) throw new ManifestError(`unsupported manifest version ${JSON.stringify(m.version)}`);
  const { manifestSha256, ...body } = m;
  if (typeof manifestSha256 !== 'string') throw new ManifestError('manifest has no manifestSha256');
  const actual = sha256Hex(canonicalJson(body));
  if (actual !== manifestSha256) throw new ManifestError(`bad manifest checksum: stored ${manifestSha256.slice(0, 16)}…, computed ${actual.slice(0, 16)}…`);

  // Checksum fine: now the content must also make sense (a buggy writer can seal nonsense).
  const int = (k: string, min: number): number => {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new ManifestError(`manifest field ${k} is invalid: ${JSON.stringify(v)}`);
    return v;
  };
  if (typeof m.generation !== 'string' || m.generation === '') throw new ManifestError('manifest has no generation');
  if (expectGeneration !== undefined && m.generation !== expectGeneration) {
    throw new ManifestError(`manifest says generation ${m.generation} but is stored under ${expectGeneration}`);
  }
  if (typeof m.sourceId !== 'string') throw new ManifestError('manifest has no sourceId');
  const regionSize = int('regionSize', 1);
  const chunkSize = int('chunkSize', 1);
  int('startedAt', 0);
  int('committedAt', 0);
  if (!Array.isArray(m.chunks)) throw new ManifestError('manifest has no chunk list');
  const n = chunkCountFor(regionSize, chunkSize);
  if (m.chunks.length !== n) throw new ManifestError(`manifest lists ${m.chunks.length} chunks, geometry needs ${n}`);
  m.chunks.forEach((c: unknown, i: number) => {
    const e = c as Partial<ChunkEntry> | null;
    if (!e || e.index !== i) throw new ManifestError(`manifest chunk entry ${i} has index ${JSON.stringify(e?.index)}`);
    if (typeof e.sha256 !== 'string' || !HEX64.test(e.sha256)) throw new ManifestError(`manifest chunk ${i} has no valid sha256`);
    if (typeof e.zero !== 'boolean') throw new ManifestError(`manifest chunk ${i} has no zero flag`);
    if (e.zero && e.sha256 !== zeroChunkSha(chunkLength(regionSize, chunkSize, i))) {
      throw new ManifestError(`manifest chunk ${i} is marked zero but its sha256 is not that of zeros`);
    }
    if (e.cas !== undefined && (e.cas !== true || e.zero || m.version === 1)) {
      throw new ManifestError(`manifest chunk ${i} has an invalid cas flag (only non-zero chunks of a version 2 manifest are stored by content)`);
    }
  });
  return m as unknown as Manifest;
}
