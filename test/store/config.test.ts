import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openStore, StoreConfigError, storeConfigFromEnv, StoreUnavailable } from '../../src/store/config.js';
import { getObject, ensureBucket, makeS3Client, putObject } from '../../src/shared/s3.js';
import { redact } from '../../src/shared/redact.js';

const secret = () => `secret-${randomBytes(10).toString('hex')}`;

describe('storeConfigFromEnv', () => {
  it('defaults to the embedded store with memstore', () => {
    assert.deepEqual(storeConfigFromEnv({}), { kind: 'embedded', objectstore: 'memstore' });
    assert.deepEqual(storeConfigFromEnv({ FTH_STORE_OBJECTSTORE: 'bluestore' }), { kind: 'embedded', objectstore: 'bluestore' });
  });

  it('reads an external store from FTH_S3_* (region defaults, trailing slash trimmed)', () => {
    const sk = secret();
    const c = storeConfigFromEnv({
      FTH_S3_ENDPOINT: 'http://127.0.0.1:9000/',
      FTH_S3_BUCKET: 'runs',
      FTH_S3_ACCESS_KEY_ID: 'AKID1',
      FTH_S3_SECRET_ACCESS_KEY: sk,
    });
    assert.deepEqual(c, { kind: 'external', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1', bucket: 'runs', accessKeyId: 'AKID1', secretAccessKey: sk });
  });

  it('falls back to AWS_* credentials, FTH_* taking precedence', () => {
    const awsSk = secret();
    const base = { FTH_S3_ENDPOINT: 'http://127.0.0.1:9000', FTH_S3_REGION: 'eu-west-3', AWS_ACCESS_KEY_ID: 'AWSID', AWS_SECRET_ACCESS_KEY: awsSk };
    const c = storeConfigFromEnv(base);
    assert.equal(c.kind, 'external');
    assert.ok(c.kind === 'external' && c.accessKeyId === 'AWSID' && c.secretAccessKey === awsSk && c.region === 'eu-west-3');
    const fthSk = secret();
    const d = storeConfigFromEnv({ ...base, FTH_S3_ACCESS_KEY_ID: 'FTHID', FTH_S3_SECRET_ACCESS_KEY: fthSk });
    assert.ok(d.kind === 'external' && d.accessKeyId === 'FTHID' && d.secretAccessKey === fthSk);
  });

  it('names the missing variable', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ FTH_STORE: 'external' }, /FTH_S3_ENDPOINT is not set/],
      [{ FTH_S3_ENDPOINT: 'http://127.0.0.1:9000' }, /FTH_S3_ACCESS_KEY_ID \(or AWS_ACCESS_KEY_ID\) is not set/],
      [{ FTH_S3_ENDPOINT: 'http://127.0.0.1:9000', FTH_S3_ACCESS_KEY_ID: 'x' }, /FTH_S3_SECRET_ACCESS_KEY \(or AWS_SECRET_ACCESS_KEY\) is not set/],
      [{ FTH_S3_ENDPOINT: 'not a url', FTH_S3_ACCESS_KEY_ID: 'x', FTH_S3_SECRET_ACCESS_KEY: 'y' }, /FTH_S3_ENDPOINT is not a URL/],
      [{ FTH_S3_ENDPOINT: 'ftp://127.0.0.1', FTH_S3_ACCESS_KEY_ID: 'x', FTH_S3_SECRET_ACCESS_KEY: 'y' }, /FTH_S3_ENDPOINT must be http/],
      [{ FTH_STORE: 'dropbox' }, /FTH_STORE must be embedded, external or testcontainers-minio/],
      [{ FTH_STORE_OBJECTSTORE: 'filestore' }, /FTH_STORE_OBJECTSTORE must be memstore or bluestore/],
    ];
    for (const [env, re] of cases) {
      assert.throws(() => storeConfigFromEnv(env), (e: unknown) => e instanceof StoreConfigError && re.test(e.message), JSON.stringify(env));
    }
  });

  it('registers the secret it reads, so it is redacted everywhere', () => {
    const sk = secret();
    storeConfigFromEnv({ FTH_S3_ENDPOINT: 'http://127.0.0.1:9000', FTH_S3_ACCESS_KEY_ID: 'x', FTH_S3_SECRET_ACCESS_KEY: sk });
    assert.equal(redact(`oops ${sk}`), 'oops ***');
  });

  it('selects testcontainers with an optional image', () => {
    assert.deepEqual(storeConfigFromEnv({ FTH_STORE: 'testcontainers-minio', FTH_MINIO_IMAGE: 'minio/minio:X' }), { kind: 'testcontainers-minio', image: 'minio/minio:X' });
  });
});

describe('openStore testcontainers-minio', () => {
  it('serves S3 through MinIO, or reports why it cannot (StoreUnavailable)', async function () {
    this.timeout(300_000);
    let handle;
    try {
      handle = await openStore({ kind: 'testcontainers-minio' });
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      assert.equal(err.backend, 'minio (testcontainers)');
      assert.ok(err.reason.length > 0);
      assert.match(err.message, /^minio \(testcontainers\) store unavailable: (no Docker engine reachable|testcontainers does not load)/);
      console.log(`      skipped: ${err.message}`);
      this.skip();
    }
    try {
      const s3 = makeS3Client(handle.conn);
      await ensureBucket(s3, 'tc-check');
      await putObject(s3, 'tc-check', 'k', 'hello');
      assert.equal((await getObject(s3, 'tc-check', 'k')).toString(), 'hello');
      assert.equal(handle.backend, 'minio (testcontainers)');
    } finally {
      await handle.stop();
    }
  });
});
