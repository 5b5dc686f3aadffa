// The pod's effective requests and limits, by Kubernetes' rules (component-helpers
// resource/helpers.go PodRequests/PodLimits, 1.29+ with sidecars): per resource,
// max(Σ apps + Σ sidecars, max over init containers of (itself + the sidecars declared before
// it)), then + spec.overhead (requests always; limits only where a limit exists). Each result
// says which term won, for the explained plan.
import type { ContainerModel, PodModel, ResourceList, ResourceName } from './model.js';

export const RESOURCES: readonly ResourceName[] = ['cpu', 'memory'];

/** The scheduler's stand-ins for a container that requests nothing (scoring only):
 *  DefaultMilliCPURequest and DefaultMemoryRequest of pkg/scheduler/util. */
export const NON_ZERO_DEFAULT: Record<ResourceName, bigint> = { cpu: 100n, memory: 200n * 1024n * 1024n };

export interface Term {
  /** which side of the max won: the long-running containers, or one init container */
  term: 'containers' | 'init';
  /** the init container that set the value (term "init") */
  init?: string;
  /** containers summed into the winning term */
  of: string[];
}

export interface Aggregated {
  /** without overhead; a limit only for resources some container limits */
  values: ResourceList;
  why: Partial<Record<ResourceName, Term>>;
}

type Pick = (c: ContainerModel) => bigint | undefined;

function aggregate(pod: PodModel, pick: Record<ResourceName, Pick>): Aggregated {
  const values: ResourceList = {};
  const why: Aggregated['why'] = {};
  for (const r of RESOURCES) {
    const get = pick[r];
    let any = false;
    let long = 0n;
    const longOf: string[] = [];
    let init = 0n;
    let initTerm: Term | undefined;
    let sidecars = 0n;
    const sidecarsOf: string[] = [];
    for (const c of pod.containers) {
      const v = get(c);
      if (v !== undefined) any = true;
      if (c.kind === 'app' || c.kind === 'sidecar') {
        long += v ?? 0n;
        if (v !== undefined) longOf.push(c.name);
      }
      if (c.kind === 'app') continue;
      // An init container runs while the sidecars declared before it (and a sidecar itself) run.
      let use: bigint;
      let of: string[];
      if (c.kind === 'sidecar') {
        sidecars += v ?? 0n;
        if (v !== undefined) sidecarsOf.push(c.name);
        use = sidecars;
        of = [...sidecarsOf];
      } else {
        use = (v ?? 0n) + sidecars;
        of = [...(v !== undefined ? [c.name] : []), ...sidecarsOf];
      }
      if (use > init) { init = use; initTerm = { term: 'init', init: c.name, of }; }
    }
    if (!any) continue;
    // Ties go to the long-running term (max keeps the first): the usual reading of a pod.
    if (initTerm && init > long) { values[r] = init; why[r] = initTerm; } else { values[r] = long; why[r] = { term: 'containers', of: longOf }; }
  }
  return { values, why };
}

export interface Effective {
  /** PodRequests with overhead: what schedulers charge (exact, no defaults) */
  requests: Record<ResourceName, bigint>;
  /** the same without overhead (what runs inside the podVM) */
  requestsNoOverhead: Record<ResourceName, bigint>;
  /** PodRequests with the non-zero defaults per container, with overhead (scoring) */
  requestsNonZero: Record<ResourceName, bigint>;
  /** PodLimits without overhead (absent: no container limits it) */
  limits: ResourceList;
  /** true when every container (init, sidecar, app) declares a limit of it: only then does a pod
   *  cgroup get one (kubelet ResourceConfigForPod) */
  allLimited: Record<ResourceName, boolean>;
  /** true when every long-running container (apps, sidecars) declares a limit of it */
  longLimited: Record<ResourceName, boolean>;
  overhead: Record<ResourceName, bigint>;
  why: { requests: Aggregated['why']; limits: Aggregated['why'] };
}

const full = (l: ResourceList): Record<ResourceName, bigint> => ({ cpu: l.cpu ?? 0n, memory: l.memory ?? 0n });

export function effectiveResources(pod: PodModel): Effective {
  const req = aggregate(pod, { cpu: (c) => c.requests.cpu, memory: (c) => c.requests.memory });
  const nonZero = aggregate(pod, { cpu: (c) => c.requests.cpu ?? NON_ZERO_DEFAULT.cpu, memory: (c) => c.requests.memory ?? NON_ZERO_DEFAULT.memory });
  const lim = aggregate(pod, { cpu: (c) => c.limits.cpu, memory: (c) => c.limits.memory });
  const overhead = full(pod.overhead);
  const plus = (a: Record<ResourceName, bigint>) => ({ cpu: a.cpu + overhead.cpu, memory: a.memory + overhead.memory });
  const every = (cs: ContainerModel[], r: ResourceName) => cs.length > 0 && cs.every((c) => c.limits[r] !== undefined);
  const long = pod.containers.filter((c) => c.kind !== 'init');
  return {
    requests: plus(full(req.values)),
    requestsNoOverhead: full(req.values),
    requestsNonZero: plus(full(nonZero.values)),
    limits: lim.values,
    allLimited: { cpu: every(pod.containers, 'cpu'), memory: every(pod.containers, 'memory') },
    longLimited: { cpu: every(long, 'cpu'), memory: every(long, 'memory') },
    overhead,
    why: { requests: req.why, limits: lim.why },
  };
}

/** "init container "migrate" (+ sidecar log)" / "containers app, log" */
export function describeTerm(t: Term | undefined): string {
  if (!t) return 'nothing declared';
  if (t.term === 'init') {
    const others = t.of.filter((n) => n !== t.init);
    return `init container "${t.init}"${others.length ? ` + sidecar${others.length > 1 ? 's' : ''} ${others.join(', ')} declared before it` : ''}`;
  }
  return t.of.length ? `Σ app containers and sidecars (${t.of.join(', ')})` : 'Σ app containers and sidecars (none declare it)';
}
