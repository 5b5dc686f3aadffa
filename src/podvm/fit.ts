// The container scheduler's filter: a port of kube-scheduler's NodeResourcesFit (plugins/
// noderesources/fit.go fitsRequest) on a snapshot: pod count, then per resource
// "podRequest > allocatable − Σ requested of bound pods" is "Insufficient <resource>". It knows
// nothing of VMs: requests include spec.overhead, as PodRequests gives them.
import type { ResourceName } from './model.js';

export interface FitNode {
  name: string;
  allocatable: Record<ResourceName, bigint>;
  allowedPods: number;
  /** requests of the pods already bound to it */
  requested: Record<ResourceName, bigint>;
  pods: number;
}

export function fitsRequest(podRequests: Record<ResourceName, bigint>, node: FitNode): string[] {
  const reasons: string[] = [];
  if (node.pods + 1 > node.allowedPods) reasons.push('Too many pods');
  // A pod that requests nothing fits everywhere (fit.go returns early).
  if (podRequests.cpu === 0n && podRequests.memory === 0n) return reasons;
  if (podRequests.cpu > node.allocatable.cpu - node.requested.cpu) reasons.push('Insufficient cpu');
  if (podRequests.memory > node.allocatable.memory - node.requested.memory) reasons.push('Insufficient memory');
  return reasons;
}

/** kube-scheduler's FitError wording: "0/3 nodes are available: 1 Insufficient cpu, 2 Insufficient memory." */
export function unschedulableMessage(total: number, reasonsPerNode: string[][]): string {
  const hist = new Map<string, number>();
  for (const rs of reasonsPerNode) for (const r of new Set(rs)) hist.set(r, (hist.get(r) ?? 0) + 1);
  const parts = [...hist].map(([r, n]) => `${n} ${r}`).sort();
  return `0/${total} nodes are available: ${parts.join(', ')}.`;
}
