// Against a real S3 server: one embedded Ceph RGW for the whole file.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { CreateMultipartUploadCommand, ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { openStore } from '../../src/store/config.js';
import { type EmbeddedRgw, STATE_FILE, startEmbeddedRgw } from '../../src/store/rgw.js';
import {
  deleteBucket,
  deleteObject,
  describeS3Error,
  ensureBucket,
  getObject,
  headObject,
  listBuckets,
  listObjects,
  makeS3Client,
  putObject,
  S3OpError,
} from '../../src/shared/s3.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Pids of processes whose command line mentions text (pgrep -f), excluding pgrep itself. */
function pgrep(text: string): string {
  try {
    return execFileSync('pgrep', ['-af', text], { encoding: 'utf8' }).trim();
  } catch {
    return ''; // exit 1: no match
  }
}

async function expectS3Error(p: Promise<unknown>, code: string): Promise<S3OpError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof S3OpError, `expected S3OpError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, the call succeeded`);
}

describe('embedded Ceph RGW store', function () {
  this.timeout(120_000);
  let store: EmbeddedRgw;
  let s3: S3Client;
  const lines: string[] = [];
  const bucket = 'fth-test';

  before(async function () {
    store = await startEmbeddedRgw({ log: (l) => lines.push(l) });
    console.log(`      embedded RGW ${store.version} ready in ${store.startSeconds.toFixed(2)} s at ${store.endpoint}`);
    s3 = makeS3Client(store.conn);
    await ensureBucket(s3, bucket);
  });

  after(async () => {
    s3?.destroy();
    await store?.stop();
  });

  it('starts on 127.0.0.1 with fresh credentials and logs progress without the secret', () => {
    assert.match(store.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(store.endpoint, `http://127.0.0.1:${store.ports.rgw}`);
    assert.ok(store.credentials.accessKeyId.length >= 16 && store.credentials.secretAccessKey.length >= 32);
    assert.ok(store.pids.mon > 0 && store.pids.osd > 0 && (store.pids.rgw ?? 0) > 0);
    assert.ok(lines.some((l) => /^ceph-mon up on 127\.0\.0\.1:\d+ \(\d+\.\d s\)$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('embedded store ready at ')));
    assert.ok(!lines.join('\n').includes(store.credentials.secretAccessKey));
  });

  it('keeps the secret out of the state file, ceph.conf and command lines', () => {
    const state = JSON.parse(readFileSync(`${store.dir}/${STATE_FILE}`, 'utf8'));
    assert.deepEqual(state.pids, store.pids);
    assert.equal(state.ports.rgw, store.ports.rgw);
    assert.equal(state.ownerPid, process.pid);
    const secret = store.credentials.secretAccessKey;
    assert.ok(!readFileSync(`${store.dir}/${STATE_FILE}`, 'utf8').includes(secret));
    assert.ok(!readFileSync(`${store.dir}/ceph.conf`, 'utf8').includes(secret));
    const cmdlines = pgrep(store.dir);
    assert.match(cmdlines, /radosgw/);
    assert.ok(!cmdlines.includes(secret));
  });

  it('round-trips a multi-MiB object and lists it', async () => {
    const body = randomBytes(6 * MiB + 123);
    await putObject(s3, bucket, 'big/one', body);
    const back = await getObject(s3, bucket, 'big/one');
    assert.equal(back.length, body.length);
    assert.equal(sha(back), sha(body));
    const info = await headObject(s3, bucket, 'big/one');
    assert.equal(info?.size, body.length);
    assert.deepEqual((await listObjects(s3, bucket, { prefix: 'big/' })).map((o) => [o.key, o.size]), [['big/one', body.length]]);
    assert.equal(await headObject(s3, bucket, 'big/none'), undefined);
  });

  it('uploads a stream in parts (lib-storage multipart)', async () => {
    const body = randomBytes(17 * MiB);
    // A stream with no known length, as a PMEM image read from disk would be.
    const stream = Readable.from((function* () {
      for (let off = 0; off < body.length; off += MiB) yield body.subarray(off, off + MiB);
    })());
    // lib-storage is a test-only dependency: the harness and the SUT never stream uploads.
    await new Upload({ client: s3, params: { Bucket: bucket, Key: 'multi/part', Body: stream }, partSize: 5 * MiB, queueSize: 2 }).done();
    const info = (await headObject(s3, bucket, 'multi/part'))!;
    assert.equal(info.size, body.length);
    assert.match(info.etag ?? '', /-4"?$/, 'a multipart ETag ends in -<parts>');
    assert.equal(sha(await getObject(s3, bucket, 'multi/part')), sha(body));
  });

  it('rejects a wrong secret with SignatureDoesNotMatch and a clear line without the secret', async () => {
    const wrong = `wrong-${randomBytes(16).toString('hex')}`;
    const bad = makeS3Client({ ...store.conn, secretAccessKey: wrong });
    try {
      const err = await expectS3Error(listBuckets(bad), 'SignatureDoesNotMatch');
      assert.equal(err.status, 403);
      assert.equal(err.message, `S3 credentials rejected by ${store.endpoint} (SignatureDoesNotMatch): check FTH_S3_SECRET_ACCESS_KEY`);
      // The raw SDK error gives the same line through describeS3Error.
      const raw = await bad.send(new ListBucketsCommand({})).catch((e: unknown) => e);
      const line = describeS3Error(raw, { ...store.conn, secretAccessKey: wrong });
      assert.equal(line, err.message);
      for (const s of [wrong, store.credentials.secretAccessKey]) assert.ok(!line.includes(s));
    } finally {
      bad.destroy();
    }
  });

  it('rejects an unknown access key with InvalidAccessKeyId', async () => {
    const bad = makeS3Client({ ...store.conn, accessKeyId: 'FTHNOSUCHKEY0000000' });
    try {
      const err = await expectS3Error(putObject(bad, bucket, 'x', 'y'), 'InvalidAccessKeyId');
      assert.equal(err.status, 403);
      assert.match(err.message, /access key FTHNOSUCHKEY0000000 is unknown to http:\/\/127\.0\.0\.1:\d+ \(InvalidAccessKeyId\)/);
    } finally {
      bad.destroy();
    }
  });

  it('answers If-None-Match: * on an existing key with 412 and keeps the first body', async () => {
    await putObject(s3, bucket, 'once', 'first', { ifNoneMatch: '*' });
    const err = await expectS3Error(putObject(s3, bucket, 'once', 'second', { ifNoneMatch: '*' }), 'PreconditionFailed');
    assert.equal(err.status, 412);
    assert.match(err.message, /PutObject on fth-test\/once at http:\/\/127\.0\.0\.1:\d+ refused \(PreconditionFailed, HTTP 412\)/);
    assert.equal((await getObject(s3, bucket, 'once')).toString(), 'first');
  });

  it('names bucket and key when a key is missing', async () => {
    const err = await expectS3Error(getObject(s3, bucket, 'no/such/key'), 'NoSuchKey');
    assert.equal(err.status, 404);
    assert.match(err.message, /GetObject: fth-test\/no\/such\/key not found at http:\/\/127\.0\.0\.1:\d+ \(NoSuchKey\)/);
  });

  it('lists across pages and deletes objects and whole buckets', async () => {
    const b = 'fth-paging';
    assert.equal(await ensureBucket(s3, b), true);
    assert.equal(await ensureBucket(s3, b), false);
    await Promise.all(Array.from({ length: 23 }, (_, i) => putObject(s3, b, `k${String(i).padStart(2, '0')}`, `v${i}`)));
    const all = await listObjects(s3, b, { pageSize: 10 });
    assert.deepEqual(all.map((o) => o.key), Array.from({ length: 23 }, (_, i) => `k${String(i).padStart(2, '0')}`));
    await deleteObject(s3, b, 'k00');
    assert.equal(await headObject(s3, b, 'k00'), undefined);
    // An unfinished multipart upload must not keep the bucket alive.
    await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'dangling' }));
    assert.equal(await deleteBucket(s3, b), 22);
    assert.ok(!(await listBuckets(s3)).includes(b));
    assert.equal(await deleteBucket(s3, b), 0, 'deleting a missing bucket is a no-op');
  });

  it('opens the same server as an external store and checks credentials up front', async () => {
    const h = await openStore({ kind: 'external', ...store.conn, bucket: 'fth-external' });
    assert.equal(h.backend, `s3 (external ${store.endpoint})`);
    assert.equal(h.gateway, undefined);
    assert.ok((await listBuckets(s3)).includes('fth-external'), 'openStore created the named bucket');
    await h.stop();
    const wrong = `wrong-${randomBytes(16).toString('hex')}`;
    await assert.rejects(openStore({ kind: 'external', ...store.conn, secretAccessKey: wrong }), (e: Error) => {
      assert.match(e.message, /credentials rejected by .*SignatureDoesNotMatch/);
      assert.ok(!e.message.includes(wrong));
      return true;
    });
  });

  it('stopGateway() makes requests fail with ECONNREFUSED; startGateway() brings objects back', async () => {
    const body = randomBytes(2 * MiB);
    await putObject(s3, bucket, 'survivor', body);
    for (const hard of [false, true]) {
      const before = store.pids.rgw;
      await store.stopGateway({ hard });
      assert.equal(store.pids.rgw, undefined);
      assert.equal(store.pids.mon > 0 && store.pids.osd > 0, true);
      // A fresh client: a pooled keep-alive socket would fail with ECONNRESET instead.
      const probe = makeS3Client(store.conn, { maxAttempts: 1 });
      try {
        const err = await expectS3Error(getObject(probe, bucket, 'survivor'), 'ECONNREFUSED');
        assert.match(err.message, /refused the connection \(ECONNREFUSED\): is the store running\?/);
        await store.startGateway();
        assert.notEqual(store.pids.rgw, before);
        assert.equal(sha(await getObject(probe, bucket, 'survivor')), sha(body), `after ${hard ? 'SIGKILL' : 'SIGTERM'}`);
        assert.ok((await listObjects(probe, bucket)).some((o) => o.key === 'multi/part' && o.size === 17 * MiB));
      } finally {
        probe.destroy();
      }
    }
  });

  it('startGateway() says so when its port was taken while it was down, and works once freed', async () => {
    await store.stopGateway({ hard: true });
    const squatter = createServer();
    squatter.listen(store.ports.rgw, '127.0.0.1');
    await once(squatter, 'listening');
    try {
      await assert.rejects(store.startGateway(), new RegExp(`radosgw cannot come back: port ${store.ports.rgw} was taken by another process`));
      assert.equal(store.pids.rgw, undefined);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    await store.startGateway();
    assert.equal((await getObject(s3, bucket, 'once')).toString(), 'first');
  });

  // Last: the after hook calls stop() again, which must be a no-op.
  it('stop() kills every daemon, removes the dir, and can be called again', async () => {
    const { dir } = store;
    assert.ok(pgrep(dir).length > 0);
    await Promise.all([store.stop(), store.stop()]);
    assert.equal(pgrep(dir), '', 'no process mentions the store dir');
    assert.equal(existsSync(dir), false);
    await store.stop();
  });
});
