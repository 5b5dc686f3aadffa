// Sharding end to end on real guests: the same suite run whole and as two shards gives the same
// JUnit once merged (names, verdicts, counts; only times, ids and seeds-as-properties aside, and
// the seeds are equal too because a run keeps its index in its shard).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, tmpDir } from '../helpers.js';

/** JUnit without what differs between two executions of the same runs. */
const normal = (xml: string) => xml
  .replace(/ (time|timestamp|hostname)="[^"]*"/g, '')
  .replace(/<property name="runId" value="[^"]*"\/>/g, '')
  .replace(/<system-out>[\s\S]*?<\/system-out>/g, '')
  .replace(/<property name="(gitRevision|guestKernel|hostKernel)" value="[^"]*"\/>/g, '');

describe('run --shard: the merged shards report what one whole run reports @vm', function () {
  this.timeout(600_000);
  it('JUnit of shard 1/2 + 2/2 merged equals the JUnit of the unsharded invocation', async () => {
    const args = ['run', 'test/fixtures/tiny.yaml', '--runs', '3', '--seed', '77', '--no-report'];
    const whole = tmpDir('fth-whole-');
    assert.equal((await cli([...args, '--out', whole])).exitCode, 0);
    const s1 = tmpDir('fth-s1-');
    const s2 = tmpDir('fth-s2-');
    assert.equal((await cli([...args, '--shard', '1/2', '--out', s1])).exitCode, 0);
    assert.equal((await cli([...args, '--shard', '2/2', '--out', s2])).exitCode, 0);
    const out = tmpDir('fth-merge-');
    const a = await cli(['report', whole, '--out', join(out, 'a.html'), '--junit', join(out, 'a.xml')]);
    const b = await cli(['report', s1, s2, '--out', join(out, 'b.html'), '--junit', join(out, 'b.xml')]);
    assert.equal(a.exitCode, 0, a.all);
    assert.equal(b.exitCode, 0, b.all);
    const ja = normal(readFileSync(join(out, 'a.xml'), 'utf8'));
    const jb = normal(readFileSync(join(out, 'b.xml'), 'utf8'));
    assert.match(ja, /tests="3"/);
    assert.equal(jb, ja);
  });
});
