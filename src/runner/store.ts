// The run's object store: chosen from the scenario's `store` and the environment, a bucket of
// its own, stopped (or its objects removed) when the run closes.
import { openStore, storeConfigFromEnv, type StoreConfig } from '../store/config.js';
import { deleteBucket, ensureBucket, makeS3Client } from '../shared/s3.js';
import type { Lab } from '../lab/lab.js';
import { chmod, writeFile } from 'node:fs/promises';
import { withHeldSecrets } from '../util/held-secrets.js';
import { join } from 'node:path';
import type { S3Connection } from '../shared/s3.js';
import type { RunStore } from './context.js';

function configFor(kind: 'auto' | 'embedded' | 'external' | 'testcontainers-minio'): StoreConfig {
  if (kind === 'auto') return storeConfigFromEnv(withHeldSecrets());
  if (kind === 'embedded') return { kind: 'embedded' };
  if (kind === 'external') return storeConfigFromEnv({ ...withHeldSecrets(), FTH_STORE: 'external' });
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
  lab.onCleanup(`object store ${handle.backend}`, () => handle.stop(), { batch: 'independent' });
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

/**
 * Hand a guest-side agent its S3 credentials as a 0600 JSON file in the VM's control share
 * (host dir `ctlDir`, guest `guestCtlDir`): the guest-exec payload travels on virsh's command
 * line and becomes the process environment in the guest, so neither may carry a secret.
 * Returns the environment that names the file (pmem-ha/credentials.ts reads it).
 */
export async function handCredentials(ctlDir: string, guestCtlDir: string, conn: S3Connection, secretAccessKey = conn.secretAccessKey): Promise<Record<string, string>> {
  const file = join(ctlDir, 'credentials.json');
  await writeFile(file, JSON.stringify({ accessKeyId: conn.accessKeyId, secretAccessKey, region: conn.region }), { mode: 0o600 });
  await chmod(file, 0o600); // writeFile's mode applies only when it creates the file
  return { FTH_S3_CREDENTIALS_FILE: `${guestCtlDir}/credentials.json` };
}
