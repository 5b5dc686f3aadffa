// Ground truth for PMEM HA that the harness reads from the store itself: which generations exist
// (manifests it lists), which saves were torn (chunks without a manifest), and what each
// generation holds (every chunk fetched and hashed here; the SUT's manifest checksum and
// verdicts are not trusted).
import { createHash } from 'node:crypto';
import { digest } from '../../checkers/digest.js';
import type { RunStore } from '../../runner/context.js';
import { getObject, listObjects, makeS3Client, type S3Connection } from '../../shared/s3.js';
import type { GenerationTruth } from './checker.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface ManifestView { regionSize: number; chunkSize: number; chunks: { index: number; sha256: string; zero: boolean; cas?: boolean }[] }

/** One generation as the harness sees it: manifest + every chunk, hashed here; its content
 *  digested when intact (`content` too, for faults that need the bytes). */
export async function readGeneration(conn: S3Connection, bucket: string, prefix: string, generation: string): Promise<GenerationTruth & { content?: Buffer }> {
  const s3 = makeS3Client(conn);
  try {
    let m: ManifestView;
    try {
      m = JSON.parse((await getObject(s3, bucket, `${prefix}/gen/${generation}/manifest.json`)).toString('utf8')) as ManifestView;
      if (!Number.isInteger(m.regionSize) || !Number.isInteger(m.chunkSize) || !Array.isArray(m.chunks)) throw new Error('manifest lacks regionSize/chunkSize/chunks');
    } catch (e) {
      return { generation, intact: false, problem: `manifest unreadable: ${(e as Error).message}` };
    }
    const content = Buffer.alloc(m.regionSize);
    const stored = new Set((await listObjects(s3, bucket, { prefix: `${prefix}/gen/${generation}/chunk/` })).map((o) => o.key));
    // Chunks a pre-copy stored by content, at cas/<sha256>, before the AC loss.
    if (m.chunks.some((c) => c.cas)) for (const o of await listObjects(s3, bucket, { prefix: `${prefix}/cas/` })) stored.add(o.key);
    // GETs in a small pool: a generation is tens of chunks, each a round trip.
    const wanted = m.chunks.filter((c) => !c.zero);
    for (const c of m.chunks.filter((x) => x.zero)) {
      const len = Math.min(m.chunkSize, m.regionSize - c.index * m.chunkSize);
      if (c.sha256 !== sha(Buffer.alloc(len))) return { generation, intact: false, problem: `chunk ${c.index} marked zero with a non-zero hash` };
    }
    let problem: string | undefined;
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (!problem && next < wanted.length) {
        const c = wanted[next++];
        const off = c.index * m.chunkSize;
        const len = Math.min(m.chunkSize, m.regionSize - off);
        const key = c.cas ? `${prefix}/cas/${c.sha256}` : `${prefix}/gen/${generation}/chunk/${c.index}`;
        if (!stored.has(key)) { problem ??= `chunk ${c.index} missing from the store`; return; }
        const body = await getObject(s3, bucket, key);
        if (body.length !== len || sha(body) !== c.sha256) { problem ??= `chunk ${c.index} does not match its manifest hash`; return; }
        body.copy(content, off);
      }
    }));
    if (problem) return { generation, intact: false, problem };
    return { generation, intact: true, digest: digest(content), content };
  } finally {
    s3.destroy();
  }
}

/** Committed generations under a prefix, newest first: manifests the harness finds itself. */
export async function listManifests(store: RunStore, prefix: string): Promise<{ generation: string; key: string }[]> {
  const s3 = makeS3Client(store.conn);
  try {
    const objs = await listObjects(s3, store.bucket, { prefix: `${prefix}/gen/` });
    return objs.filter((o) => o.key.endsWith('/manifest.json'))
      .map((o) => ({ key: o.key, generation: o.key.slice(`${prefix}/gen/`.length).split('/')[0] }))
      .sort((a, b) => (a.generation < b.generation ? 1 : -1));
  } finally {
    s3.destroy();
  }
}

/** Saves that stored chunks but no manifest: torn saves (not generations). */
export async function uncommittedSaves(store: RunStore, prefix: string): Promise<{ generation: string; chunks: number }[]> {
  const s3 = makeS3Client(store.conn);
  try {
    const byGen = new Map<string, { chunks: number; manifest: boolean }>();
    for (const o of await listObjects(s3, store.bucket, { prefix: `${prefix}/gen/` })) {
      const [gen, kind] = o.key.slice(`${prefix}/gen/`.length).split('/');
      const e = byGen.get(gen) ?? { chunks: 0, manifest: false };
      if (kind === 'manifest.json') e.manifest = true; else e.chunks++;
      byGen.set(gen, e);
    }
    return [...byGen].filter(([, e]) => !e.manifest).map(([generation, e]) => ({ generation, chunks: e.chunks }));
  } finally {
    s3.destroy();
  }
}

/** The newest `n` generations, read and hashed here; those the harness saw intact before a
 *  fault damaged them keep what it saw (`wasIntact`). */
export async function readGenerations(store: RunStore, prefix: string, n: number, seen: ReadonlyMap<string, GenerationTruth['digest']>): Promise<GenerationTruth[]> {
  const out: GenerationTruth[] = [];
  for (const m of (await listManifests(store, prefix)).slice(0, n)) {
    const { content: _, ...g } = await readGeneration(store.conn, store.bucket, prefix, m.generation);
    const was = seen.get(m.generation);
    out.push(!g.intact && was ? { ...g, wasIntact: was } : g);
  }
  return out;
}
