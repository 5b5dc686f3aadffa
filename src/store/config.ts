// Which object store a run uses, and how to open it. The rest of the harness sees only a
// StoreHandle: a connection, a label for results.json (dimensions.store) and a stop().
import { randomBytes } from 'node:crypto';
import { registerSecret } from '../shared/redact.js';
import { describeS3Error, ensureBucket, listBuckets, makeS3Client, type S3Connection } from '../shared/s3.js';
import { CEPH_PACKAGES, missingCephTools, startEmbeddedRgw } from './rgw.js';

export type StoreConfig =
  | { kind: 'embedded'; objectstore?: 'memstore' | 'bluestore'; dir?: string }
  | { kind: 'external'; endpoint: string; region: string; bucket?: string; accessKeyId: string; secretAccessKey: string }
  | { kind: 'testcontainers-minio'; image?: string };

/** MinIO image used when none is given: pinned so a lab's results do not drift with :latest. */
export const DEFAULT_MINIO_IMAGE = 'minio/minio:RELEASE.2025-02-28T09-55-16Z';
const DEFAULT_REGION = 'us-east-1';

/** The store could not be provided in this environment (no Docker engine, unsupported Node…).
 *  Tests skip on it and print the reason; runs report it as an infrastructure error. */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable';
  constructor(
    readonly backend: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${backend} store unavailable: ${reason}`, options);
  }
}

/** A mistake in FTH_* settings; the message names the variable to fix. */
export class StoreConfigError extends Error {
  override readonly name = 'StoreConfigError';
}

type Env = Record<string, string | undefined>;

function pick(env: Env, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = env[n]?.trim();
    if (v) return v;
  }
  return undefined;
}

/**
 * The store choice from the environment:
 * - FTH_STORE = embedded | external | testcontainers-minio (optional; default: external when
 *   FTH_S3_ENDPOINT is set, else embedded)
 * - external: FTH_S3_ENDPOINT, FTH_S3_REGION (default us-east-1), FTH_S3_BUCKET (optional),
 *   FTH_S3_ACCESS_KEY_ID / FTH_S3_SECRET_ACCESS_KEY, falling back to AWS_ACCESS_KEY_ID /
 *   AWS_SECRET_ACCESS_KEY
 * - embedded: FTH_STORE_OBJECTSTORE = memstore (default) | bluestore
 * - testcontainers-minio: FTH_MINIO_IMAGE (optional)
 */
export function storeConfigFromEnv(env: Env = process.env): StoreConfig {
  const endpoint = pick(env, 'FTH_S3_ENDPOINT');
  const kind = pick(env, 'FTH_STORE') ?? (endpoint ? 'external' : 'embedded');
  switch (kind) {
    case 'embedded': {
      const os = pick(env, 'FTH_STORE_OBJECTSTORE') ?? 'memstore';
      if (os !== 'memstore' && os !== 'bluestore') {
        throw new StoreConfigError(`FTH_STORE_OBJECTSTORE must be memstore or bluestore, not "${os}"`);
      }
      return { kind, objectstore: os };
    }
    case 'testcontainers-minio':
      return { kind, image: pick(env, 'FTH_MINIO_IMAGE') };
    case 'external':
      return externalFromEnv(env, endpoint);
    default:
      throw new StoreConfigError(`FTH_STORE must be embedded, external or testcontainers-minio, not "${kind}"`);
  }
}

function externalFromEnv(env: Env, endpoint: string | undefined): StoreConfig {
  if (!endpoint) throw new StoreConfigError('FTH_S3_ENDPOINT is not set: an external store needs its URL, e.g. http://127.0.0.1:9000');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new StoreConfigError(`FTH_S3_ENDPOINT is not a URL: "${endpoint}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StoreConfigError(`FTH_S3_ENDPOINT must be http:// or https://, not "${url.protocol}"`);
  }
  const accessKeyId = pick(env, 'FTH_S3_ACCESS_KEY_ID', 'AWS_ACCESS_KEY_ID');
  if (!accessKeyId) throw new StoreConfigError(`FTH_S3_ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID) is not set; ${endpoint} needs credentials`);
  const secretAccessKey = pick(env, 'FTH_S3_SECRET_ACCESS_KEY', 'AWS_SECRET_ACCESS_KEY');
  if (!secretAccessKey) throw new StoreConfigError(`FTH_S3_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY) is not set; ${endpoint} needs credentials`);
  // Registered as soon as it is read: even a failing config check must not leak it.
  registerSecret(secretAccessKey);
  return {
    kind: 'external',
    endpoint: endpoint.replace(/\/+$/, ''),
    region: pick(env, 'FTH_S3_REGION') ?? DEFAULT_REGION,
    bucket: pick(env, 'FTH_S3_BUCKET'),
    accessKeyId,
    secretAccessKey,
  };
}

export interface StoreHandle {
  /** For results dimensions.store, e.g. "ceph-rgw 16.2.15 (embedded, memstore)". */
  backend: string;
  conn: S3Connection;
  stop(): Promise<void>;
  /** Only where the harness owns the server: make it unavailable and bring it back. */
  gateway?: { stop(opts?: { hard?: boolean }): Promise<void>; start(): Promise<void> };
}

export interface OpenStoreOptions {
  log?: (line: string) => void;
}

export async function openStore(config: StoreConfig, opts: OpenStoreOptions = {}): Promise<StoreHandle> {
  switch (config.kind) {
    case 'embedded':
      return openEmbedded(config, opts);
    case 'external':
      return openExternal(config);
    case 'testcontainers-minio':
      return openMinio(config, opts);
  }
}

async function openEmbedded(config: Extract<StoreConfig, { kind: 'embedded' }>, opts: OpenStoreOptions): Promise<StoreHandle> {
  const missing = missingCephTools();
  if (missing.length) {
    throw new StoreUnavailable('ceph-rgw (embedded)', `${missing.join(', ')} not installed (apt-get install --no-install-recommends ${CEPH_PACKAGES})`);
  }
  const rgw = await startEmbeddedRgw({ dir: config.dir, objectstore: config.objectstore, log: opts.log });
  registerSecret(rgw.credentials.secretAccessKey);
  return {
    backend: `ceph-rgw ${rgw.version} (embedded, ${rgw.objectstore})`,
    conn: rgw.conn,
    stop: () => rgw.stop(),
    gateway: { stop: (o) => rgw.stopGateway(o), start: () => rgw.startGateway() },
  };
}

/** Checks the credentials (and the bucket, if one is named) now, so a misconfiguration fails
 *  the run at the start with a clear line instead of in the middle of a fault schedule. */
async function openExternal(config: Extract<StoreConfig, { kind: 'external' }>): Promise<StoreHandle> {
  registerSecret(config.secretAccessKey);
  const conn: S3Connection = { ...config };
  const s3 = makeS3Client(conn);
  try {
    if (config.bucket) await ensureBucket(s3, config.bucket);
    else await listBuckets(s3);
  } catch (err) {
    throw new Error(describeS3Error(err, conn, { op: 'connection check', bucket: config.bucket }), { cause: err });
  } finally {
    s3.destroy();
  }
  return { backend: `s3 (external ${config.endpoint})`, conn, stop: async () => {} };
}

async function openMinio(config: Extract<StoreConfig, { kind: 'testcontainers-minio' }>, opts: OpenStoreOptions): Promise<StoreHandle> {
  const backend = 'minio (testcontainers)';
  // Loaded only here: testcontainers is heavy and, in some versions, does not even load on
  // every Node release; that must not break the embedded and external stores.
  let tc: typeof import('testcontainers');
  let minio: typeof import('@testcontainers/minio');
  try {
    [tc, minio] = await Promise.all([import('testcontainers'), import('@testcontainers/minio')]);
  } catch (err) {
    throw new StoreUnavailable(backend, `testcontainers does not load on Node ${process.version}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await tc.getContainerRuntimeClient();
  } catch (err) {
    throw new StoreUnavailable(backend, `no Docker engine reachable: ${(err as Error).message}`, { cause: err });
  }
  const user = `fth${randomBytes(6).toString('hex')}`;
  const password = randomBytes(24).toString('base64url');
  registerSecret(password);
  const image = config.image ?? DEFAULT_MINIO_IMAGE;
  opts.log?.(`starting ${image} with testcontainers`);
  const container = await new minio.MinioContainer(image).withUsername(user).withPassword(password).start();
  return {
    backend,
    conn: { endpoint: container.getConnectionUrl(), region: DEFAULT_REGION, accessKeyId: user, secretAccessKey: password },
    stop: async () => {
      await container.stop();
    },
  };
}
