// describeS3Error on the shapes of error the SDK and Node produce; the real-server cases
// (wrong secret, unknown key, 412, refused) are in rgw.test.ts.
import assert from 'node:assert/strict';
import { describeS3Error, s3ErrorCode } from '../../src/shared/s3.js';

const conn = { endpoint: 'http://127.0.0.1:7480', accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEX' };
const s3err = (name: string, status: number, message = name) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

describe('describeS3Error', () => {
  it('names endpoint, code and the variable to check for credential errors', () => {
    assert.equal(
      describeS3Error(s3err('SignatureDoesNotMatch', 403), conn),
      'S3 credentials rejected by http://127.0.0.1:7480 (SignatureDoesNotMatch): check FTH_S3_SECRET_ACCESS_KEY',
    );
    assert.equal(
      describeS3Error(s3err('InvalidAccessKeyId', 403), conn),
      'S3 access key AKIDEXAMPLE is unknown to http://127.0.0.1:7480 (InvalidAccessKeyId): check FTH_S3_ACCESS_KEY_ID',
    );
  });

  it('names bucket and key', () => {
    assert.equal(describeS3Error(s3err('NoSuchBucket', 404), conn, { bucket: 'b1' }), 'S3 bucket b1 does not exist at http://127.0.0.1:7480 (NoSuchBucket)');
    assert.match(describeS3Error(s3err('NoSuchKey', 404), conn, { op: 'GetObject', bucket: 'b1', key: 'a/b' }), /GetObject: b1\/a\/b not found at http:\/\/127\.0\.0\.1:7480 \(NoSuchKey\)/);
  });

  it('names bodiless HEAD answers by status', () => {
    const head404 = Object.assign(new Error('UnknownError'), { name: 'Unknown', $metadata: { httpStatusCode: 404 } });
    assert.equal(s3ErrorCode(head404), 'NotFound');
    const head403 = Object.assign(new Error('UnknownError'), { name: 'Unknown', $metadata: { httpStatusCode: 403 } });
    assert.match(describeS3Error(head403, conn, { op: 'HeadObject', bucket: 'b', key: 'k' }), /denied by http:\/\/127\.0\.0\.1:7480 \(Forbidden\)/);
  });

  it('explains socket errors, also when wrapped in an AggregateError', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7480'), { code: 'ECONNREFUSED' });
    const agg = new AggregateError([refused], 'connect failed');
    for (const e of [refused, agg]) {
      assert.equal(describeS3Error(e, conn), 'S3 endpoint http://127.0.0.1:7480 refused the connection (ECONNREFUSED): is the store running?');
    }
    assert.match(describeS3Error(Object.assign(new Error('x'), { code: 'ENOTFOUND' }), conn), /unknown host name \(ENOTFOUND\): check FTH_S3_ENDPOINT/);
  });

  it('keeps the server message for other codes but never the secret', () => {
    const leaky = s3err('InternalError', 500, `boom ${conn.secretAccessKey}`);
    const line = describeS3Error(leaky, conn, { op: 'PutObject', bucket: 'b', key: 'k' });
    assert.equal(line, 'S3 PutObject on b/k at http://127.0.0.1:7480 failed (InternalError, HTTP 500): boom ***');
    assert.ok(!line.includes(conn.secretAccessKey));
  });
});
