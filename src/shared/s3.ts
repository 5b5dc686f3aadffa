// S3 access, shared by the harness and the systems under test (it travels in guest bundles):
// one way to build a client, a few helpers, and error messages that say what went wrong and
// where.
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { redact } from './redact.js';

/** Everything needed to talk to one S3 endpoint. bucket is the one the user chose, if any. */
export interface S3Connection {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket?: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

/** Where an operation was aimed, for error messages. */
export interface S3Target {
  op?: string;
  bucket?: string;
  key?: string;
}

// Helpers receive only the client; this lets them name the endpoint in errors without every
// call site passing the connection along.
const connections = new WeakMap<S3Client, S3Connection>();

export function makeS3Client(conn: S3Connection, opts: { maxAttempts?: number } = {}): S3Client {
  const client = new S3Client({
    endpoint: conn.endpoint,
    region: conn.region,
    credentials: { accessKeyId: conn.accessKeyId, secretAccessKey: conn.secretAccessKey },
    // RGW, MinIO and most self-hosted stores serve buckets as paths, not DNS names.
    forcePathStyle: true,
    // Default checksums make streamed uploads fail on RGW (411 MissingContentLength).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: opts.maxAttempts ?? 3,
    // A dead store must surface as an error quickly, not as a hang (fault tests stop it).
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
  });
  connections.set(client, conn);
  return client;
}

/** An S3 call that failed; message is describeS3Error's one line, code the S3 or socket code. */
export class S3OpError extends Error {
  override readonly name = 'S3OpError';
  constructor(
    message: string,
    readonly code: string,
    readonly status: number | undefined,
    readonly target: S3Target,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface ErrorLike {
  name?: string;
  code?: string;
  message?: string;
  errors?: unknown[];
  cause?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** The S3 error code (NoSuchKey, SignatureDoesNotMatch…) or socket code (ECONNREFUSED…). */
export function s3ErrorCode(err: unknown): string {
  if (err instanceof S3OpError) return err.code;
  const e = (err ?? {}) as ErrorLike;
  // Node reports a refused connection as an AggregateError when it tried several addresses.
  const inner = (e.errors?.[0] ?? e.cause) as ErrorLike | undefined;
  if (typeof e.code === 'string') return e.code;
  if (inner && typeof inner.code === 'string') return inner.code;
  const status = e.$metadata?.httpStatusCode;
  // Responses to HEAD have no body, so the SDK can only name them by status.
  if (status && (!e.name || e.name === 'Unknown' || e.name === 'UnknownError' || e.name === 'Error')) {
    return { 403: 'Forbidden', 404: 'NotFound', 412: 'PreconditionFailed' }[status] ?? `HTTP${status}`;
  }
  return e.name && e.name !== 'Error' ? e.name : 'UnknownError';
}

export function s3ErrorStatus(err: unknown): number | undefined {
  if (err instanceof S3OpError) return err.status;
  return (err as ErrorLike | undefined)?.$metadata?.httpStatusCode;
}

/** One clear line: what failed, against which endpoint/bucket/key, the S3 code, and what to
 *  check. Never contains the secret key. */
export function describeS3Error(err: unknown, conn: Pick<S3Connection, 'endpoint' | 'accessKeyId'> & { secretAccessKey?: string }, where: S3Target = {}): string {
  if (err instanceof S3OpError) return err.message;
  const code = s3ErrorCode(err);
  const status = s3ErrorStatus(err);
  const ep = conn.endpoint;
  const target = where.key ? `${where.bucket}/${where.key}` : where.bucket ? `bucket ${where.bucket}` : 'the store';
  const op = where.op ?? 'request';
  let line: string;
  switch (code) {
    case 'SignatureDoesNotMatch':
      line = `S3 credentials rejected by ${ep} (SignatureDoesNotMatch): check FTH_S3_SECRET_ACCESS_KEY`;
      break;
    case 'InvalidAccessKeyId':
      line = `S3 access key ${conn.accessKeyId} is unknown to ${ep} (InvalidAccessKeyId): check FTH_S3_ACCESS_KEY_ID`;
      break;
    case 'AccessDenied':
    case 'Forbidden':
      line = `S3 ${op} on ${target} denied by ${ep} (${code}): wrong credentials or missing permission`;
      break;
    case 'NoSuchBucket':
      line = `S3 bucket ${where.bucket ?? ''} does not exist at ${ep} (NoSuchBucket)`;
      break;
    case 'NoSuchKey':
    case 'NotFound':
      line = `S3 ${op}: ${target} not found at ${ep} (${code})`;
      break;
    case 'PreconditionFailed':
      line = `S3 ${op} on ${target} at ${ep} refused (PreconditionFailed, HTTP 412): the object already exists or changed`;
      break;
    case 'ECONNREFUSED':
      line = `S3 endpoint ${ep} refused the connection (ECONNREFUSED): is the store running?`;
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      line = `S3 endpoint ${ep} has an unknown host name (${code}): check FTH_S3_ENDPOINT`;
      break;
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ETIMEDOUT':
    case 'TimeoutError':
      line = `S3 endpoint ${ep} dropped or did not answer ${op} on ${target} (${code})`;
      break;
    default: {
      const msg = (err as ErrorLike | undefined)?.message ?? String(err);
      line = `S3 ${op} on ${target} at ${ep} failed (${code}${status ? `, HTTP ${status}` : ''}): ${msg}`;
    }
  }
  // Belt and braces: the registry covers every secret openStore saw, the connection covers
  // clients built elsewhere.
  line = redact(line);
  return conn.secretAccessKey ? line.split(conn.secretAccessKey).join('***') : line;
}

async function send<T>(s3: S3Client, where: S3Target, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const conn = connections.get(s3) ?? { endpoint: '(unknown endpoint)', accessKeyId: '?' };
    throw new S3OpError(describeS3Error(err, conn, where), s3ErrorCode(err), s3ErrorStatus(err), where, { cause: err });
  }
}

export async function listBuckets(s3: S3Client): Promise<string[]> {
  const res = await send(s3, { op: 'ListBuckets' }, () => s3.send(new ListBucketsCommand({})));
  return (res.Buckets ?? []).map((b) => b.Name ?? '');
}

/** Creates the bucket unless it exists; true when it was created. */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    await send(s3, { op: 'HeadBucket', bucket }, () => s3.send(new HeadBucketCommand({ Bucket: bucket })));
    return false;
  } catch (err) {
    if (!['NotFound', 'NoSuchBucket'].includes(s3ErrorCode(err))) throw err;
  }
  try {
    await send(s3, { op: 'CreateBucket', bucket }, () => s3.send(new CreateBucketCommand({ Bucket: bucket })));
    return true;
  } catch (err) {
    // Someone else (a parallel run step) created it in between: that is what we wanted.
    if (s3ErrorCode(err) === 'BucketAlreadyOwnedByYou') return false;
    throw err;
  }
}

export interface PutOptions {
  /** '*' = create only: fail with PreconditionFailed (412) if the key exists. */
  ifNoneMatch?: '*';
  contentType?: string;
  metadata?: Record<string, string>;
}

export async function putObject(s3: S3Client, bucket: string, key: string, body: Buffer | Uint8Array | string, opts: PutOptions = {}): Promise<{ etag?: string }> {
  const res = await send(s3, { op: 'PutObject', bucket, key }, () =>
    s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        IfNoneMatch: opts.ifNoneMatch,
        ContentType: opts.contentType,
        Metadata: opts.metadata,
      }),
    ),
  );
  return { etag: res.ETag };
}

export async function getObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  return send(s3, { op: 'GetObject', bucket, key }, async () => {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!res.Body) return Buffer.alloc(0);
    return Buffer.from(await res.Body.transformToByteArray());
  });
}

/** Object metadata, or undefined when the key does not exist. */
export async function headObject(s3: S3Client, bucket: string, key: string): Promise<ObjectInfo | undefined> {
  try {
    const res = await send(s3, { op: 'HeadObject', bucket, key }, () => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })));
    return { key, size: res.ContentLength ?? 0, etag: res.ETag, lastModified: res.LastModified };
  } catch (err) {
    if (['NotFound', 'NoSuchKey'].includes(s3ErrorCode(err))) return undefined;
    throw err;
  }
}

/** All objects under prefix, following continuation tokens through every page (pageSize
 *  keys per request; the server's default, usually 1000, when not given). */
export async function listObjects(s3: S3Client, bucket: string, opts: { prefix?: string; pageSize?: number } = {}): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  let token: string | undefined;
  do {
    const res = await send(s3, { op: 'ListObjectsV2', bucket }, () =>
      s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: opts.prefix, MaxKeys: opts.pageSize, ContinuationToken: token })),
    );
    for (const o of res.Contents ?? []) {
      out.push({ key: o.Key ?? '', size: o.Size ?? 0, etag: o.ETag, lastModified: o.LastModified });
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export async function deleteObject(s3: S3Client, bucket: string, key: string): Promise<void> {
  await send(s3, { op: 'DeleteObject', bucket, key }, () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
}

/** Deletes a bucket with everything in it (objects and unfinished multipart uploads).
 *  Returns how many objects were deleted; a missing bucket counts as done. Objects go one
 *  DeleteObject at a time because batch DeleteObjects needs a Content-MD5 that the
 *  WHEN_REQUIRED checksum setting does not send to every store. */
export async function deleteBucket(s3: S3Client, bucket: string): Promise<number> {
  let objects: ObjectInfo[];
  try {
    objects = await listObjects(s3, bucket);
  } catch (err) {
    if (s3ErrorCode(err) === 'NoSuchBucket') return 0;
    throw err;
  }
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await send(s3, { op: 'ListMultipartUploads', bucket }, () =>
      s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker })),
    );
    for (const u of page.Uploads ?? []) {
      await send(s3, { op: 'AbortMultipartUpload', bucket, key: u.Key }, () =>
        s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId })),
      );
    }
    [keyMarker, uploadIdMarker] = page.IsTruncated ? [page.NextKeyMarker, page.NextUploadIdMarker] : [undefined, undefined];
  } while (keyMarker);
  const queue = [...objects];
  const worker = async () => {
    for (let o = queue.pop(); o; o = queue.pop()) await deleteObject(s3, bucket, o.key);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  await send(s3, { op: 'DeleteBucket', bucket }, () => s3.send(new DeleteBucketCommand({ Bucket: bucket })));
  return objects.length;
}
