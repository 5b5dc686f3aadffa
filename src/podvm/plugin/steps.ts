// The podVM controller as scenario steps: plan (size → VM scheduler → bound container scheduler),
// boot the podVM on its host, start the pod's containers with crun inside it, and react to host
// power cuts (NotReady → after evictAfter, re-plan elsewhere with the same UID; a returning host's
// stale podVMs are fenced). Hosts are logical slices of this machine's libvirt: a podVM's host is
// recorded in its domain description, which the checker reads back from libvirt.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mulberry32 } from '../../shared/prng.js';
import { brokenEnv, isBroken } from '../../shared/broken-sut.js';
import { bootVm } from '../../runner/boot.js';
import { addCheck, addMetric, sliceOf, type RunContext } from '../../runner/context.js';
import { SutDeadline } from '../../runner/outcomes.js';
import { controlDir, planVms } from '../../runner/plan.js';
import type { Fault } from '../../faults/fault.js';
import { guestProgram } from '../../sut/guest.js';
import { loadInventory, thisMachine } from '../inventory.js';
import { loadPods } from '../pod.js';
import { DEFAULT_PLAN, newCluster, planJson, planPod } from '../plan.js';
import { podRunPlan } from '../cgroups.js';
import { DEFAULT_SIZING } from '../sizing.js';
import type { PodRunStatus } from '../run-plan.js';
import { PODVM, type PodRecord, type PodvmSlice, type PodPhase } from './slice.js';
import { podvm } from './index.js';
import { resolveFile } from './walk.js';
import type { CheckPodStep, ClusterStep, HostStep, PodCreateStep, PodDeleteStep, WaitPodStep } from './schema.js';
import { checkPodTruth } from './truth.js';

const DEFAULT_WITHIN_MS = 180_000;
export const STATUS_FILE = 'pod-status.json';
const slice = (ctx: RunContext) => sliceOf<PodvmSlice>(ctx, podvm);
const cluster = (ctx: RunContext) => {
  const c = slice(ctx).cluster;
  if (!c) throw new Error('no podvm-cluster step ran before this one');
  return c;
};
export const record = (ctx: RunContext, pod: string): PodRecord => {
  const r = slice(ctx).pods.get(pod);
  if (!r) throw new Error(`no pod "${pod}" in this run`);
  return r;
};

function phase(ctx: RunContext, r: PodRecord, p: PodPhase, extra: { host?: string; vm?: string; message?: string } = {}): void {
  // The pod's own lane on the report's timeline: each phase a bar until the next (Failed in red).
  const lane = `pod ${r.model.name}`;
  const prev = r.timeline.at(-1);
  if (prev) ctx.history.add(prev.phase === 'Failed' ? 'fail' : 'ok', lane, prev.phase, prev.host ? { host: prev.host } : undefined);
  ctx.history.add('invoke', lane, p, { ...extra });
  r.phase = p;
  r.timeline.push({ phase: p, at: Date.now(), ...extra });
  ctx.history.add('info', PODVM, 'pod-phase', { pod: r.model.name, uid: r.model.uid, phase: p, ...extra });
  ctx.log(`pod ${r.model.name}: ${p}${extra.host ? ` on ${extra.host}` : ''}${extra.message ? ` (${extra.message})` : ''}`);
}

export async function podvmCluster(ctx: RunContext, s: ClusterStep): Promise<void> {
  const hosts = s.inventory ? loadInventory(resolveFile(ctx.scenario.file, s.inventory)) : [thisMachine()];
  const opts = {
    ...DEFAULT_PLAN, policy: s.policy ?? 'fth', score: s.score ?? 'LeastAllocated', numa: s.numa ?? 'auto', seed: ctx.seed,
    sizing: { ...DEFAULT_SIZING, guestReserve: { ...DEFAULT_SIZING.guestReserve, memoryMiB: s.guestReserve ?? DEFAULT_SIZING.guestReserve.memoryMiB } },
  };
  slice(ctx).cluster = { hosts, state: newCluster(hosts), opts, rng: mulberry32(ctx.seed), evictAfterMs: s.evictAfter ?? 5000, downSince: new Map() };
  ctx.history.add('info', PODVM, 'cluster', { hosts: hosts.map((h) => h.name), policy: opts.policy, score: opts.score, evictAfterMs: s.evictAfter ?? 5000 });
}

const vmKey = (r: PodRecord) => `${r.model.name.replace(/[^a-z0-9-]/g, '-').slice(0, 22).replace(/-+$/, '')}-g${r.vms.length + 1}`;

/** Plan, bind, boot and start one placement of the pod. Pending when nothing fits. */
async function place(ctx: RunContext, r: PodRecord, withinMs: number): Promise<void> {
  const c = cluster(ctx);
  const plan = planPod(r.model, c.state, c.opts, c.rng);
  r.plan = plan;
  ctx.history.add('info', PODVM, 'plan', planJson(plan) as Record<string, unknown>);
  await writeFile(join(ctx.dir, `podvm-plan-${r.model.name}-${r.vms.length + 1}.json`), JSON.stringify(planJson(plan), null, 2));
  if (plan.state === 'Pending') {
    phase(ctx, r, 'Pending', { message: plan.decision.message });
    if (!slice(ctx).queue.includes(r.model.name)) slice(ctx).queue.push(r.model.name);
    return;
  }
  const host = plan.decision.host!;
  if (plan.disagreement) addCheck(ctx, { name: `schedulers agree on ${r.model.name}'s host`, valid: false, message: plan.disagreement, evidence: { verdicts: planJson(plan) } });
  await writeFile(join(ctx.dir, `${r.model.name}.binding.json`), JSON.stringify(plan.bind!.binding, null, 2));
  phase(ctx, r, 'Bound', { host });
  r.host = host;
  const key = vmKey(r);
  r.vms.push({ key, host, generation: r.vms.length + 1 });
  const [p] = await planVms({
    ...ctx.scenario,
    vms: [{ name: key, vcpus: plan.size.vcpus, memoryMiB: plan.size.memoryMiB, maxMemoryMiB: plan.size.memoryMiB, nvdimms: [], nics: [], code: true, numa: plan.cells?.map((cell) => ({ cpus: cell.cpus, memoryMiB: cell.memoryMiB })) }],
  }, ctx.lab, ctx.image, ctx.host, ctx.dir);
  // The checker finds pod and host here, in what libvirt keeps, not in the controller's memory.
  p.spec.description += ` podvm pod=${r.model.namespace}/${r.model.name} uid=${r.model.uid} host=${host} generation=${r.vms.length}`;
  await mkdir(controlDir(ctx.lab, key), { recursive: true });
  await ctx.lab.defineVm(key, p.spec, join(ctx.dir, `${key}.domain.xml`));
  ctx.specs.set(key, p.spec);
  phase(ctx, r, 'Booting', { host, vm: key });
  await bootVm(ctx, key);
  const runPlan = podRunPlan(r.model, plan.eff, `/run/fthctl/${STATUS_FILE}`);
  await mkdir(join(ctx.lab.shareDir, 'pods'), { recursive: true });
  await writeFile(join(ctx.lab.shareDir, 'pods', `${key}.json`), JSON.stringify(runPlan, null, 2));
  await ctx.history.op(key, 'pod-runner', { pod: r.model.name }, () => ctx.lab.vm(key).agent.spawn(`node ${guestProgram(PODVM, 'pod-runner')} /opt/fthrun/pods/${key}.json`, '/tmp/pod-runner.log', brokenEnv()));
  const st = await waitStatus(ctx, key, withinMs, started);
  if (!st || st.phase === 'Failed') {
    throw new SutDeadline(`pod ${r.model.name} runs`, st ? `the pod failed in its podVM: ${st.message ?? 'no message'}` : `the pod's containers were not running ${withinMs} ms after its podVM booted`, { status: st ?? null });
  }
  phase(ctx, r, 'Running', { host, vm: key });
  addMetric(ctx, 'podvm_create_to_running_ms', 'ms', Date.now() - r.createdAt, 'pod-create (or re-plan) → its app containers run in the podVM');
  if (r.cutAt) {
    addMetric(ctx, 'podvm_reschedule_ms', 'ms', Date.now() - r.cutAt, 'host power cut → the pod runs again on another host (grace + plan + boot + containers)');
    r.cutAt = undefined;
  }
  await measureOverhead(ctx, key, host).catch((e: Error) => ctx.log(`podVM overhead not measured: ${e.message}`));
}

/** The pod is up when every long-running container has started (or already ended), or it ended. */
const started = (x: PodRunStatus) => x.phase === 'Succeeded' || x.phase === 'Failed'
  || x.phase === 'Running' && x.containers.every((c) => c.kind === 'init' || c.state !== 'waiting');

export async function readStatus(ctx: RunContext, key: string): Promise<PodRunStatus | undefined> {
  try { return JSON.parse(await readFile(join(controlDir(ctx.lab, key), STATUS_FILE), 'utf8')) as PodRunStatus; } catch { return undefined; }
}

async function waitStatus(ctx: RunContext, key: string, withinMs: number, done: (s: PodRunStatus) => boolean): Promise<PodRunStatus | undefined> {
  const t0 = Date.now();
  let last: PodRunStatus | undefined;
  while (Date.now() - t0 < withinMs) {
    ctx.signal.throwIfAborted();
    last = await readStatus(ctx, key);
    if (last && done(last)) return last;
    await sleep(250);
  }
  return last && done(last) ? last : undefined;
}

/** QEMU's resident memory beyond what the guest uses (TCG's translation cache included):
 *  measured, and charged by the VM scheduler from then on when larger than declared. */
async function measureOverhead(ctx: RunContext, key: string, host: string): Promise<void> {
  const name = ctx.lab.domainName(key);
  const pid = Number((await readFile(`/run/libvirt/qemu/${name}.pid`, 'utf8')).trim());
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
  const mem = await ctx.lab.vm(key).agent.sh("awk '/MemTotal/{t=$2}/MemFree/{f=$2}END{print t-f}' /proc/meminfo");
  const overheadKb = rssKb - Number(mem.trim());
  addMetric(ctx, 'podvm_qemu_rss_mib', 'MiB', rssKb / 1024, 'QEMU process RSS on the host after the pod started');
  addMetric(ctx, 'podvm_qemu_overhead_mib', 'MiB', overheadKb / 1024, 'QEMU RSS minus the guest memory in use (MemTotal − MemFree): the VM\'s own host overhead, TCG translation cache included');
  const c = cluster(ctx);
  const prev = c.state.measuredOverhead.get(host) ?? 0n;
  const b = BigInt(Math.max(0, overheadKb)) * 1024n;
  if (b > prev) c.state.measuredOverhead.set(host, b);
}

export async function podCreate(ctx: RunContext, s: PodCreateStep): Promise<void> {
  const pods = await loadPods(resolveFile(ctx.scenario.file, s.pod));
  const model = s.name ? pods.find((p) => p.name === s.name)! : pods[0];
  const r: PodRecord = { model, phase: 'Pending', vms: [], timeline: [], createdAt: Date.now() };
  slice(ctx).pods.set(model.name, r);
  phase(ctx, r, 'Pending', { message: 'created' });
  await place(ctx, r, s.within ?? DEFAULT_WITHIN_MS);
}

export async function waitPod(ctx: RunContext, s: WaitPodStep): Promise<void> {
  const r = record(ctx, s.pod);
  const within = s.within ?? DEFAULT_WITHIN_MS;
  const t0 = Date.now();
  const ok = () => r.phase === s.phase && (!s.notOn || r.host !== s.notOn);
  while (!ok() && Date.now() - t0 < within) {
    ctx.signal.throwIfAborted();
    // a re-placement that failed surfaces here (its SutDeadline is the finding)
    await Promise.race([sleep(250), ...slice(ctx).background]);
  }
  if (!ok()) throw new SutDeadline(`pod ${s.pod} ${s.phase}${s.notOn ? ` off ${s.notOn}` : ''}`, `pod ${s.pod} was not ${s.phase}${s.notOn ? ` on a host other than ${s.notOn}` : ''} within ${within} ms (it is ${r.phase}${r.host ? ` on ${r.host}` : ''})`, { timeline: r.timeline });
  addMetric(ctx, 'podvm_wait_ms', 'ms', Date.now() - t0, `wait-pod until ${s.phase}`);
}

export async function checkPod(ctx: RunContext, s: CheckPodStep): Promise<void> {
  const r = record(ctx, s.pod);
  for (const c of await checkPodTruth(ctx, r, cluster(ctx), s)) addCheck(ctx, c);
}

/** Pending pods, FIFO, when capacity may have freed. */
async function retryPending(ctx: RunContext): Promise<void> {
  const sl = slice(ctx);
  for (const name of [...sl.queue]) {
    const r = sl.pods.get(name)!;
    sl.queue.splice(sl.queue.indexOf(name), 1);
    await place(ctx, r, DEFAULT_WITHIN_MS);
  }
}

const unbind = (ctx: RunContext, r: PodRecord) => {
  const c = cluster(ctx);
  c.state.bound = c.state.bound.filter((b) => b.uid !== r.model.uid);
};

/** A host's power cut: every podVM on it stops at once (virsh destroy); open until host-return. */
const hostCutFault: Fault<{ host: string; vms: string[] }> = {
  kind: 'host-power-cut',
  colour: '#7b1fa2',
  needs: [],
  label: (p) => `host ${p.host} power cut (${p.vms.length} podVM${p.vms.length === 1 ? '' : 's'})`,
  async inject(ctx, p) {
    for (const vm of p.vms) await ctx.history.op('nemesis', 'virsh-destroy', { vm }, () => ctx.lab.vm(vm).destroy());
    return undefined;
  },
};

export async function hostPowerCut(ctx: RunContext, s: HostStep): Promise<void> {
  const c = cluster(ctx);
  c.state.notReady.add(s.host);
  c.downSince.set(s.host, Date.now());
  ctx.history.add('info', PODVM, 'host-not-ready', { host: s.host });
  const victims = [...slice(ctx).pods.values()].filter((r) => r.host === s.host && (r.phase === 'Running' || r.phase === 'Booting' || r.phase === 'Bound'));
  const vms = [...slice(ctx).pods.values()].flatMap((r) => r.vms.filter((v) => v.host === s.host && !v.fenced).map((v) => v.key));
  await ctx.nemesis.inject(hostCutFault, { host: s.host, vms }, { key: `host:${s.host}` });
  // The controller does nothing until the grace has passed (node-monitor grace, then eviction).
  const evict = (async () => {
    await sleep(c.evictAfterMs, undefined, { signal: ctx.signal });
    if (!c.state.notReady.has(s.host)) return;
    for (const r of victims) {
      if (r.host !== s.host) continue;
      unbind(ctx, r);
      r.cutAt = c.downSince.get(s.host);
      phase(ctx, r, 'Failed', { host: s.host, message: `host ${s.host} NotReady for ${c.evictAfterMs} ms: evicted` });
      phase(ctx, r, 'Rescheduled', { message: `re-planned with the same uid ${r.model.uid}` });
      r.createdAt = Date.now();
      await place(ctx, r, DEFAULT_WITHIN_MS);
    }
  })();
  const sl = slice(ctx);
  sl.background.add(evict);
  evict.finally(() => sl.background.delete(evict)).catch(() => undefined);
  ctx.nemesis.track(evict);
}

/** Boot a podVM again and start its pod runner on the plan it had. */
async function restart(ctx: RunContext, key: string): Promise<PodRunStatus | undefined> {
  await bootVm(ctx, key);
  await ctx.lab.vm(key).agent.spawn(`node ${guestProgram(PODVM, 'pod-runner')} /opt/fthrun/pods/${key}.json`, '/tmp/pod-runner.log', brokenEnv());
  return waitStatus(ctx, key, DEFAULT_WITHIN_MS, started);
}

export async function hostReturn(ctx: RunContext, s: HostStep): Promise<void> {
  const c = cluster(ctx);
  // Fencing first: a podVM of this host whose pod was evicted must never run again. A pod
  // still bound here (back before its eviction) gets its podVM restarted. Only then is it Ready.
  for (const r of slice(ctx).pods.values()) {
    for (const vm of r.vms) {
      if (vm.host !== s.host || vm.fenced) continue;
      const current = vm === r.vms.at(-1) && r.host === s.host;
      if (current || isBroken(PODVM, 'no-fence')) {
        // (the broken variant restarts what the host ran before the cut, like autostart)
        const st = await ctx.history.op(PODVM, current ? 'restart' : 'restart-stale', { vm: vm.key, pod: r.model.name }, () => restart(ctx, vm.key));
        if (current) phase(ctx, r, st && st.phase !== 'Failed' ? 'Running' : 'Failed', { host: s.host, vm: vm.key, message: 'host returned before eviction' });
        continue;
      }
      await ctx.history.op(PODVM, 'fence', { vm: vm.key, pod: r.model.name }, () => ctx.lab.vm(vm.key).destroy());
      vm.fenced = true;
    }
  }
  c.state.notReady.delete(s.host);
  c.downSince.delete(s.host);
  await ctx.nemesis.end(`host:${s.host}`);
  ctx.history.add('info', PODVM, 'host-ready', { host: s.host });
  await retryPending(ctx);
}

export async function podDelete(ctx: RunContext, s: PodDeleteStep): Promise<void> {
  const r = record(ctx, s.pod);
  const vm = r.vms.at(-1);
  if (vm) await ctx.history.op(PODVM, 'pod-delete', { vm: vm.key }, () => ctx.lab.vm(vm.key).destroy());
  unbind(ctx, r);
  r.host = undefined;
  phase(ctx, r, 'Deleted');
  slice(ctx).queue = slice(ctx).queue.filter((n) => n !== s.pod);
  await retryPending(ctx);
}
