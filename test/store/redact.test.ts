import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { redact, registerSecret } from '../../src/shared/redact.js';

// Each test registers its own random secret: the registry is process-wide and other test
// files register theirs too.
const fresh = () => `sk-${randomBytes(12).toString('hex')}`;

describe('redact', () => {
  it('masks every occurrence of a registered secret', () => {
    const s = fresh();
    registerSecret(s);
    assert.equal(redact(`key=${s} again ${s}.`), 'key=*** again ***.');
  });

  it('masks URL-encoded and base64 forms', () => {
    const s = `p@ss/word+${randomBytes(4).toString('hex')}=`;
    registerSecret(s);
    const url = `http://x/?secret=${encodeURIComponent(s)}`;
    const basic = `Authorization: Basic ${Buffer.from(s).toString('base64')}`;
    const b64url = Buffer.from(s).toString('base64url');
    assert.equal(redact(url), 'http://x/?secret=***');
    assert.equal(redact(basic), 'Authorization: Basic ***');
    assert.equal(redact(`token ${b64url} end`), 'token *** end');
    assert.ok(!redact(`${url} ${basic}`).includes(s));
  });

  it('treats regex metacharacters in secrets literally', () => {
    const s = `a.b*c(${randomBytes(3).toString('hex')})`;
    registerSecret(s);
    assert.equal(redact(`x ${s} y`), 'x *** y');
    // "a.b" with "." as a wildcard would also match "aXb…": it must not.
    assert.equal(redact(`aXb*c(${s.slice(6)}`), `aXb*c(${s.slice(6)}`);
  });

  it('leaves text without secrets, and ignores empty or very short secrets', () => {
    registerSecret('');
    registerSecret(undefined);
    registerSecret('ab');
    const text = 'ab abc: nothing secret here';
    assert.equal(redact(text), text);
    assert.equal(redact(''), '');
  });

  it('masks a secret registered later in text produced earlier', () => {
    const s = fresh();
    const line = `late ${s}`;
    assert.equal(redact(line), line);
    registerSecret(s);
    assert.equal(redact(line), 'late ***');
  });
});
