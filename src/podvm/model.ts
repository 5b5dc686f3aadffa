// A validated pod, as the planner and the schedulers use it: resources parsed exactly (CPU in
// millicores, memory in bytes, both bigint), containers in declared order with their kind.
// Built from a real v1 Pod manifest by pod.ts; the raw manifest is kept for the checker's
// independent reference, which re-reads it rather than trusting this model.
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { ContainerKind } from './run-plan.js';

export type ResourceName = 'cpu' | 'memory';
/** cpu: millicores; memory: bytes. Absent = not declared. */
export type ResourceList = Partial<Record<ResourceName, bigint>>;

export interface ContainerModel {
  name: string;
  kind: ContainerKind;
  image: string;
  command: string[];
  env: Record<string, string>;
  /** after defaulting: a container with a limit but no request gets request = limit */
  requests: ResourceList;
  limits: ResourceList;
}

export interface PodModel {
  /** file the manifest came from (for error messages) */
  file: string;
  name: string;
  namespace: string;
  /** metadata.uid, or a UUID derived from namespace/name when the manifest has none */
  uid: string;
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  nodeSelector: Record<string, string>;
  /** spec.overhead (RuntimeClass podFixed), added to requests and to non-zero limits */
  overhead: ResourceList;
  /** init containers (sidecars among them), then app containers, each in declared order */
  containers: ContainerModel[];
  qosClass: 'Guaranteed' | 'Burstable' | 'BestEffort';
  raw: Pod;
}

/** One validation problem, as the API server words it: "spec.containers[1].resources.limits.cpu: …". */
export interface FieldError { path: string; message: string }
