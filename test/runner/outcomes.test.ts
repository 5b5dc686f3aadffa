// The outcome rules (src/runner/outcomes.ts): fail and error never mixed, unknown never a pass.
import assert from 'node:assert/strict';
import { SutDeadline, verdictOf } from '../../src/runner/outcomes.js';
import { holdSecretsFromEnv, withHeldSecrets } from '../../src/util/held-secrets.js';
import { redact } from '../../src/shared/redact.js';
import { overallExit } from '../../harness/cli.js';
import type { CheckResult } from '../../src/results/types.js';

const ok: CheckResult = { name: 'a', valid: true, message: 'fine' };
const bad: CheckResult = { name: 'b', valid: false, message: 'violated' };
const undecided: CheckResult = { name: 'c', valid: 'unknown', message: 'the fault did not bite' };

describe('outcome rules', () => {
  it('a violation is fail, and stays fail when a later step errors or the run is interrupted', () => {
    assert.deepEqual(verdictOf([ok, bad]), { verdict: 'fail', reason: '1 check(s) failed: b: violated' });
    assert.deepEqual(verdictOf([bad, undecided], 'interrupted (SIGTERM)'), { verdict: 'fail', reason: '1 check(s) failed: b: violated; then: interrupted (SIGTERM)' });
  });
  it('a harness error without a violation is error; unknown is neither pass nor error', () => {
    assert.equal(verdictOf([ok, undecided], 'libvirt: connection lost').verdict, 'error');
    assert.deepEqual(verdictOf([ok, undecided]), { verdict: 'unknown', reason: '1 check(s) could not decide: c: the fault did not bite' });
    assert.deepEqual(verdictOf([ok]), { verdict: 'pass', reason: '1 check(s) passed' });
  });
  it('a SUT missing its deadline is a failed check with its last status as evidence', () => {
    const e = new SutDeadline('standby restores within 120 s', 'standby: did not reach "holds a newer generation"', { lastStatus: { phase: 'watching' } });
    const c = e.toCheck();
    assert.equal(c.valid, false);
    assert.deepEqual(c.evidence, { lastStatus: { phase: 'watching' } });
    assert.equal(verdictOf([c]).verdict, 'fail');
  });
  it('the invocation exit code: fail 1 > error 2 > unknown 3 > pass 0', () => {
    const o = (...v: string[]) => v.map((verdict) => ({ result: { verdict } }));
    assert.equal(overallExit(o('pass', 'unknown', 'error', 'fail')), 1);
    assert.equal(overallExit(o('pass', 'unknown', 'error')), 2);
    assert.equal(overallExit(o('pass', 'unknown')), 3);
    assert.equal(overallExit(o('pass', 'pass')), 0);
  });
  it('credentials leave the environment children inherit, stay available to the store, and are redacted', () => {
    const env: NodeJS.ProcessEnv = { FTH_S3_SECRET_ACCESS_KEY: 'held-secret-0123456789', AWS_ACCESS_KEY_ID: 'AKIAHELDKEY0000', PATH: '/bin' };
    holdSecretsFromEnv(env);
    assert.deepEqual(env, { PATH: '/bin' });
    assert.equal(withHeldSecrets(env).FTH_S3_SECRET_ACCESS_KEY, 'held-secret-0123456789');
    assert.equal(redact('key=held-secret-0123456789 id=AKIAHELDKEY0000'), 'key=*** id=***');
  });
});
