// The two schedulers, as the patent splits them. The VM scheduler (DRS-like) admits a podVM on a
// host when the host's unreserved capacity covers the pod's requests + overhead + the VM's own
// host overhead, then scores the admitted hosts (kube-scheduler's LeastAllocated/MostAllocated,
// integer formulas) and breaks ties with the run's seeded PRNG. The container scheduler may bind
// the pod only to that host, and runs its own NodeResourcesFit (fit.ts) there: a host the VM
// scheduler chose that NodeResourcesFit rejects is a disagreement, reported, never hidden.
import type { HostDef } from './inventory.js';
import type { PodModel, ResourceName } from './model.js';
import type { Effective } from './resources.js';
import { fitsRequest, unschedulableMessage, type FitNode } from './fit.js';
import { numaLayout, type VmCell, type VmSize } from './sizing.js';
import { isBroken } from '../shared/broken-sut.js';

export type ScoreStrategy = 'LeastAllocated' | 'MostAllocated';
const MAX_NODE_SCORE = 100n;

export interface BoundPod {
  uid: string;
  name: string;
  host: string;
  requests: Record<ResourceName, bigint>;
  requestsNonZero: Record<ResourceName, bigint>;
  vm: { vcpus: number; memoryMiB: number };
  /** what the VM scheduler charged for the VM itself on the host */
  vmOverheadMemory: bigint;
}

export interface ClusterState {
  hosts: HostDef[];
  /** NotReady hosts (power cut, not yet returned) */
  notReady: Set<string>;
  bound: BoundPod[];
  /** the largest QEMU overhead measured on each host so far (RSS beyond guest RAM) */
  measuredOverhead: Map<string, bigint>;
}

export interface HostVerdict {
  host: string;
  fits: boolean;
  reasons: string[];
  score?: number;
  cells?: VmCell[];
  numa?: string;
  /** what was charged against the host: requests + overhead + VM overhead */
  charge?: { cpu: bigint; memory: bigint };
  free?: { cpu: bigint; memory: bigint };
}

export interface VmDecision {
  host?: string;
  verdicts: HostVerdict[];
  /** Pending: kube-scheduler's wording */
  message?: string;
  tie?: string[];
}

export interface ScheduleOptions { score: ScoreStrategy; numa: 'auto' | 'never'; rng: () => number }

export const allocatable = (h: HostDef) => ({ cpu: h.capacity.cpu - h.reserved.cpu, memory: h.capacity.memory - h.reserved.memory });
export const vmOverheadOf = (s: ClusterState, h: HostDef) => {
  const m = s.measuredOverhead.get(h.name) ?? 0n;
  return m > h.vmOverheadMemory ? m : h.vmOverheadMemory;
};
const onHost = (s: ClusterState, h: string) => s.bound.filter((b) => b.host === h);

function resourceScore(strategy: ScoreStrategy, requested: bigint, capacity: bigint): bigint {
  if (capacity === 0n) return 0n;
  if (strategy === 'LeastAllocated') return requested > capacity ? 0n : ((capacity - requested) * MAX_NODE_SCORE) / capacity;
  return ((requested > capacity ? capacity : requested) * MAX_NODE_SCORE) / capacity;
}

export function scheduleVm(pod: PodModel, eff: Effective, size: VmSize, s: ClusterState, o: ScheduleOptions): VmDecision {
  const verdicts: HostVerdict[] = s.hosts.map((h) => {
    const reasons: string[] = [];
    if (s.notReady.has(h.name)) reasons.push('node(s) had untolerated taint {node.kubernetes.io/unreachable: }');
    if (Object.entries(pod.nodeSelector).some(([k, v]) => h.labels[k] !== v)) reasons.push("node(s) didn't match Pod's node affinity/selector");
    const bound = onHost(s, h.name);
    if (bound.length + 1 > h.maxPods) reasons.push('Too many pods');
    const alloc = allocatable(h);
    const used = bound.reduce((a, b) => ({ cpu: a.cpu + b.requests.cpu, memory: a.memory + b.requests.memory + b.vmOverheadMemory }), { cpu: 0n, memory: 0n });
    // A deliberately broken VM scheduler (tests of the agreement check) forgets spec.overhead.
    const over = isBroken('podvm', 'ignore-overhead') ? eff.overhead : { cpu: 0n, memory: 0n };
    const charge = { cpu: eff.requests.cpu - over.cpu, memory: eff.requests.memory - over.memory + vmOverheadOf(s, h) };
    const free = { cpu: alloc.cpu - used.cpu, memory: alloc.memory - used.memory };
    if (charge.cpu > free.cpu) reasons.push('Insufficient cpu');
    if (charge.memory > free.memory) reasons.push('Insufficient memory');
    const layout = numaLayout(size, h.cells, o.numa);
    if (layout.misfit) reasons.push(`Insufficient NUMA cells (${layout.misfit})`);
    const v: HostVerdict = { host: h.name, fits: reasons.length === 0, reasons, cells: layout.cells, numa: layout.why, charge, free };
    if (v.fits) {
      const req = bound.reduce((a, b) => ({ cpu: a.cpu + b.requestsNonZero.cpu, memory: a.memory + b.requestsNonZero.memory }), { ...eff.requestsNonZero });
      v.score = Number((resourceScore(o.score, req.cpu, alloc.cpu) + resourceScore(o.score, req.memory, alloc.memory)) / 2n);
    }
    return v;
  });
  const fit = verdicts.filter((v) => v.fits);
  if (!fit.length) return { verdicts, message: unschedulableMessage(s.hosts.length, verdicts.map((v) => v.reasons)) };
  const best = Math.max(...fit.map((v) => v.score!));
  const tie = fit.filter((v) => v.score === best).map((v) => v.host);
  const host = tie[Math.floor(o.rng() * tie.length) % tie.length];
  return { host, verdicts, ...(tie.length > 1 ? { tie } : {}) };
}

export interface BindResult {
  bound: boolean;
  /** NodeResourcesFit's reasons on the bound host (empty: it agrees) */
  reasons: string[];
  binding: { apiVersion: 'v1'; kind: 'Binding'; metadata: { name: string; namespace: string; uid: string }; target: { apiVersion: 'v1'; kind: 'Node'; name: string } };
}

/** The container scheduler, restricted to the host the VM scheduler chose. */
export function bindToHost(pod: PodModel, eff: Effective, host: HostDef, s: ClusterState): BindResult {
  const bound = onHost(s, host.name);
  const node: FitNode = {
    name: host.name, allocatable: allocatable(host), allowedPods: host.maxPods, pods: bound.length,
    requested: bound.reduce((a, b) => ({ cpu: a.cpu + b.requests.cpu, memory: a.memory + b.requests.memory }), { cpu: 0n, memory: 0n }),
  };
  const reasons = fitsRequest(eff.requests, node);
  return {
    bound: reasons.length === 0, reasons,
    binding: { apiVersion: 'v1', kind: 'Binding', metadata: { name: pod.name, namespace: pod.namespace, uid: pod.uid }, target: { apiVersion: 'v1', kind: 'Node', name: host.name } },
  };
}
