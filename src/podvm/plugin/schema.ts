// The podVM steps' schemas: the scenario vocabulary this SUT adds.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_WAIT_MS, step } from '../../scenario/schema.js';

const File = (d: string) => Type.String({ minLength: 1, description: `${d}; relative to the scenario file's directory` });
export const PodRef = Type.String({ pattern: '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$', description: 'metadata.name of a pod created by pod-create' });
const HostRef = Type.String({ pattern: '^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$', description: 'a host of the inventory' });
const Within = Type.Optional(Type.Integer({ minimum: 1000, maximum: MAX_WAIT_MS, description: 'ms' }));

export const PODVM_STEP_SCHEMAS = {
  'podvm-cluster': step('podvm-cluster', {
    inventory: Type.Optional(File('hosts of the VM scheduler (YAML, see README); default: this machine as one host')),
    policy: Type.Optional(Type.Union([Type.Literal('fth'), Type.Literal('kata-go-static'), Type.Literal('kata-rs')], { description: 'sizing policy (default fth)' })),
    score: Type.Optional(Type.Union([Type.Literal('LeastAllocated'), Type.Literal('MostAllocated')])),
    numa: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('never')])),
    evictAfter: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, description: 'ms a host stays NotReady before its pods are re-planned elsewhere (default 5000)' })),
    guestReserve: Type.Optional(Type.Integer({ minimum: 64, maximum: 4096, description: 'MiB each podVM gets beyond what its pod needs (guest kernel, init, pod runner; default 192)' })),
  }, 'the podVM cluster: hosts, sizing policy, VM scheduler settings (before any pod-create)'),
  'pod-create': step('pod-create', {
    pod: File('a v1 Pod manifest (one pod; or give `name` to pick one of a multi-document file)'),
    name: Type.Optional(PodRef),
    within: Within,
  }, 'validate, size, schedule and bind the pod, boot its podVM, start its containers with crun; wait until it runs (or it stays Pending)'),
  'wait-pod': step('wait-pod', {
    pod: PodRef,
    phase: Type.Union([Type.Literal('Running'), Type.Literal('Pending')]),
    notOn: Type.Optional(HostRef),
    within: Within,
  }, 'wait until the pod is in this phase (Running: its podVM up, its app containers started), optionally on another host than notOn'),
  'check-pod': step('check-pod', {
    pod: PodRef,
    oomKilled: Type.Optional(Type.Array(Type.String(), { description: 'containers that must have been OOM-killed by their own cgroup (and only those)' })),
  }, 'ground truth for the pod: the podVM\'s live XML, guest CPUs/MemTotal/cgroup files against an independent reference computed from the raw YAML, one live podVM per pod, capacity per host'),
  'host-power-cut': step('host-power-cut', { host: HostRef }, 'cut a host\'s power: every podVM on it stops at once; the host is NotReady and its pods are re-planned after evictAfter'),
  'host-return': step('host-return', { host: HostRef }, 'the host is back: its stale podVMs are fenced (never started again), then it is Ready'),
  'pod-delete': step('pod-delete', { pod: PodRef }, 'delete the pod: its podVM is destroyed and its capacity freed (Pending pods are scheduled then)'),
} as const;

export type ClusterStep = Static<typeof PODVM_STEP_SCHEMAS['podvm-cluster']>;
export type PodCreateStep = Static<typeof PODVM_STEP_SCHEMAS['pod-create']>;
export type WaitPodStep = Static<typeof PODVM_STEP_SCHEMAS['wait-pod']>;
export type CheckPodStep = Static<typeof PODVM_STEP_SCHEMAS['check-pod']>;
export type HostStep = Static<typeof PODVM_STEP_SCHEMAS['host-power-cut']>;
export type PodDeleteStep = Static<typeof PODVM_STEP_SCHEMAS['pod-delete']>;
