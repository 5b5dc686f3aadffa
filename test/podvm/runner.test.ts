// The pod runner's pure parts (src/podvm/pod-runner.ts), on the host: the CgroupValues → OCI
// conversion (crun 1.8.1's shares → cpu.weight formula, checked against values crun wrote in a
// guest), the config.json it hands crun, the read-back comparison and Kubernetes' restart rules.
// The real thing (crun in a guest) is runner.vm.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  backoffMs, cgroupMismatches, containerCgroup, containerId, crunWeightForShares, expectedCgroupFiles, finalPhase, instanceCgroup,
  ociConfig, ociResources, oomKillOf, parseCpuMax, parseMemoryMax, planErrors, sharesForWeight, shouldRestart,
} from '../../src/podvm/pod-runner.js';
import type { ContainerRun, PodRunPlan } from '../../src/podvm/run-plan.js';

const plan = (over: Partial<PodRunPlan> = {}): PodRunPlan => ({
  uid: '0f3c2a1e-7b7d-4c1e-9a55-1d2f3e4a5b6c', name: 'web', namespace: 'default', cgroupPath: 'kubepods/pod0f3c2a1e-7b7d-4c1e-9a55-1d2f3e4a5b6c',
  cgroup: { cpuMax: '150000 100000', cpuWeight: 118, memoryMax: '268435456' }, restartPolicy: 'Always', statusFile: '/run/pod-status/web.json',
  containers: [
    { name: 'setup', kind: 'init', command: ['sh', '-c', 'echo hi'], cgroup: {} },
    { name: 'log', kind: 'sidecar', command: ['sleep', '1000'], cgroup: { cpuWeight: 4 } },
    { name: 'app', kind: 'app', command: ['sleep', '1000'], env: { FOO: 'bar', PATH: '/bin' }, cgroup: { cpuMax: '50000 100000', cpuWeight: 39, memoryMax: '67108864' } },
  ],
  ...over,
});
const app = (p: PodRunPlan) => p.containers.find((c) => c.name === 'app')!;

describe('pod runner: cgroup values → OCI', () => {
  it("uses crun 1.8.1's linear shares → cpu.weight formula (values crun wrote in a guest)", () => {
    // Read back from cpu.weight after `crun run` with these shares (guest, crun 1.8.1, cgroup v2).
    const seen: [number, number][] = [[2, 1], [3, 1], [100, 4], [256, 10], [512, 20], [1024, 39], [1536, 59], [2048, 79], [10000, 382], [100000, 3815], [262144, 10000]];
    for (const [shares, weight] of seen) assert.equal(crunWeightForShares(shares), weight, `shares ${shares}`);
    // Not the quadratic formula of crun ≥ 1.23 / runc ≥ 1.3.2 (1024 → 100).
    assert.notEqual(crunWeightForShares(1024), 100);
  });

  it('hands every cpu.weight over as the smallest shares crun maps onto exactly it', () => {
    for (let w = 1; w <= 10000; w++) {
      const s = sharesForWeight(w);
      assert.equal(crunWeightForShares(s), w, `weight ${w} via shares ${s}`);
      if (w > 1) assert.equal(crunWeightForShares(s - 1), w - 1, `weight ${w}: shares ${s} is the smallest`);
    }
    assert.equal(sharesForWeight(1), 2);
    assert.equal(sharesForWeight(10000), 262144);
    for (const bad of [0, 10001, 1.5, NaN]) assert.throws(() => sharesForWeight(bad), /cpu\.weight/);
  });

  it('parses cpu.max and memory.max as the kernel takes them', () => {
    assert.deepEqual(parseCpuMax('50000 100000'), { quota: 50000, period: 100000 });
    assert.deepEqual(parseCpuMax('max 100000'), { period: 100000 });
    assert.deepEqual(parseCpuMax('max'), { period: 100000 });
    assert.deepEqual(parseCpuMax('20000'), { quota: 20000, period: 100000 });
    for (const bad of ['', '500 100000', '50000 500', '50000 100000 1', 'x 100000']) assert.throws(() => parseCpuMax(bad), /cpu\.max/, bad);
    assert.equal(parseMemoryMax('max'), undefined);
    assert.equal(parseMemoryMax('67108864'), 67108864);
    for (const bad of ['64Mi', '-1', '1e9']) assert.throws(() => parseMemoryMax(bad), /memory\.max/, bad);
  });

  it('turns CgroupValues into linux.resources and back into the files crun and the kernel make of them', () => {
    assert.deepEqual(ociResources({ cpuMax: '50000 100000', cpuWeight: 39, memoryMax: '67108864' }),
      { cpu: { shares: sharesForWeight(39), quota: 50000, period: 100000 }, memory: { limit: 67108864 } });
    // "max PERIOD": no quota (crun writes "max PERIOD" for a period alone); memory "max": no limit.
    assert.deepEqual(ociResources({ cpuMax: 'max 100000', memoryMax: 'max' }), { cpu: { period: 100000 } });
    assert.deepEqual(ociResources({}), {});
    assert.deepEqual(expectedCgroupFiles({ cpuMax: '50000 100000', cpuWeight: 39, memoryMax: '67108864' }),
      { 'cpu.max': '50000 100000', 'cpu.weight': '39', 'memory.max': '67108864' });
    assert.deepEqual(expectedCgroupFiles({ cpuMax: 'max', memoryMax: 'max' }), { 'cpu.max': 'max 100000', 'memory.max': 'max' });
    // The kernel keeps memory.max in pages.
    assert.deepEqual(expectedCgroupFiles({ memoryMax: '100000001' }), { 'memory.max': String(24414 * 4096) });
  });

  it('names what a read-back does not hold', () => {
    const exp = { 'cpu.max': '50000 100000', 'cpu.weight': '39' } as const;
    assert.deepEqual(cgroupMismatches(exp, { ...exp }), []);
    assert.deepEqual(cgroupMismatches(exp, { 'cpu.max': 'max 100000' }), [
      'cpu.max: expected "50000 100000", read "max 100000"', 'cpu.weight: expected "39", read "(missing)"']);
  });
});

describe('pod runner: config.json', () => {
  it('runs the command in its busybox rootfs with PATH, the given env, and no terminal', () => {
    const p = plan();
    const cfg = ociConfig(p, app(p), { rootfs: '/run/pods/u/app/rootfs', restarts: 0 }) as any;
    assert.equal(cfg.ociVersion, '1.0.2');
    assert.deepEqual(cfg.process.args, ['sleep', '1000']);
    assert.equal(cfg.process.terminal, false);
    assert.equal(cfg.process.cwd, '/');
    assert.deepEqual(cfg.process.user, { uid: 0, gid: 0 });
    assert.deepEqual(cfg.process.env, ['PATH=/bin', 'HOSTNAME=web', 'FOO=bar']); // the container's PATH wins
    assert.ok(cfg.process.capabilities.bounding.includes('CAP_KILL'));
    assert.deepEqual(cfg.root, { path: '/run/pods/u/app/rootfs', readonly: false });
    assert.equal(cfg.hostname, 'web');
    assert.equal(cfg.annotations['io.kubernetes.container.name'], 'app');
    // The same shape crun accepts: plain JSON.
    assert.deepEqual(JSON.parse(JSON.stringify(cfg)), cfg);
  });

  it('has pid/mount/ipc/uts/cgroup namespaces and no network namespace (the guest network is the pod network)', () => {
    const p = plan();
    const ns = (ociConfig(p, app(p), { rootfs: '/r', restarts: 0 }) as any).linux.namespaces.map((n: { type: string }) => n.type);
    assert.deepEqual([...ns].sort(), ['cgroup', 'ipc', 'mount', 'pid', 'uts']);
    assert.ok(!ns.includes('network'));
  });

  it('mounts what crun needs: proc, a tmpfs /dev, devpts, shm, mqueue, sysfs and cgroup read-only', () => {
    const p = plan();
    const mounts = (ociConfig(p, app(p), { rootfs: '/r', restarts: 0 }) as any).mounts as { destination: string; type: string; options: string[] }[];
    assert.deepEqual(mounts.map((m) => `${m.destination}:${m.type}`),
      ['/proc:proc', '/dev:tmpfs', '/dev/pts:devpts', '/dev/shm:tmpfs', '/dev/mqueue:mqueue', '/sys:sysfs', '/sys/fs/cgroup:cgroup']);
    for (const ro of ['/sys', '/sys/fs/cgroup']) assert.ok(mounts.find((m) => m.destination === ro)!.options.includes('ro'), ro);
  });

  it("carries the container's cgroup values and puts each instance below the container's own cgroup", () => {
    const p = plan();
    const lin = (ociConfig(p, app(p), { rootfs: '/r', restarts: 2 }) as any).linux;
    assert.equal(lin.cgroupsPath, '/kubepods/pod0f3c2a1e-7b7d-4c1e-9a55-1d2f3e4a5b6c/app/2');
    assert.equal(`/${instanceCgroup(p, 'app', 2)}`, lin.cgroupsPath);
    assert.equal(containerCgroup(p, 'app'), 'kubepods/pod0f3c2a1e-7b7d-4c1e-9a55-1d2f3e4a5b6c/app');
    assert.deepEqual(lin.resources, { cpu: { shares: 999, quota: 50000, period: 100000 }, memory: { limit: 67108864 } });
    assert.equal(crunWeightForShares(lin.resources.cpu.shares), 39);
    // Leading/trailing slashes in cgroupPath do not double up; no resources → no resources key.
    const q = plan({ cgroupPath: '/kubepods/podx/' });
    const init = q.containers[0];
    const l2 = (ociConfig(q, init, { rootfs: '/r', restarts: 0 }) as any).linux;
    assert.equal(l2.cgroupsPath, '/kubepods/podx/setup/0');
    assert.equal('resources' in l2, false);
  });

  it('gives every instance its own crun id', () => {
    const p = plan();
    assert.equal(containerId(p, 'app', 0), 'web-0f3c2a1e-app-0');
    assert.notEqual(containerId(p, 'app', 0), containerId(p, 'app', 1));
    assert.notEqual(containerId(p, 'app', 0), containerId(plan({ uid: 'ffffffff-0000' }), 'app', 0));
  });
});

describe('pod runner: Kubernetes rules', () => {
  it('restarts per kind and restartPolicy', () => {
    const table: [ContainerRun['kind'], PodRunPlan['restartPolicy'], number, boolean][] = [
      ['app', 'Always', 0, true], ['app', 'Always', 1, true],
      ['app', 'OnFailure', 0, false], ['app', 'OnFailure', 137, true],
      ['app', 'Never', 0, false], ['app', 'Never', 1, false],
      // init containers run to completion: retried on failure unless Never, never after success
      ['init', 'Always', 0, false], ['init', 'Always', 1, true], ['init', 'OnFailure', 1, true], ['init', 'Never', 1, false],
      // sidecars (init containers with restartPolicy Always) always come back
      ['sidecar', 'Never', 0, true], ['sidecar', 'Never', 1, true], ['sidecar', 'OnFailure', 0, true],
    ];
    for (const [kind, policy, code, want] of table) assert.equal(shouldRestart(kind, policy, code), want, `${kind} ${policy} exit ${code}`);
  });

  it('backs off doubling, capped', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 10].map(backoffMs), [500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('ends Succeeded only when every app exited 0', () => {
    assert.equal(finalPhase([{ state: 'terminated', exitCode: 0 }, { state: 'terminated', exitCode: 0 }]), 'Succeeded');
    assert.equal(finalPhase([{ state: 'terminated', exitCode: 0 }, { state: 'terminated', exitCode: 137 }]), 'Failed');
    assert.equal(finalPhase([{ state: 'waiting' }]), 'Failed');
    assert.equal(finalPhase([]), 'Failed');
  });

  it('reads oom_kill from memory.events', () => {
    assert.equal(oomKillOf('low 0\nhigh 0\nmax 37\noom 1\noom_kill 1\noom_group_kill 0\n'), 1);
    assert.equal(oomKillOf('oom_group_kill 3\n'), 0);
    assert.equal(oomKillOf(''), 0);
  });

  it('refuses a plan it cannot run, naming the field', () => {
    assert.deepEqual(planErrors(plan()), []);
    const bad = (over: Partial<PodRunPlan>) => planErrors(plan(over)).join('; ');
    assert.match(bad({ cgroupPath: 'kubepods/../etc' }), /cgroupPath/);
    assert.match(bad({ restartPolicy: 'Sometimes' as never }), /restartPolicy/);
    assert.match(bad({ statusFile: 'status.json' }), /statusFile/);
    assert.match(bad({ containers: plan().containers.filter((c) => c.kind !== 'app') }), /at least one app/);
    assert.match(bad({ containers: [...plan().containers, plan().containers[0]] }), /repeated|come before/);
    assert.match(bad({ containers: [{ name: 'a', kind: 'app', command: [], cgroup: {} }] }), /command/);
    assert.match(bad({ containers: [{ name: 'a', kind: 'app', command: ['true'], cgroup: { cpuWeight: 0 } }] }), /containers\[0\]\.cgroup: cpu\.weight/);
    assert.match(bad({ cgroup: { cpuMax: 'lots' } }), /^cgroup: cpu\.max/);
  });

  it('imports nothing but Node built-ins and ./run-plan.js (it is bundled for the guest)', () => {
    const src = readFileSync('src/podvm/pod-runner.ts', 'utf8');
    const specs = [...src.matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    assert.ok(specs.length > 0);
    for (const s of specs) assert.ok(s.startsWith('node:') || s === './run-plan.js', s);
  });
});
