// The narrow object-store surface the pmem-ha core needs, on S3, built on src/store/s3.ts
// (client construction and the one-line, secret-free error wording live there). Calls go
// through client.send here rather than s3.ts's helpers because the core needs two things those
// do not offer: an AbortSignal per request (the hold-up deadline must cut in-flight PUTs) and
// delimiter listing (generations are found as CommonPrefixes, without listing every chunk).
//
// Retry policy (withRetry): network trouble, timeouts, 5xx and throttling are retried with
// backoff until the caller's deadline; 4xx (bad credentials, missing bucket, 412 on
// If-None-Match) are final at once: retrying cannot fix them and the hold-up budget is short.

import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3OpError, describeS3Error, makeS3Client, s3ErrorCode, s3ErrorStatus, type S3Connection, type S3Target } from '../shared/s3.js';
import { registerSecret } from '../shared/redact.js';

export { S3OpError };

export interface ListResult {
  keys: string[];
  prefixes: string[];
}

export interface OpOptions {
  signal?: AbortSignal;
}

export interface ObjectStore {
  readonly endpoint: string;
  readonly bucket: string;
  /** ifNoneMatch: create only; fails with S3OpError code PreconditionFailed (412) if the key exists. */
  /** sha256: the body's sha256 (hex), when the caller has it already: it is sent as the SigV4
   *  payload hash instead of hashing the body a second time (the server still checks it). */
  put(key: string, body: Uint8Array, opts?: OpOptions & { ifNoneMatch?: boolean; contentType?: string; sha256?: string }): Promise<void>;
  /** null when the key does not exist. */
  get(key: string, opts?: OpOptions): Promise<Buffer | null>;
  list(prefix: string, opts?: OpOptions & { delimiter?: string }): Promise<ListResult>;
  delete(key: string, opts?: OpOptions): Promise<void>;
}

export function makeS3Store(conn: S3Connection & { bucket: string }): ObjectStore {
  registerSecret(conn.secretAccessKey);
  // Our own retry loop knows the hold-up deadline; the SDK's does not.
  const client: S3Client = makeS3Client(conn, { maxAttempts: 1 });
  const bucket = conn.bucket;
  const call = async <T>(where: S3Target, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new S3OpError(describeS3Error(err, conn, where), s3ErrorCode(err), s3ErrorStatus(err), where, { cause: err });
    }
  };
  return {
    endpoint: conn.endpoint,
    bucket,
    put: (key, body, opts = {}) =>
      call({ op: 'PutObject', bucket, key }, async () => {
        const cmd = new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: body.byteLength,
          ContentType: opts.contentType ?? 'application/octet-stream',
          IfNoneMatch: opts.ifNoneMatch ? '*' : undefined,
        });
        // The signer takes a payload hash already in the headers; under TCG a second sha256 of
        // every chunk is a large part of the save.
        if (opts.sha256) {
          const sha = opts.sha256;
          cmd.middlewareStack.add((next) => async (args) => {
            (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] = sha;
            return next(args);
          }, { step: 'build', name: 'fthPayloadSha256' });
        }
        await client.send(cmd, { abortSignal: opts.signal });
      }),
    get: async (key, opts = {}) => {
      try {
        return await call({ op: 'GetObject', bucket, key }, async () => {
          const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: opts.signal });
          return out.Body ? Buffer.from(await out.Body.transformToByteArray()) : Buffer.alloc(0);
        });
      } catch (err) {
        if (err instanceof S3OpError && (err.code === 'NoSuchKey' || err.code === 'NotFound')) return null;
        throw err;
      }
    },
    list: (prefix, opts = {}) =>
      call({ op: 'ListObjectsV2', bucket, key: prefix }, async () => {
        const keys: string[] = [];
        const prefixes: string[] = [];
        let token: string | undefined;
        do {
          const out = await client.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: opts.delimiter, ContinuationToken: token }),
            { abortSignal: opts.signal },
          );
          for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
          for (const p of out.CommonPrefixes ?? []) if (p.Prefix) prefixes.push(p.Prefix);
          token = out.IsTruncated ? out.NextContinuationToken : undefined;
        } while (token);
        return { keys, prefixes };
      }),
    delete: (key, opts = {}) =>
      call({ op: 'DeleteObject', bucket, key }, async () => {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: opts.signal });
      }),
  };
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN',
  'TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'SlowDown', 'ServiceUnavailable', 'InternalError', 'UnknownError',
]);

/** Worth another attempt: the store may answer later. Auth, missing bucket, 412 never will. */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof S3OpError)) return false;
  if (err.code === 'AbortError') return false;
  if (err.status !== undefined) return err.status >= 500 || err.status === 429;
  return TRANSIENT_CODES.has(err.code);
}

export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

export interface RetryOptions {
  /** Wall-clock ms after which no new attempt starts. undefined = until success or abort. */
  deadline?: number;
  signal?: AbortSignal;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: (err: Error, attempt: number, delayMs: number) => void;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason ?? new Error('aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Run `fn` until it succeeds, throws something not retryable, or the deadline passes (then a
 * DeadlineError carrying the last error's line). Exponential backoff with jitter.
 */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const base = opts.baseDelayMs ?? 100;
  const max = opts.maxDelayMs ?? 2000;
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    try {
      return await fn();
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      if (!isRetryable(err)) throw err;
      const delay = Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      if (opts.deadline !== undefined && Date.now() + delay >= opts.deadline) {
        throw new DeadlineError(`gave up after ${attempt} attempt(s) at the deadline: ${(err as Error).message}`);
      }
      opts.onRetry?.(err as Error, attempt, delay);
      await sleep(delay, opts.signal);
    }
  }
}
