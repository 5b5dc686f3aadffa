// What the host hands the guest-side pod runner (pod-runner.ts) to start one pod in its podVM,
// and what the runner writes back. Plain data, shared by both sides; the guest imports nothing
// else from the harness. cgroup values are already converted (kubelet's formulas, host side).

export type ContainerKind = 'init' | 'sidecar' | 'app';

/** cgroup v2 file values as written: cpu.max "QUOTA PERIOD" or "max PERIOD", memory.max bytes or "max". */
export interface CgroupValues {
  cpuMax?: string;
  cpuWeight?: number;
  memoryMax?: string;
}

export interface ContainerRun {
  name: string;
  kind: ContainerKind;
  /** argv run inside the container's rootfs (a busybox tree): e.g. ["sh", "-c", "…"] */
  command: string[];
  env?: Record<string, string>;
  /** the container's own cgroup, below the pod cgroup (crun's linux.resources) */
  cgroup: CgroupValues;
}

export interface PodRunPlan {
  uid: string;
  name: string;
  namespace: string;
  /** the pod cgroup below /sys/fs/cgroup, e.g. "kubepods/pod<uid>" */
  cgroupPath: string;
  /** the pod cgroup's values (kubelet's ResourceConfigForPod) */
  cgroup: CgroupValues;
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  /** in the pod's declared order: init containers (sidecars among them) first, then apps */
  containers: ContainerRun[];
  /** guest file the runner keeps its PodRunStatus in (atomically replaced on every change) */
  statusFile: string;
}

export type ContainerState = 'waiting' | 'running' | 'terminated';

export interface ContainerRunStatus {
  name: string;
  kind: ContainerKind;
  state: ContainerState;
  restarts: number;
  exitCode?: number;
  /** "OOMKilled" when the container's cgroup memory.events oom_kill rose while it ran */
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  /** host pid of the container's init process in the guest, while running */
  pid?: number;
}

export interface PodRunStatus {
  uid: string;
  /** Pending: not started; Init: init containers running; Running: apps started */
  phase: 'Pending' | 'Init' | 'Running' | 'Succeeded' | 'Failed';
  message?: string;
  runtime: { name: 'crun'; version: string };
  containers: ContainerRunStatus[];
  updatedAt: string;
}
