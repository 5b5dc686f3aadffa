// A run stops when whoever started it stops, however it was started, and cleans up everything
// it created within 15 s: domains, qemu, store daemons, scratch files. The interrupted run still
// writes results.json (verdict error, reason "interrupted (…)") with its history so far.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { RunResult } from '../../src/results/types.js';
import { CLI, domainNames, ownershipBelow, processTree, qemuProcessesOf, resultsUnder, sleep, tmpDir } from '../helpers.js';

/** Wait for a run below `pid` that has a running qemu; returns its ownership record. */
async function runningBelow(pid: number, timeoutMs = 90_000) {
  for (const t0 = Date.now(); Date.now() - t0 < timeoutMs; await sleep(200)) {
    const own = await ownershipBelow(pid);
    if (own?.domains.length && (await qemuProcessesOf(own.runId)).length) return own;
  }
  throw new Error(`no run with a running guest appeared below pid ${pid} within ${timeoutMs} ms`);
}

/** Everything of the run gone, measured from the signal; returns the ms it took. */
async function goneWithin(runId: string, signalledAt: number, ms = 15_000): Promise<number> {
  for (;;) {
    const domains = (await domainNames()).filter((d) => d.includes(runId));
    const qemu = await qemuProcessesOf(runId);
    const scratch = existsSync(`/var/tmp/ftharness/${runId}`);
    if (!domains.length && !qemu.length && !scratch) return Date.now() - signalledAt;
    if (Date.now() - signalledAt > ms) assert.fail(`after ${ms} ms still there: domains ${domains}, qemu ${qemu.length}, scratch ${scratch}`);
    await sleep(200);
  }
}

function interruptedResult(out: string): RunResult {
  const files = resultsUnder(out);
  assert.equal(files.length, 1, `results.json files under ${out}: ${files}`);
  const r = JSON.parse(readFileSync(files[0], 'utf8')) as RunResult;
  assert.equal(r.verdict, 'error');
  assert.match(r.reason, /^interrupted \((SIGTERM|SIGINT|SIGHUP|parent-exit)\)$/);
  assert.ok(r.history.some((e) => e.f === 'boot'), 'the history so far is kept');
  assert.ok(r.history.some((e) => e.f === 'interrupted'));
  return r;
}

describe('@vm interrupted runs clean up and say so', function () {
  this.timeout(300_000);

  it('SIGTERM to `node bin/ftharness.js run`: exit 143, nothing left within 15 s, results.json "interrupted (SIGTERM)"', async () => {
    const out = tmpDir();
    const child = execa('node', [CLI, 'run', 'scenarios/smoke.yaml', '--out', out, '--no-report'], { reject: false });
    const own = await runningBelow(child.pid!);
    const t0 = Date.now();
    child.kill('SIGTERM');
    const r = await child;
    assert.equal(r.exitCode, 143);
    await goneWithin(own.runId, t0);
    assert.equal(interruptedResult(out).reason, 'interrupted (SIGTERM)');
    assert.ok(!existsSync(join('/var/lib/ftharness/runs', `${own.runId}.json`)), 'ownership file left behind');
  });

  it('`timeout -s TERM 12 npx ftharness run …`: nothing left within 15 s of the signal', async () => {
    const out = tmpDir();
    const t0 = Date.now();
    // a run that is still going at 12 s on any machine (smoke.yaml ended in 9 s on a fast day)
    const r = await execa('timeout', ['-s', 'TERM', '12', 'npx', 'ftharness', 'run', 'test/fixtures/boot-and-wait.yaml', '--out', out, '--no-report'], { reject: false, all: true });
    assert.equal(r.exitCode, 124, r.all);
    const signalledAt = t0 + 12_000;
    const res = interruptedResult(out);
    await goneWithin(res.runId, signalledAt);
  });

  it('SIGTERM to the npm process of `npm run demo` only: its sh dies, node notices, nothing left within 15 s', async () => {
    const out = tmpDir();
    // detached: a group of its own, so the signal reaches npm and nothing else.
    const npm = execa('npm', ['run', 'demo'], { reject: false, detached: true, env: { FTH_DEMO_OUT: out }, all: true });
    const own = await runningBelow(npm.pid!);
    const tree = await processTree(npm.pid!);
    const t0 = Date.now();
    process.kill(npm.pid!, 'SIGTERM');
    await npm;
    const took = await goneWithin(own.runId, t0);
    for (const p of tree) {
      for (; Date.now() - t0 < 15_000 && (await execa('kill', ['-0', String(p)], { reject: false })).exitCode === 0;) await sleep(200);
    }
    assert.ok(Date.now() - t0 < 15_000, `the demo's processes outlived the signal by ${Date.now() - t0} ms`);
    const res = interruptedResult(out);
    assert.equal(res.runId, own.runId);
    assert.equal(res.reason, 'interrupted (parent-exit)');
    assert.ok(took < 15_000);
  });

  it('a store-backed run stopped through npx (npm signalled only) also stops its embedded Ceph', async () => {
    const out = tmpDir();
    const npx = execa('npx', ['ftharness', 'run', 'scenarios/pmem-ha-basic.yaml', '--out', out, '--no-report'], { reject: false, detached: true });
    const own = await runningBelow(npx.pid!, 120_000);
    // The store daemons are children of the run's node process (process groups of their own).
    let daemons: number[] = [];
    for (let i = 0; i < 100 && !daemons.length; i++, await sleep(200)) {
      const tree = await processTree(npx.pid!);
      const comm = await Promise.all(tree.map((p) => execa('ps', ['-o', 'comm=', '-p', String(p)], { reject: false }).then((r) => [p, r.stdout.trim()] as const)));
      daemons = comm.filter(([, c]) => /^(radosgw|ceph-osd|ceph-mon)$/.test(c)).map(([p]) => p);
    }
    assert.ok(daemons.length, 'the run never started its store');
    const alive = () => daemons.filter((p) => { try { process.kill(p, 0); return true; } catch { return false; } });
    const t0 = Date.now();
    process.kill(npx.pid!, 'SIGTERM');
    await npx;
    await goneWithin(own.runId, t0);
    for (; alive().length && Date.now() - t0 < 15_000;) await sleep(200);
    assert.deepEqual(alive(), [], 'store daemons left behind');
    interruptedResult(out);
  });
});
