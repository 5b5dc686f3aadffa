// kubelet's conversion of pod and container resources into cgroup v2 values (pkg/kubelet/cm
// helpers_linux.go MilliCPUToQuota/MilliCPUToShares, ResourceConfigForPod; kuberuntime
// calculateLinuxResources; the v1 shares → v2 weight formula of cgroup_manager_linux.go
// CpuSharesToCpuWeight), and the run plan the guest's pod runner executes.
import type { ContainerModel, PodModel } from './model.js';
import type { Effective } from './resources.js';
import type { CgroupValues, PodRunPlan } from './run-plan.js';
import { milliToQuota, QUOTA_PERIOD_US } from './sizing.js';

const MIN_SHARES = 2n;
const MAX_SHARES = 262144n;

export function milliToShares(m: bigint): bigint {
  if (m === 0n) return MIN_SHARES;
  const s = (m * 1024n) / 1000n;
  return s < MIN_SHARES ? MIN_SHARES : s > MAX_SHARES ? MAX_SHARES : s;
}

export const sharesToWeight = (shares: bigint): number => Number(((shares - 2n) * 9999n) / 262142n + 1n);

const cpuMax = (limit: bigint | undefined) => (limit === undefined ? `max ${QUOTA_PERIOD_US}` : `${milliToQuota(limit)} ${QUOTA_PERIOD_US}`);

/** A container's cgroup: shares from its request (or its limit when it has no request). */
export function containerCgroup(c: ContainerModel): CgroupValues {
  const shares = milliToShares(c.requests.cpu ?? c.limits.cpu ?? 0n);
  return {
    cpuMax: cpuMax(c.limits.cpu),
    cpuWeight: sharesToWeight(shares),
    memoryMax: c.limits.memory === undefined ? 'max' : `${c.limits.memory}`,
  };
}

/** The pod cgroup inside the podVM: limits only when every container declares one; no
 *  overhead (the overhead is the VM's, on the host). */
export function podCgroup(eff: Effective): CgroupValues {
  return {
    cpuMax: eff.allLimited.cpu ? cpuMax(eff.limits.cpu) : `max ${QUOTA_PERIOD_US}`,
    cpuWeight: sharesToWeight(milliToShares(eff.requestsNoOverhead.cpu)),
    memoryMax: eff.allLimited.memory ? `${eff.limits.memory}` : 'max',
  };
}

export function podRunPlan(pod: PodModel, eff: Effective, statusFile: string): PodRunPlan {
  return {
    uid: pod.uid, name: pod.name, namespace: pod.namespace,
    cgroupPath: `kubepods/pod${pod.uid}`, cgroup: podCgroup(eff), restartPolicy: pod.restartPolicy,
    containers: pod.containers.map((c) => ({ name: c.name, kind: c.kind, command: c.command, env: c.env, cgroup: containerCgroup(c) })),
    statusFile,
  };
}
