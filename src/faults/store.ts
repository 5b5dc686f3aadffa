// Object-store faults: the gateway unavailable for a while; a stored chunk corrupted or lost.
import { createHash } from 'node:crypto';
import type { RunContext, RunStore } from '../runner/context.js';
import { deleteObject, getObject, listObjects, makeS3Client, putObject } from '../store/s3.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function storeOf(ctx: RunContext): RunStore {
  if (!ctx.store) throw new Error('this step needs an object store: add `store: auto` to the scenario');
  return ctx.store;
}

/** Stop the gateway now, start it again after `ms`; resolves when it is back. */
export async function storeOutage(ctx: RunContext, ms: number): Promise<void> {
  const store = storeOf(ctx);
  if (!store.gateway) throw new Error(`store-outage needs a store the harness runs itself; ${store.backend} is not`);
  const f = ctx.history.faultStart('store-outage', `object store down ${ms} ms`, { ms });
  await store.gateway.stop();
  await sleep(ms);
  await ctx.history.op('nemesis', 'store-restart', undefined, () => store.gateway!.start());
  ctx.history.faultEnd(f);
}

/** Committed generations under a prefix, newest first: manifests the harness finds itself. */
export async function listManifests(ctx: RunContext, prefix: string): Promise<{ generation: string; key: string }[]> {
  const store = storeOf(ctx);
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
export async function uncommittedSaves(ctx: RunContext, prefix: string): Promise<{ generation: string; chunks: number }[]> {
  const store = storeOf(ctx);
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

export async function corruptChunk(ctx: RunContext, prefix: string, mode: 'bitflip' | 'delete', index?: number): Promise<Record<string, unknown>> {
  const store = storeOf(ctx);
  const [newest] = await listManifests(ctx, prefix);
  if (!newest) throw new Error('corrupt-chunk: no committed generation in the store yet');
  const s3 = makeS3Client(store.conn);
  try {
    const chunkPrefix = `${prefix}/gen/${newest.generation}/chunk/`;
    const chunks = (await listObjects(s3, store.bucket, { prefix: chunkPrefix })).map((o) => Number(o.key.slice(chunkPrefix.length))).sort((a, b) => a - b);
    const target = index ?? chunks[0];
    if (target === undefined || !chunks.includes(target)) throw new Error(`corrupt-chunk: generation ${newest.generation} has no stored chunk ${index ?? ''} (stored: ${chunks.join(',')})`);
    const key = `${chunkPrefix}${target}`;
    const f = ctx.history.faultStart('chunk-corruption', `chunk ${target} of ${newest.generation}: ${mode}`, { generation: newest.generation, chunk: target, mode });
    let detail: Record<string, unknown> = { key, generation: newest.generation, chunk: target, mode };
    if (mode === 'delete') {
      await deleteObject(s3, store.bucket, key);
    } else {
      const body = await getObject(s3, store.bucket, key);
      const bit = body.length * 4 + 3; // a bit in the middle of the chunk
      body[bit >> 3] ^= 1 << (bit & 7);
      await putObject(s3, store.bucket, key, body);
      detail = { ...detail, flippedBit: bit, sha256After: createHash('sha256').update(body).digest('hex') };
    }
    ctx.history.faultEnd(f);
    return detail;
  } finally {
    s3.destroy();
  }
}
