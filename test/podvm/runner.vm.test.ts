// The podVM guest side on a real guest, through the CLI (one boot): the pod runner starts a pod
// with crun under cgroup v2 in Kubernetes order, the container cgroups hold the plan's values as
// crun wrote them (read from the guest's cgroup files, not from the runner's report), an app past
// its memory.max is OOMKilled by the kernel while the others keep running, and SIGTERM stops the
// pod cleanly. Scenario: test/fixtures/podvm-runner.yaml (its checks print what the guest holds).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, tmpDir } from '../helpers.js';
import type { RunResult } from '../../src/results/types.js';

const UID = '8d5e1b2c-3f4a-4b6c-9d7e-0a1b2c3d4e5f';
const POD = `/kubepods/pod${UID}`;
const MiB = 2 ** 20;

describe('@vm podVM pod runner on a real guest', function () {
  this.timeout(600_000);

  it('runs init, sidecar and apps with crun under cgroup v2, OOMKills the hog only, and stops on SIGTERM', async () => {
    const r = await cli(['run', 'test/fixtures/podvm-runner.yaml', '--json', '--out', tmpDir(), '--no-report']);
    const summary = JSON.parse(r.stdout || '{}');
    const dir = summary.runs?.[0]?.dir;
    assert.ok(dir, r.all);
    const res = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;
    const evidence = (name: string) => {
      const c = res.checks.find((x) => x.name === name);
      assert.ok(c, `check "${name}" ran: ${res.reason}`);
      assert.equal(c.valid, true, `${name}: ${c.message}`);
      return (c.evidence as { json?: any }).json;
    };
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(summary.verdict, 'pass');

    // The status while the pod runs (the runner's report: phase and order).
    const st = evidence('pod running with hog OOMKilled');
    assert.equal(st.uid, UID);
    assert.equal(st.phase, 'Running');
    assert.deepEqual(st.runtime, { name: 'crun', version: '1.8.1' });
    const c = Object.fromEntries(st.containers.map((x: any) => [x.name, x]));
    assert.deepEqual(st.containers.map((x: any) => `${x.name}:${x.kind}`), ['setup:init', 'log:sidecar', 'app:app', 'app2:app', 'hog:app']);
    assert.equal(c.setup.state, 'terminated');
    assert.equal(c.setup.exitCode, 0);
    assert.equal(c.setup.restarts, 0);
    for (const n of ['log', 'app', 'app2']) {
      assert.equal(c[n].state, 'running', n);
      assert.ok(c[n].pid > 1, n);
      assert.equal(c[n].restarts, 0, n);
    }
    // Kubernetes order: the init container finished before the sidecar started, the sidecar
    // was running before any app started.
    const t = (s: string) => Date.parse(s);
    assert.ok(t(c.setup.finishedAt) <= t(c.log.startedAt), 'init finished before the sidecar started');
    for (const n of ['app', 'app2', 'hog']) assert.ok(t(c.log.startedAt) <= t(c[n].startedAt), `sidecar started before ${n}`);
    assert.equal(c.hog.state, 'terminated');
    assert.equal(c.hog.reason, 'OOMKilled');
    assert.equal(c.hog.exitCode, 137);
    assert.equal(c.hog.restarts, 0); // restartPolicy Never
    // What the runner read back while each instance ran agrees with the plan.
    for (const n of ['log', 'app', 'app2', 'hog']) assert.equal(c[n].cgroup?.verified, true, `${n}: ${JSON.stringify(c[n].cgroup)}`);
    assert.equal(st.cgroup?.verified, true, JSON.stringify(st.cgroup));

    // Ground truth from the guest's kernel (cgroup files, memory.events, kernel log, /proc).
    const g = evidence('guest cgroup files');
    assert.equal(g.nproc, 2);
    assert.ok(g.memTotalKiB * 1024 > 400 * MiB && g.memTotalKiB * 1024 <= 512 * MiB, `MemTotal ${g.memTotalKiB} KiB`);
    assert.equal(g.initLog, 'init ran');
    assert.deepEqual({ ...g.pod, oomKill: undefined }, { 'cpu.max': '200000 100000', 'cpu.weight': '55', 'memory.max': String(256 * MiB), oomKill: undefined });
    const want: Record<string, string> = { log: '2', app: '10', app2: '39' }; // crun 1.8.1: shares → weight, linear
    for (const [n, weight] of Object.entries(want)) {
      const x = g.containers[n];
      assert.equal(x.leaf, `${POD}/${n}/0`, n);
      assert.deepEqual([x['cpu.max'], x['cpu.weight'], x['memory.max']], ['50000 100000', weight, String(64 * MiB)], n);
      assert.match(x.procs, /^\d+ $/, `${n}: one process (its init) in the instance cgroup`);
      assert.equal(x.procs.trim(), String(c[n].pid), `${n}: the pid the runner reports is the one in its cgroup`);
      assert.equal(x.oomKill, 0, n);
    }
    // The hog: the kernel killed it in its own cgroup; its instance cgroup is gone (crun removed it).
    assert.ok(g.containers.hog.oomKill >= 1, JSON.stringify(g.containers.hog));
    assert.equal(g.containers.hog.leaf, undefined);
    assert.equal(c.hog.oomKills, g.containers.hog.oomKill);
    assert.ok(g.pod.oomKill >= 1);
    assert.ok(g.oomKillsInKernelLog >= 1);
    assert.equal(g.containers.setup.oomKill, 0);
    assert.equal(g.containers.setup.leaf, undefined);

    // SIGTERM: every container stopped and deleted, a final status.
    const stop = evidence('SIGTERM stops the pod');
    assert.equal(stop.crunStates, 0);
    assert.equal(stop.instanceCgroups, 0);
    assert.equal(stop.status.message, 'stopped (SIGTERM)');
    assert.equal(stop.status.phase, 'Failed'); // the hog did not exit 0
    for (const x of stop.status.containers) assert.equal(x.state, 'terminated', x.name);
    assert.equal(stop.status.containers.find((x: any) => x.name === 'hog').reason, 'OOMKilled');
  });
});
