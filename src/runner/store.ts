// The run's object store: chosen from the scenario's `store` and the environment, a bucket of
// its own, stopped (or its objects removed) when the run closes.
import { openStore, storeConfigFromEnv, type StoreConfig } from '../store/config.js';
import { deleteBucket, ensureBucket, makeS3Client } from '../store/s3.js';
import type { Lab } from '../lab/lab.js';
import type { RunStore } from './context.js';

function configFor(kind: 'auto' | 'embedded' | 'external' | 'testcontainers-minio'): StoreConfig {
  if (kind === 'auto') return storeConfigFromEnv();
  if (kind === 'embedded') return { kind: 'embedded' };
  if (kind === 'external') return storeConfigFromEnv({ ...process.env, FTH_STORE: 'external' });
  return { kind: 'testcontainers-minio' };
}

/** Guests reach the host's loopback through QEMU user networking at 10.0.2.2. */
export function guestEndpoint(endpoint: string): string {
  const u = new URL(endpoint);
  if (['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) u.hostname = '10.0.2.2';
  return u.toString().replace(/\/$/, '');
}

export async function openRunStore(kind: 'auto' | 'embedded' | 'external' | 'testcontainers-minio', lab: Lab, log: (l: string) => void): Promise<RunStore> {
  const handle = await openStore(configFor(kind), { log });
  lab.onCleanup(`object store ${handle.backend}`, () => handle.stop());
  const bucket = handle.conn.bucket ?? `fth-${lab.runId}`;
  const s3 = makeS3Client(handle.conn);
  try {
    await ensureBucket(s3, bucket);
  } finally {
    s3.destroy();
  }
  if (!handle.conn.bucket) {
    // Our own bucket on a store we do not own: remove it with its objects at the end.
    lab.onCleanup(`bucket ${bucket}`, async () => {
      const c = makeS3Client(handle.conn);
      try { await deleteBucket(c, bucket); } finally { c.destroy(); }
    });
  }
  return { ...handle, bucket, guestEndpoint: guestEndpoint(handle.conn.endpoint) };
}
