// The guest programs are bundles: one file each, nothing of the harness or lib-storage in them,
// and they run. setup.sh builds them (harness/build-guest.ts); this rebuilds and inspects them.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildGuestBundles } from '../../harness/build-guest.js';
import { cachedBundleFile, FORBIDDEN_IN_GUEST, guestCommand, hostProgram, LAUNCHER } from '../../src/sut/guest.js';
import { tmpDir } from '../helpers.js';

const forbidden = (input: string) => FORBIDDEN_IN_GUEST.some((re) => re.test(input));

describe('guest bundles', () => {
  it('the forbidden-input rule flags harness modules and lib-storage, and lets SUT and shared code through', () => {
    for (const bad of ['dist/src/runner/run.js', 'dist/src/vm/agent.js', 'dist/harness/cli.js', 'dist/src/pmem-ha/plugin/steps.js', 'node_modules/@aws-sdk/lib-storage/dist-es/Upload.js']) assert.ok(forbidden(bad), bad);
    for (const ok of ['dist/src/pmem-ha/save.js', 'dist/src/shared/size.js', 'node_modules/@aws-sdk/client-s3/dist-es/S3Client.js', 'node_modules/commander/lib/command.js']) assert.ok(!forbidden(ok), ok);
  });

  it('every declared guest program is one file without harness code, and the agent starts from it', async function () {
    this.timeout(60_000);
    const built = await buildGuestBundles();
    assert.ok(built.some((b) => b.sut === 'pmem-ha' && b.name === 'agent'), 'the pmem-ha agent is bundled');
    for (const b of built.filter((x) => x.file.endsWith('.mjs'))) {
      const meta = JSON.parse(readFileSync(hostProgram(b.sut, b.name).replace(/\.mjs$/, '.meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
      const inputs = Object.keys(meta.inputs);
      assert.deepEqual(inputs.filter(forbidden), [], `${b.file}`);
      assert.ok(inputs.length === b.inputs && b.bytes > 0);
    }
    const help = await execa('node', [hostProgram('pmem-ha', 'agent'), '--help']);
    assert.match(help.stdout, /primary/);
    assert.match(help.stdout, /standby/);
    // A bad flag is a usage error (exit 2) from the bundle too.
    const bad = await execa('node', [hostProgram('pmem-ha', 'agent'), 'primary', '--no-such-flag'], { reject: false });
    assert.equal(bad.exitCode, 2, bad.stderr);
  });

  it('the agent also starts through the code-cache launcher: the cache is accepted, a foreign one only costs the compile', async function () {
    this.timeout(60_000);
    await buildGuestBundles();
    const launcher = LAUNCHER;
    const cjs = cachedBundleFile('pmem-ha', 'agent');
    assert.match(guestCommand('pmem-ha', 'agent'), /^node \/opt\/ftharness\/dist\/guest\/launch\.cjs \/opt\/ftharness\/dist\/guest\/pmem-ha\/agent\.cjs$/);
    assert.doesNotMatch(readFileSync(cjs, 'utf8'), /\bimport\(/, 'dynamic imports were turned into require()');
    const help = await execa('node', [launcher, cjs, '--help'], { reject: false });
    assert.equal(help.exitCode, 0, help.stderr);
    assert.match(help.stdout, /standby/);
    assert.equal(help.stderr, '', 'the build-time cache is accepted');
    const bad = await execa('node', [launcher, cjs, 'primary', '--no-such-flag'], { reject: false });
    assert.equal(bad.exitCode, 2, bad.stderr);
    // A cache from elsewhere: V8 rejects it, the launcher says so and runs the program anyway.
    const d = tmpDir('fth-launch-');
    copyFileSync(cjs, join(d, 'agent.cjs'));
    writeFileSync(join(d, 'agent.cjs.cache'), Buffer.alloc(4096, 7));
    const foreign = await execa('node', [launcher, join(d, 'agent.cjs'), '--help'], { reject: false });
    assert.equal(foreign.exitCode, 0, foreign.stderr);
    assert.match(foreign.stderr, /code cache .* was rejected/);
    // A bundle without launch(args) is refused with a clear message.
    writeFileSync(join(d, 'none.cjs'), 'exports.main = () => 0;');
    const none = await execa('node', [launcher, join(d, 'none.cjs')], { reject: false });
    assert.equal(none.exitCode, 2);
    assert.match(none.stderr, /exports no launch\(args\)/);
  });
});
