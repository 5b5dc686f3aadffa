// The checker's own reference: what a pod's podVM and cgroups must be, computed again from the raw
// manifest with a second, table-driven implementation of the rules (Kubernetes' aggregation,
// kubelet's conversions, the fth sizing rule). It shares only the quantity parser with the
// planner, never the planner's results.
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { milliValue, parseQuantity, value } from '../quantity.js';

type R = 'cpu' | 'memory';
const RS: R[] = ['cpu', 'memory'];
const MiB = 1048576n;

function q(c: Container, kind: 'requests' | 'limits', r: R): bigint | undefined {
  let v = c.resources?.[kind]?.[r] as string | number | undefined;
  // API-server defaulting: a limit without a request is the request
  if (v === undefined && kind === 'requests') v = c.resources?.limits?.[r] as string | number | undefined;
  if (v === undefined) return undefined;
  const x = parseQuantity(v);
  return r === 'cpu' ? milliValue(x) : value(x);
}

export interface Reference {
  requests: Record<R, bigint>;
  limits: Record<R, bigint | undefined>;
  allLimited: Record<R, boolean>;
  vcpus: number;
  memoryMiB: number;
  /** per container: cgroup v2 file contents kubelet's formulas give */
  containers: Record<string, { cpuMax: string; cpuWeight: string; memoryMax: string }>;
  pod: { cpuMax: string; cpuWeight: string; memoryMax: string };
}

/** One row per init container and one for the long-running sum: the pod value is the largest row. */
function rows(pod: Pod, get: (c: Container) => bigint | undefined): bigint | undefined {
  const inits = pod.spec?.initContainers ?? [];
  const apps = pod.spec?.containers ?? [];
  const all = [...inits, ...apps];
  if (all.every((c) => get(c) === undefined)) return undefined;
  const table: bigint[] = [];
  let sidecarSum = 0n;
  for (const c of inits) {
    const v = get(c) ?? 0n;
    if (c.restartPolicy === 'Always') { sidecarSum += v; table.push(sidecarSum); } else table.push(v + sidecarSum);
  }
  table.push(apps.reduce((a, c) => a + (get(c) ?? 0n), 0n) + sidecarSum);
  return table.reduce((a, b) => (b > a ? b : a));
}

const shares = (m: bigint) => { const s = m === 0n ? 2n : (m * 1024n) / 1000n; return s < 2n ? 2n : s > 262144n ? 262144n : s; };
const weight = (s: bigint) => `${((s - 2n) * 9999n) / 262142n + 1n}`;
const quota = (m: bigint) => { const x = (m * 100000n) / 1000n; return x < 1000n ? 1000n : x; };
/** the kernel keeps memory.max in whole pages (rounded down) */
const page = (b: bigint) => (b / 4096n) * 4096n;
const cpuMax = (m: bigint | undefined) => (m === undefined ? 'max 100000' : `${quota(m)} 100000`);

export function reference(pod: Pod, o: { guestReserveMiB: number; defaultMemoryMiB: number; alignMiB: number }): Reference {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  const over = (r: R) => { const v = pod.spec?.overhead?.[r] as string | number | undefined; return v === undefined ? 0n : r === 'cpu' ? milliValue(parseQuantity(v)) : value(parseQuantity(v)); };
  const req = {} as Record<R, bigint>;
  const reqNoOver = {} as Record<R, bigint>;
  const lim = {} as Record<R, bigint | undefined>;
  const allLimited = {} as Record<R, boolean>;
  for (const r of RS) {
    reqNoOver[r] = rows(pod, (c) => q(c, 'requests', r)) ?? 0n;
    req[r] = reqNoOver[r] + over(r);
    lim[r] = rows(pod, (c) => q(c, 'limits', r));
    allLimited[r] = all.every((c) => q(c, 'limits', r) !== undefined);
  }
  const biggest = (r: R) => all.reduce((m, c) => { const v = q(c, 'limits', r) ?? 0n; return v > m ? v : m; }, 0n);
  const max = (...xs: bigint[]) => xs.reduce((a, b) => (b > a ? b : a));
  const cpuBasis = allLimited.cpu ? lim.cpu! : max(reqNoOver.cpu, biggest('cpu'));
  const memBasis = allLimited.memory ? lim.memory! : max(reqNoOver.memory, biggest('memory'), BigInt(o.defaultMemoryMiB) * MiB);
  const vcpus = Math.max(1, Number((cpuBasis + 999n) / 1000n));
  const memoryMiB = Math.ceil((Number((memBasis + MiB - 1n) / MiB) + o.guestReserveMiB) / o.alignMiB) * o.alignMiB;
  const containers: Reference['containers'] = {};
  for (const c of all) {
    const l = c.resources?.limits;
    const lc = l?.cpu === undefined ? undefined : milliValue(parseQuantity(l.cpu as string | number));
    const lm = l?.memory === undefined ? undefined : value(parseQuantity(l.memory as string | number));
    containers[c.name] = { cpuMax: cpuMax(lc), cpuWeight: weight(shares(q(c, 'requests', 'cpu') ?? 0n)), memoryMax: lm === undefined ? 'max' : `${page(lm)}` };
  }
  return {
    requests: req, limits: lim, allLimited, vcpus, memoryMiB, containers,
    pod: { cpuMax: allLimited.cpu ? cpuMax(lim.cpu) : 'max 100000', cpuWeight: weight(shares(reqNoOver.cpu)), memoryMax: allLimited.memory ? `${page(lim.memory!)}` : 'max' },
  };
}
