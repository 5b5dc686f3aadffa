// One explained chain per pod: spec → effective requests/limits (which term won) → podVM size
// (which policy rule) → every host's filter result and score → the chosen host → the binding.
// Pods are placed in order (FIFO), each against the state the earlier ones left.
import { mulberry32 } from '../shared/prng.js';
import type { HostDef } from './inventory.js';
import type { PodModel } from './model.js';
import { describeTerm, effectiveResources, type Effective } from './resources.js';
import { allocatable, bindToHost, scheduleVm, vmOverheadOf, type BindResult, type ClusterState, type ScoreStrategy, type VmDecision } from './scheduler.js';
import { DEFAULT_SIZING, SIZING_POLICIES, type SizingOptions, type VmCell, type VmSize } from './sizing.js';

export interface PlanOptions {
  policy: string;
  sizing: SizingOptions;
  score: ScoreStrategy;
  numa: 'auto' | 'never';
  seed: number;
}
export const DEFAULT_PLAN: PlanOptions = { policy: 'fth', sizing: DEFAULT_SIZING, score: 'LeastAllocated', numa: 'auto', seed: 1 };

export interface PodPlan {
  pod: PodModel;
  eff: Effective;
  size: VmSize;
  decision: VmDecision;
  /** the container scheduler on the chosen host */
  bind?: BindResult;
  /** the two schedulers disagree about the chosen host (a violation) */
  disagreement?: string;
  cells?: VmCell[];
  state: 'Bound' | 'Pending';
}

export function newCluster(hosts: HostDef[]): ClusterState {
  return { hosts, notReady: new Set(), bound: [], measuredOverhead: new Map() };
}

/** Plan one pod against the cluster state; a bound pod is added to it. */
export function planPod(pod: PodModel, s: ClusterState, o: PlanOptions, rng: () => number): PodPlan {
  const policy = SIZING_POLICIES[o.policy];
  if (!policy) throw new Error(`unknown sizing policy "${o.policy}" (known: ${Object.keys(SIZING_POLICIES).join(', ')})`);
  const eff = effectiveResources(pod);
  const size = policy.size(pod, eff, o.sizing);
  const decision = scheduleVm(pod, eff, size, s, { score: o.score, numa: o.numa, rng });
  if (!decision.host) return { pod, eff, size, decision, state: 'Pending' };
  const host = s.hosts.find((h) => h.name === decision.host)!;
  const bind = bindToHost(pod, eff, host, s);
  const cells = decision.verdicts.find((v) => v.host === host.name)!.cells;
  s.bound.push({ uid: pod.uid, name: pod.name, host: host.name, requests: eff.requests, requestsNonZero: eff.requestsNonZero, vm: { vcpus: size.vcpus, memoryMiB: size.memoryMiB }, vmOverheadMemory: vmOverheadOf(s, host) });
  return {
    pod, eff, size, decision, bind, cells, state: 'Bound',
    ...(bind.bound ? {} : { disagreement: `the VM scheduler chose ${host.name}, NodeResourcesFit rejects it there: ${bind.reasons.join(', ')}` }),
  };
}

export function planPods(pods: PodModel[], hosts: HostDef[], o: PlanOptions = DEFAULT_PLAN): { plans: PodPlan[]; state: ClusterState } {
  const state = newCluster(hosts);
  const rng = mulberry32(o.seed);
  return { plans: pods.map((p) => planPod(p, state, o, rng)), state };
}

const MiB = 1024n * 1024n;
export const fmtCpu = (m: bigint) => (m % 1000n === 0n ? `${m / 1000n}` : `${m}m`);
export const fmtMem = (b: bigint) => (b % (1024n * MiB) === 0n ? `${b / (1024n * MiB)}Gi` : b % MiB === 0n ? `${b / MiB}Mi` : b % 1024n === 0n ? `${b / 1024n}Ki` : `${b}`);

export function renderPlan(p: PodPlan, hosts: HostDef[]): string {
  const { pod, eff, size } = p;
  const L: string[] = [];
  L.push(`pod ${pod.namespace}/${pod.name} (uid ${pod.uid}, ${pod.file}, QoS ${pod.qosClass})`);
  const kinds = pod.containers.map((c) => `${c.name} [${c.kind}]`).join(', ');
  L.push(`  containers: ${kinds}`);
  for (const r of ['cpu', 'memory'] as const) {
    const f = r === 'cpu' ? fmtCpu : fmtMem;
    const over = eff.overhead[r] ? ` + overhead ${f(eff.overhead[r])}` : '';
    L.push(`  requests.${r} = ${f(eff.requests[r])}: ${describeTerm(eff.why.requests[r])} = ${f(eff.requestsNoOverhead[r])}${over}`);
    L.push(`  limits.${r} = ${eff.limits[r] === undefined ? 'none' : `${f(eff.limits[r]!)}: ${describeTerm(eff.why.limits[r])}`}${eff.allLimited[r] ? '' : ' (not every container limits it)'}`);
  }
  L.push(`  podVM (${size.policy}): ${size.vcpus} vCPU, ${size.memoryMiB} MiB`);
  L.push(`    vCPUs: ${size.why.cpu}`);
  L.push(`    memory: ${size.why.memory}`);
  L.push('  hosts:');
  for (const v of p.decision.verdicts) {
    const h = hosts.find((x) => x.name === v.host)!;
    const a = allocatable(h);
    const room = v.free ? `free ${fmtCpu(v.free.cpu)} CPU / ${fmtMem(v.free.memory)} of ${fmtCpu(a.cpu)} / ${fmtMem(a.memory)}; charged ${fmtCpu(v.charge!.cpu)} / ${fmtMem(v.charge!.memory)} incl. VM overhead` : '';
    L.push(`    ${v.host}: ${v.fits ? `fits, score ${v.score}` : `rejected: ${v.reasons.join(', ')}`} (${room}; NUMA: ${v.numa})`);
  }
  if (p.state === 'Pending') {
    L.push(`  → Pending: ${p.decision.message}`);
    return L.join('\n');
  }
  L.push(`  → host ${p.decision.host}${p.decision.tie ? ` (tie between ${p.decision.tie.join(', ')}, broken by the seeded PRNG)` : ''}${p.cells ? `, ${p.cells.length} NUMA cells: ${p.cells.map((c) => `cpus ${c.cpus.join(',')} ${c.memoryMiB}Mi`).join('; ')}` : ''}`);
  L.push(`  → binding: spec.nodeName=${p.decision.host}; NodeResourcesFit on ${p.decision.host}: ${p.bind!.bound ? 'fits (the schedulers agree)' : `DISAGREES: ${p.bind!.reasons.join(', ')}`}`);
  return L.join('\n');
}

/** JSON-safe form (bigints as strings: exact quantities in millicores and bytes). */
export function planJson(p: PodPlan): unknown {
  return JSON.parse(JSON.stringify({
    pod: { name: p.pod.name, namespace: p.pod.namespace, uid: p.pod.uid, file: p.pod.file, qosClass: p.pod.qosClass, containers: p.pod.containers.map((c) => ({ name: c.name, kind: c.kind, requests: c.requests, limits: c.limits })) },
    effective: p.eff, size: p.size, state: p.state, decision: p.decision, binding: p.bind?.binding, agree: p.bind?.bound, disagreement: p.disagreement, cells: p.cells,
  }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}
