// The planner on synthetic pods with known answers: Kubernetes' aggregation (init containers,
// sidecars, missing requests or limits, overhead), each sizing policy on worked examples, the
// scheduler's filter and scores, the container scheduler's agreement, the Pending wording, and
// the checker's independent reference agreeing with the planner (and disagreeing when it should).
import assert from 'node:assert/strict';
import { validatePod } from '../../src/podvm/pod.js';
import type { PodModel } from '../../src/podvm/model.js';
import { effectiveResources } from '../../src/podvm/resources.js';
import { DEFAULT_SIZING, numaLayout, sizePod } from '../../src/podvm/sizing.js';
import { parseInventory, InventoryError } from '../../src/podvm/inventory.js';
import { newCluster, planPod, planPods, DEFAULT_PLAN, renderPlan } from '../../src/podvm/plan.js';
import { bindToHost, scheduleVm } from '../../src/podvm/scheduler.js';
import { fitsRequest, unschedulableMessage } from '../../src/podvm/fit.js';
import { containerCgroup, milliToShares, podCgroup, sharesToWeight } from '../../src/podvm/cgroups.js';
import { reference } from '../../src/podvm/plugin/reference.js';
import { oomReports } from '../../src/podvm/plugin/truth.js';
import { BROKEN_ENV } from '../../src/shared/broken-sut.js';

const Mi = 1024n * 1024n;
type C = { name: string; req?: Record<string, string>; lim?: Record<string, string>; always?: boolean };
function pod(name: string, apps: C[], inits: C[] = [], extra: Record<string, unknown> = {}): PodModel {
  const ctr = (c: C) => ({ name: c.name, image: 'busybox', command: ['sh'], ...(c.always ? { restartPolicy: 'Always' } : {}), resources: { ...(c.req ? { requests: c.req } : {}), ...(c.lim ? { limits: c.lim } : {}) } });
  const r = validatePod({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: apps.map(ctr), initContainers: inits.map(ctr), ...extra } }, 'test.yaml');
  assert.deepEqual(r.errors, []);
  return r.pod!;
}
const hosts = (text: string) => parseInventory(text, 'inv.yaml');
const TWO = hosts(`hosts:
  - { name: h1, cpu: 2, memory: 2Gi }
  - { name: h2, cpu: 4, memory: 4Gi }
  - { name: h3, cpu: 1, memory: 1Gi, labels: { disk: ssd } }
`);

describe('podvm effective requests and limits (Kubernetes aggregation)', () => {
  it('app containers are summed; an init container wins when larger; overhead is added to requests and to declared limits', () => {
    const p = pod('a', [{ name: 'x', req: { cpu: '200m', memory: '100Mi' } }, { name: 'y', req: { cpu: '300m', memory: '50Mi' } }],
      [{ name: 'init', req: { cpu: '1', memory: '10Mi' } }], { overhead: { cpu: '100m', memory: '20Mi' } });
    const e = effectiveResources(p);
    assert.equal(e.requests.cpu, 1100n); // max(500m, 1) + 100m
    assert.equal(e.why.requests.cpu?.term, 'init');
    assert.equal(e.requests.memory, 170n * Mi); // max(150Mi, 10Mi) + 20Mi
    assert.equal(e.why.requests.memory?.term, 'containers');
    assert.equal(e.limits.cpu, undefined);
  });

  it('sidecars count with the apps and with every init container declared after them', () => {
    // sidecar s (100m) before init i2 (900m): i2 uses 1000m; apps 300m + s = 400m; i1 (before s) 950m
    const p = pod('b', [{ name: 'app', req: { cpu: '300m' } }],
      [{ name: 'i1', req: { cpu: '950m' } }, { name: 's', req: { cpu: '100m' }, always: true }, { name: 'i2', req: { cpu: '900m' } }]);
    const e = effectiveResources(p);
    assert.equal(e.requests.cpu, 1000n);
    assert.deepEqual(e.why.requests.cpu, { term: 'init', init: 'i2', of: ['i2', 's'] });
    assert.deepEqual(p.containers.map((c) => c.kind), ['init', 'sidecar', 'init', 'app']);
  });

  it('a limit without a request defaults the request; missing limits leave the pod without one; allLimited follows every container', () => {
    const p = pod('c', [{ name: 'x', lim: { cpu: '500m', memory: '64Mi' } }, { name: 'y', req: { cpu: '100m' } }]);
    const e = effectiveResources(p);
    assert.equal(e.requests.cpu, 600n);
    assert.equal(e.requests.memory, 64n * Mi);
    assert.equal(e.limits.cpu, 500n);
    assert.deepEqual(e.allLimited, { cpu: false, memory: false });
    // scoring stand-ins: y requests no memory → 200 MiB counted for it
    assert.equal(e.requestsNonZero.memory, 64n * Mi + 200n * Mi);
  });
});

describe('podvm sizing policies (worked examples)', () => {
  const p = pod('w', [{ name: 'app', req: { cpu: '250m', memory: '100Mi' }, lim: { cpu: '1500m', memory: '300.5Mi' } }]);
  it('fth rounds CPU and memory up and adds the guest reserve', () => {
    const s = sizePod(p, 'fth');
    assert.equal(s.vcpus, 2); // ⌈1.5⌉
    assert.equal(s.memoryMiB, 301 + 192 + 1); // ⌈300.5⌉ = 301, + 192 = 493, aligned to 2 → 494
  });
  it('kata-go-static adds the limits to a 1 vCPU / 2048 MiB base and rounds memory down', () => {
    const s = sizePod(p, 'kata-go-static');
    assert.equal(s.vcpus, 3); // ⌈1 + 1.5⌉
    assert.equal(s.memoryMiB, 2048 + 300);
  });
  it('kata-rs replaces the base vCPUs with ⌈quota/period⌉ but adds the memory', () => {
    const s = sizePod(p, 'kata-rs');
    assert.equal(s.vcpus, 2);
    assert.equal(s.memoryMiB, 2348);
  });
  it('fth never sizes below requests when limits are missing; Kata then falls back to its base', () => {
    const q = pod('n', [{ name: 'a', req: { cpu: '2500m', memory: '1Gi' } }]);
    assert.deepEqual([sizePod(q, 'fth').vcpus, sizePod(q, 'fth').memoryMiB], [3, 1024 + 192]);
    assert.deepEqual([sizePod(q, 'kata-go-static').vcpus, sizePod(q, 'kata-go-static').memoryMiB], [1, 2048]);
    assert.throws(() => sizePod(q, 'nope'), /unknown sizing policy "nope"/);
  });
  it('NUMA cells only when a host cell is exceeded; round-robin vCPUs; memory in 2 MiB units summing exactly', () => {
    const cells = [{ cpus: 2, memory: 1024n * Mi }, { cpus: 2, memory: 1024n * Mi }];
    assert.equal(numaLayout({ vcpus: 2, memoryMiB: 1000 }, cells, 'auto').cells, undefined);
    const l = numaLayout({ vcpus: 3, memoryMiB: 1502 }, cells, 'auto');
    assert.deepEqual(l.cells, [{ cpus: [0, 2], memoryMiB: 752 }, { cpus: [1], memoryMiB: 750 }]);
    assert.match(numaLayout({ vcpus: 5, memoryMiB: 512 }, cells, 'auto').misfit!, /needs 3 NUMA cells/);
    assert.match(numaLayout({ vcpus: 3, memoryMiB: 512 }, cells, 'never').misfit!, /splitting is off/);
  });
});

describe('podvm schedulers', () => {
  it('LeastAllocated and MostAllocated use the upstream integer formulas (incoming pod included)', () => {
    const p = pod('s', [{ name: 'a', req: { cpu: '1', memory: '1Gi' } }]);
    const st = newCluster(TWO.slice(0, 2));
    const eff = effectiveResources(p);
    const size = sizePod(p);
    const least = scheduleVm(p, eff, size, st, { score: 'LeastAllocated', numa: 'auto', rng: () => 0 });
    // h1: cpu (2000-1000)*100/2000 = 50, mem (2Gi-1Gi)*100/2Gi = 50 → 50; h2: 75, 75 → 75
    assert.deepEqual(least.verdicts.map((v) => v.score), [50, 75]);
    assert.equal(least.host, 'h2');
    const most = scheduleVm(p, eff, size, st, { score: 'MostAllocated', numa: 'auto', rng: () => 0 });
    assert.deepEqual(most.verdicts.map((v) => v.score), [50, 25]);
    assert.equal(most.host, 'h1');
  });

  it('admission charges requests + overhead + the VM overhead; the Pending message is kube-scheduler\'s', () => {
    // 1.9 GiB fits h1's 2 GiB by requests alone, but not with the 128 MiB VM overhead
    const p = pod('big', [{ name: 'a', req: { cpu: '100m', memory: '1946Mi' } }], [], { nodeSelector: { disk: 'ssd' } });
    const { plans } = planPods([p], [TWO[0], TWO[2]]);
    assert.equal(plans[0].state, 'Pending');
    assert.equal(plans[0].decision.message, "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient memory.");
    assert.equal(unschedulableMessage(3, [['Insufficient memory'], ['Insufficient memory'], ['Insufficient memory']]), '0/3 nodes are available: 3 Insufficient memory.');
  });

  it('pods are placed in order against what earlier ones took; capacity exhausted → Pending; ties broken by the seed', () => {
    const ps = ['p1', 'p2', 'p3'].map((n) => pod(n, [{ name: 'a', req: { cpu: '1100m', memory: '512Mi' } }]));
    const { plans } = planPods(ps, [TWO[0], { ...TWO[0], name: 'h1b' }], { ...DEFAULT_PLAN, seed: 7 });
    assert.deepEqual(plans.map((p) => p.state), ['Bound', 'Bound', 'Pending']);
    assert.notEqual(plans[0].decision.host, plans[1].decision.host);
    assert.deepEqual(plans[0].decision.tie, ['h1', 'h1b']);
    assert.match(plans[2].decision.message!, /^0\/2 nodes are available: 2 Insufficient cpu\.$/);
    const again = planPods(ps, [TWO[0], { ...TWO[0], name: 'h1b' }], { ...DEFAULT_PLAN, seed: 7 }).plans;
    assert.equal(again[0].decision.host, plans[0].decision.host);
  });

  it('NodeResourcesFit: pod count, then each resource; an all-zero pod fits anywhere', () => {
    const node = { name: 'n', allocatable: { cpu: 1000n, memory: 100n }, allowedPods: 2, requested: { cpu: 900n, memory: 0n }, pods: 1 };
    assert.deepEqual(fitsRequest({ cpu: 200n, memory: 100n }, node), ['Insufficient cpu']);
    assert.deepEqual(fitsRequest({ cpu: 0n, memory: 0n }, { ...node, pods: 2 }), ['Too many pods']);
    assert.deepEqual(fitsRequest({ cpu: 100n, memory: 100n }, node), []);
  });

  it('the container scheduler agrees with the VM scheduler, and disagrees when the VM scheduler forgets the overhead (broken variant)', () => {
    const inv = hosts('hosts: [{ name: h, cpu: 1, memory: 1Gi, vmOverhead: { memory: 0 } }]');
    const p = pod('o', [{ name: 'a', req: { cpu: '950m', memory: '64Mi' } }], [], { overhead: { cpu: '100m' } });
    assert.equal(planPods([p], inv).plans[0].state, 'Pending');
    const saved = process.env[BROKEN_ENV];
    process.env[BROKEN_ENV] = 'podvm:ignore-overhead';
    try {
      const [pl] = planPods([p], inv).plans;
      assert.equal(pl.state, 'Bound');
      assert.match(pl.disagreement!, /NodeResourcesFit rejects it there: Insufficient cpu/);
      assert.match(renderPlan(pl, inv), /DISAGREES: Insufficient cpu/);
    } finally { if (saved === undefined) delete process.env[BROKEN_ENV]; else process.env[BROKEN_ENV] = saved; }
    const st = newCluster(inv);
    assert.equal(bindToHost(p, effectiveResources(p), inv[0], st).bound, false);
  });

  it('a NotReady host is filtered with the unreachable taint', () => {
    const p = pod('r', [{ name: 'a', req: { cpu: '100m' } }]);
    const st = newCluster(TWO.slice(0, 1));
    st.notReady.add('h1');
    const [pl] = [planPod(p, st, DEFAULT_PLAN, () => 0)];
    assert.equal(pl.decision.message, '0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.');
  });
});

describe('podvm inventory', () => {
  it('rejects bad hosts with the file and field path', () => {
    assert.throws(() => parseInventory('hosts: [{ name: h1, cpu: 2, memory: 1.5.5Gi }]', 'inv.yaml'), (e: InventoryError) => /^inv\.yaml: hosts\[0\]\.memory: /.test(e.message));
    assert.throws(() => parseInventory('hosts: [{ name: h1, cpu: 2, memory: 1Gi, reserved: { cpu: 3 } }]', 'inv.yaml'), /inv\.yaml: hosts\[0\]\.reserved\.cpu: must be less than or equal/);
    assert.throws(() => parseInventory('hosts: [{ name: h1, cpu: 2, memory: 1Gi }, { name: h1, cpu: 1, memory: 1Gi }]', 'inv.yaml'), /hosts\[1\]\.name: Duplicate value: "h1"/);
    assert.throws(() => parseInventory('hosts: [{ name: h1, cpu: 2, memory: 1Gi, cpus: 3 }]', 'inv.yaml'), /hosts\[0\]\.cpus: unknown field/);
    assert.throws(() => parseInventory('hosts: [{ name: h1, cpu: 2, memory: 2Gi, numa: [{ cpus: 1, memory: 1Gi }] }]', 'inv.yaml'), /hosts\[0\]\.numa: the cells' CPUs add up to 1/);
  });
});

describe('podvm cgroup values (kubelet formulas) and the checker\'s reference', () => {
  it('quota, shares and weight as kubelet computes them', () => {
    assert.equal(milliToShares(0n), 2n);
    assert.equal(milliToShares(1n), 2n);
    assert.equal(milliToShares(250n), 256n);
    assert.equal(sharesToWeight(2n), 1);
    assert.equal(sharesToWeight(1024n), 39);
    assert.equal(sharesToWeight(262144n), 10000);
    const p = pod('g', [{ name: 'a', req: { cpu: '250m' }, lim: { cpu: '5m', memory: '64Mi' } }].map((c) => ({ ...c, req: { cpu: '5m' } })));
    assert.deepEqual(containerCgroup(p.containers[0]), { cpuMax: '1000 100000', cpuWeight: 1, memoryMax: `${64n * Mi}` });
    assert.deepEqual(podCgroup(effectiveResources(p)), { cpuMax: '1000 100000', cpuWeight: 1, memoryMax: `${64n * Mi}` });
  });

  it('the reference agrees with the planner on a pod with an init container, a sidecar and overhead', () => {
    const p = pod('web', [{ name: 'app', req: { cpu: '250m', memory: '64Mi' }, lim: { cpu: '500m', memory: '128Mi' } }, { name: 'cache', req: { cpu: '100m', memory: '32Mi' }, lim: { cpu: '250m', memory: '64Mi' } }],
      [{ name: 'migrate', req: { cpu: '500m', memory: '96Mi' }, lim: { cpu: '1', memory: '128Mi' } }, { name: 'log', req: { cpu: '50m', memory: '16Mi' }, lim: { cpu: '100m', memory: '32Mi' }, always: true }],
      { overhead: { cpu: '100m', memory: '64Mi' } });
    const ref = reference(p.raw, { guestReserveMiB: DEFAULT_SIZING.guestReserve.memoryMiB, defaultMemoryMiB: DEFAULT_SIZING.defaultMemoryMiB, alignMiB: 2 });
    const eff = effectiveResources(p);
    const size = sizePod(p);
    assert.deepEqual(ref.requests, eff.requests);
    assert.deepEqual([ref.vcpus, ref.memoryMiB], [size.vcpus, size.memoryMiB]);
    for (const c of p.containers) {
      const mine = containerCgroup(c);
      assert.deepEqual(ref.containers[c.name], { cpuMax: mine.cpuMax, cpuWeight: String(mine.cpuWeight), memoryMax: mine.memoryMax });
    }
    const pc = podCgroup(eff);
    assert.deepEqual(ref.pod, { cpuMax: pc.cpuMax, cpuWeight: String(pc.cpuWeight), memoryMax: pc.memoryMax });
  });

  it('the reference says otherwise when the planner would be wrong (a sidecar declared after an init container does not add to it)', () => {
    const p = pod('x', [{ name: 'app', req: { cpu: '100m' } }], [{ name: 'i', req: { cpu: '1' } }, { name: 's', req: { cpu: '500m' }, always: true }]);
    const ref = reference(p.raw, { guestReserveMiB: 192, defaultMemoryMiB: 256, alignMiB: 2 });
    assert.equal(ref.requests.cpu, 1000n); // not 1500m: s starts after i ended
    assert.notEqual(ref.requests.cpu, 1500n);
  });

  it('OOM reports are read from the kernel\'s own lines, with the cgroup that hit its limit', () => {
    const dmesg = [
      '[   12.3] sh invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0',
      '[   12.4] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=hog,mems_allowed=0,oom_memcg=/kubepods/podU/hog,task_memcg=/kubepods/podU/hog,task=sh,pid=321,uid=0',
      '[   12.4] Memory cgroup out of memory: Killed process 321 (sh) total-vm:1kB',
      '[   20.0] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/kubepods/podU/app,task=node,pid=99,uid=0',
    ].join('\n');
    assert.deepEqual(oomReports(dmesg), [
      { constraint: 'CONSTRAINT_MEMCG', memcg: '/kubepods/podU/hog', task: 'sh' },
      { constraint: 'CONSTRAINT_NONE', memcg: undefined, task: 'node' },
    ]);
  });
});
