// Shared fixtures for the pmem-ha tests: one embedded Ceph RGW per test file (real SigV4,
// real If-None-Match), temp files as PMEM regions, and a fresh key prefix per test so tests in
// one file never see each other's generations.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedRgw, type EmbeddedRgw } from '../../src/store/rgw.js';
import { ensureBucket, makeS3Client } from '../../src/shared/s3.js';
import { makeS3Store, type ObjectStore } from '../../src/pmem-ha/store.js';

export const MiB = 1024 * 1024;
export const BUCKET = 'pmem-ha-test';

export interface Lab {
  rgw: EmbeddedRgw;
  store: ObjectStore;
  dir: string;
  /** A fresh key prefix (unique per call). */
  prefix(): string;
  /** A temp file path under this lab's dir. */
  path(name: string): string;
  stop(): Promise<void>;
}

let counter = 0;

/** Mocha hooks for a test file: one lab (store + temp dir) started before, stopped after. */
export function useLab(set: (lab: Lab) => void): void {
  let lab: Lab | undefined;
  before(async function () {
    this.timeout(120000);
    lab = await startLab();
    set(lab);
  });
  after(async () => lab?.stop());
}

/**
 * The store, but PUTs matching `hold` wait for `gate` first. Like a real request, a held PUT
 * ends when its caller aborts it.
 */
export function holdPuts(store: ObjectStore, hold: (key: string) => boolean, gate: Promise<void>): ObjectStore {
  return {
    ...store,
    endpoint: store.endpoint,
    bucket: store.bucket,
    put: async (key, body, opts) => {
      if (hold(key)) {
        await Promise.race([
          gate,
          new Promise((_, reject) => opts?.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true })),
        ]);
      }
      return store.put(key, body, opts);
    },
  };
}

/** Start the store and a temp dir; call from before(), stop() from after(). */
export async function startLab(): Promise<Lab> {
  const rgw = await startEmbeddedRgw();
  try {
    const s3 = makeS3Client(rgw.conn);
    await ensureBucket(s3, BUCKET);
    s3.destroy();
  } catch (err) {
    await rgw.stop();
    throw err;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pmem-ha-test-'));
  return {
    rgw,
    store: makeS3Store({ ...rgw.conn, bucket: BUCKET }),
    dir,
    prefix: () => `t${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`,
    path: (name) => join(dir, `${++counter}-${name}`),
    stop: async () => {
      rmSync(dir, { recursive: true, force: true });
      await rgw.stop();
    },
  };
}

/**
 * Deterministic region content: chunk i is all zeros when zeroChunks has i, else bytes derived
 * from (seed, i) so two saves of different seeds differ in every non-zero chunk.
 */
export function pattern(size: number, chunkSize: number, seed: string, zeroChunks: Iterable<number> = []): Buffer {
  const buf = Buffer.alloc(size);
  const zeros = new Set(zeroChunks);
  for (let i = 0; i * chunkSize < size; i++) {
    if (zeros.has(i)) continue;
    const end = Math.min(size, (i + 1) * chunkSize);
    let block = createHash('sha256').update(`${seed}:${i}`).digest();
    for (let off = i * chunkSize; off < end; off += 32) {
      block.copy(buf, off, 0, Math.min(32, end - off));
      block = createHash('sha256').update(block).digest();
    }
  }
  return buf;
}

export function writeRegion(path: string, content: Buffer): string {
  writeFileSync(path, content);
  return path;
}

export function readRegion(path: string): Buffer {
  return readFileSync(path);
}

/** Poll `cond` until true or time out (for the agents' asynchronous reports). */
export type Truthy<T> = Exclude<T, false | '' | 0 | null | undefined>;
export async function waitFor<T>(what: string, cond: () => T | Promise<T>, timeoutMs = 20000, everyMs = 25): Promise<Truthy<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as Truthy<T>;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A --pause-at stand-in for tests: `reached` resolves with the label, `release()` aborts the wait. */
export function pauser(): { wait: (label: string) => Promise<void>; reached: Promise<string>; release: () => void; signal: AbortSignal } {
  const ctl = new AbortController();
  let resolve!: (label: string) => void;
  const reached = new Promise<string>((r) => (resolve = r));
  return {
    wait: (label) =>
      new Promise<void>((_, reject) => {
        resolve(label);
        ctl.signal.addEventListener('abort', () => reject(new Error(`released from ${label}`)), { once: true });
      }),
    reached,
    release: () => ctl.abort(),
    signal: ctl.signal,
  };
}

/** Keys under a prefix, relative to it, sorted. */
export async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const { keys } = await store.list(`${prefix}/`);
  return keys.map((k) => k.slice(prefix.length + 1)).sort();
}

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
export async function deadPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
