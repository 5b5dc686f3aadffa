// Real-VM tests of podVMs: each scenario runs through the real CLI on real TCG guests with crun
// inside; its results must pass on ground truth (libvirt's domains, the guest's cgroup files and
// kernel OOM reports, the independent reference), show the pod's timeline, and leave nothing behind.
// The broken variant without fencing must be caught running the pod twice (the checker says false).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, domainNames, qemuProcessesOf, tmpDir } from '../helpers.js';
import type { RunResult } from '../../src/results/types.js';
import { BROKEN_ENV } from '../../src/shared/broken-sut.js';

async function run(file: string, env: Record<string, string> = {}): Promise<{ res: RunResult; exitCode?: number; all: string }> {
  const r = await cli(['run', file, '--json', '--out', tmpDir('fth-podvm-'), '--no-report', '--seed', '11'], { env });
  let summary: { runs: { dir: string }[] };
  try { summary = JSON.parse(r.stdout); } catch { assert.fail(`no JSON summary (exit ${r.exitCode}): ${r.all}`); }
  const res = JSON.parse(readFileSync(join(summary.runs[0].dir, 'results.json'), 'utf8')) as RunResult;
  assert.ok(!(await domainNames()).some((d) => d.includes(res.runId)), 'domain left behind');
  assert.deepEqual(await qemuProcessesOf(res.runId), [], 'qemu left behind');
  return { res, exitCode: r.exitCode, all: r.all ?? '' };
}
const check = (res: RunResult, prefix: string, nth = 0) => {
  const cs = res.checks.filter((c) => c.name.startsWith(prefix));
  assert.ok(cs[nth], `no check "${prefix}…" (#${nth}) in ${res.checks.map((c) => c.name).join(' | ')}`);
  return cs[nth];
};
const phases = (res: RunResult, pod: string) => res.history.filter((e) => e.f === 'pod-phase' && (e.value as { pod: string }).pod === pod).map((e) => { const v = e.value as { phase: string; host?: string }; return `${v.phase}${v.host ? `@${v.host}` : ''}`; });

describe('podvm scenarios on real guests @vm', function () {
  this.timeout(900_000);

  it('podvm-host-cut: the multi-container pod runs under crun as the reference says; a host cut reschedules it; it never runs twice', async () => {
    const { res, exitCode, all } = await run('scenarios/podvm-host-cut.yaml');
    assert.equal(res.verdict, 'pass', `${res.reason}\n${all.slice(-2000)}`);
    assert.equal(exitCode, 0);
    for (const c of res.checks) assert.equal(c.valid, true, `${c.name}: ${c.message}`);
    // the cgroup check compared real files of every running container with the reference
    const cg = check(res, 'cgroups of web').evidence as { files: Record<string, string>; status: { containers: { name: string; state: string; kind: string }[]; runtime: { name: string } } };
    assert.equal(cg.status.runtime.name, 'crun');
    for (const n of ['log-shipper', 'app', 'cache']) assert.ok(Object.keys(cg.files).some((k) => k.endsWith(`/${n}/cpu.max`)), `no cgroup read for ${n}`);
    assert.equal(cg.status.containers.find((c) => c.name === 'migrate')?.state, 'terminated');
    const size = check(res, 'podVM of web').evidence as { guest: { nproc: number; memTotalKb: number }; reference: { vcpus: number; memoryMiB: number } };
    assert.equal(size.guest.nproc, size.reference.vcpus);
    // the timeline: on h1, cut, evicted, rescheduled, running on h2; the stale podVM fenced
    const tl = phases(res, 'web');
    assert.deepEqual(tl.slice(0, 4), ['Pending', 'Bound@h1', 'Booting@h1', 'Running@h1']);
    assert.ok(tl.includes('Failed@h1') && tl.includes('Rescheduled'), tl.join(' → '));
    assert.equal(tl.at(-1), 'Running@h2', tl.join(' → '));
    assert.ok(res.history.some((e) => e.f === 'fence'), 'no fence op');
    assert.equal(check(res, 'pod web runs exactly once', 2).valid, true);
    assert.ok(res.faults.some((f) => f.kind === 'host-power-cut'), 'the host cut is a recorded fault');
    assert.equal(res.dimensions.accel, 'tcg');
    assert.equal(res.dimensions.topology, 'emulated');
  });

  it('podvm-oom: the hog is OOM-killed by its own container cgroup, attributed to that layer, the rest of the pod runs on', async () => {
    const { res, all } = await run('scenarios/podvm-oom.yaml');
    assert.equal(res.verdict, 'pass', `${res.reason}\n${all.slice(-2000)}`);
    const oom = check(res, 'OOM kills of hog').evidence as { ooms: { constraint: string; memcg?: string }[]; reported: string[] };
    assert.ok(oom.ooms.some((o) => o.constraint === 'CONSTRAINT_MEMCG' && /\/hog(\/\d+)?$/.test(o.memcg ?? '')), JSON.stringify(oom.ooms));
    assert.deepEqual(oom.reported, ['hog']);
  });
});

describe('podvm fencing, deliberately broken @vm', function () {
  this.timeout(900_000);
  it(`${BROKEN_ENV}=podvm:no-fence: the returning host restarts its stale podVM and the checker sees the pod run twice`, async () => {
    const { res, exitCode } = await run('scenarios/podvm-host-cut.yaml', { [BROKEN_ENV]: 'podvm:no-fence' });
    assert.equal(res.verdict, 'fail', res.reason);
    assert.equal(exitCode, 1);
    const twice = check(res, 'pod web runs exactly once', 2);
    assert.equal(twice.valid, false);
    assert.match(twice.message, /2 running podVMs .* the pod runs twice/);
    assert.equal(res.dimensions.brokenSut, 'podvm:no-fence');
  });
});
