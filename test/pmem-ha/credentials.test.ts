// Where the agent takes its S3 credentials from: the harness's 0600 file, else the environment.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentialsFromEnv } from '../../src/pmem-ha/credentials.js';
import { tmpDir } from '../helpers.js';

describe('pmem-ha credentials', () => {
  it('reads the file named by FTH_S3_CREDENTIALS_FILE, which wins over the environment', () => {
    const f = join(tmpDir(), 'credentials.json');
    writeFileSync(f, JSON.stringify({ accessKeyId: 'AKFILE', secretAccessKey: 'from-the-file-secret', region: 'eu-1' }), { mode: 0o600 });
    assert.deepEqual(credentialsFromEnv({ FTH_S3_CREDENTIALS_FILE: f, FTH_S3_ACCESS_KEY_ID: 'AKENV', FTH_S3_SECRET_ACCESS_KEY: 'env' }), { accessKeyId: 'AKFILE', secretAccessKey: 'from-the-file-secret', region: 'eu-1' });
  });

  it('says what is wrong with a bad file without quoting its content', () => {
    const dir = tmpDir();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"accessKeyId":"AK","secretAccessKey":"half-written-secret');
    const m = credentialsFromEnv({ FTH_S3_CREDENTIALS_FILE: bad });
    assert.equal(typeof m, 'string');
    assert.match(m as string, /cannot read it as JSON/);
    assert.ok(!(m as string).includes('half-written'));
    writeFileSync(bad, JSON.stringify({ accessKeyId: 'AK' }));
    assert.match(credentialsFromEnv({ FTH_S3_CREDENTIALS_FILE: bad }) as string, /needs accessKeyId and secretAccessKey/);
    assert.match(credentialsFromEnv({ FTH_S3_CREDENTIALS_FILE: join(dir, 'missing.json') }) as string, /ENOENT/);
  });

  it('falls back to the environment, with a default region, and names both ways when neither is there', () => {
    assert.deepEqual(credentialsFromEnv({ FTH_S3_ACCESS_KEY_ID: 'AK', FTH_S3_SECRET_ACCESS_KEY: 'S' }), { accessKeyId: 'AK', secretAccessKey: 'S', region: 'us-east-1' });
    assert.match(credentialsFromEnv({}) as string, /FTH_S3_CREDENTIALS_FILE .* or FTH_S3_ACCESS_KEY_ID and FTH_S3_SECRET_ACCESS_KEY/);
  });
});
