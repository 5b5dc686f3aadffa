// Judges of the placement controller, pure functions of the harness's own readings (the guest's
// /proc and sysfs, read through the agent) and of the exact access counters.
import type { CheckResult } from '../../results/types.js';
import { DEFAULT_COST, oracle, regret, type PlacementState } from '../cost-model.js';
import { timeToFraction } from '../locality.js';

/** A reading of where things are: per tenant its CPUs (affinity) and pages per node (numa_maps). */
export interface PlacementReading {
  label: string;
  /** node ids and the tenant CPUs on each; L by node position */
  nodes: { id: number; cpus: number[]; freeBytes: number }[];
  L: number[][];
  tenants: { name: string; wssBytes: number; cpus: number[]; pagesOnNode: Record<string, number> }[];
}

const nodeOfCpus = (r: PlacementReading, cpus: number[]) => {
  const ns = r.nodes.filter((n) => cpus.some((c) => n.cpus.includes(c)));
  return ns.length === 1 ? r.nodes.indexOf(ns[0]) : -1;
};

/** The placement the harness read is the cost model's optimum over the state it read (exhaustive
 *  oracle), each tenant pinned inside one node, ≥ 95 % of its pages there. */
export function judgePlacementOptimal(r: PlacementReading): CheckResult {
  const name = `tenants placed as the cost model's oracle would (${r.label})`;
  const problems: string[] = [];
  const placement: Record<string, number> = {};
  for (const t of r.tenants) {
    const n = nodeOfCpus(r, t.cpus);
    if (n < 0) { problems.push(`${t.name} may run on CPUs ${t.cpus.join(',')}, not inside one node`); continue; }
    placement[t.name] = n;
    const all = Object.values(t.pagesOnNode).reduce((a, b) => a + b, 0);
    const home = t.pagesOnNode[String(r.nodes[n].id)] ?? 0;
    if (!all || home / all < 0.95) problems.push(`${t.name} runs on node ${r.nodes[n].id} with ${home} of its ${all} pages there`);
  }
  if (problems.length) return { name, valid: false, message: problems.join('; ') };
  const state: PlacementState = {
    nodes: r.nodes.map((n) => ({ cpus: n.cpus.length, freeBytes: n.freeBytes, foreignLoad: 0 })), L: r.L,
    // The state as it would be before anyone moved: resident nowhere yet (pure placement question).
    tenants: r.tenants.map((t) => ({ name: t.name, wssBytes: t.wssBytes, cpuDemand: 1, residentBytes: r.nodes.map(() => 0) })),
  };
  // free memory as read includes the tenants' own pages: give them back for the question
  for (const t of r.tenants) state.nodes[placement[t.name]].freeBytes += t.wssBytes;
  const best = oracle(state, DEFAULT_COST);
  const g = regret(state, placement, DEFAULT_COST);
  const show = (p: Record<string, number>) => Object.entries(p).map(([k, v]) => `${k}→${r.nodes[v].id}`).join(' ');
  return { name, valid: g <= 1e-9, message: `placement ${show(placement)}, oracle ${show(best.placement)}, regret ${g.toFixed(4)}` };
}

export interface LocalityWindow { tenant: string; cpu: number; intervals: { t: number; local: number; remote: number }[] }
export interface TenantLocalityEvidence { label: string; target: number; windows: LocalityWindow[] }

/** Each tenant, once settled, made ≥ target of its (exact, user) accesses to its own node. */
export function judgeTenantLocal(e: TenantLocalityEvidence): CheckResult {
  const name = `each tenant's accesses are local once placed (${e.label})`;
  const lines = e.windows.map((w) => {
    const local = w.intervals.reduce((a, x) => a + x.local, 0), all = w.intervals.reduce((a, x) => a + x.local + x.remote, 0);
    return { w, f: all ? local / all : null };
  });
  const bad = lines.filter((x) => x.f === null || x.f < e.target);
  return {
    name, valid: lines.length > 0 && !bad.length,
    message: lines.map((x) => `${x.w.tenant} (vCPU ${x.w.cpu}): ${x.f === null ? 'no accesses' : `${(x.f * 100).toFixed(1)} % local`}`).join('; ') || 'no tenant window',
  };
}

export interface RestoreEvidence {
  label: string; tenant: string; withinMs: number; target: number;
  /** ms after the fault started (t = 0) that the harness's move returned */
  faultEndMs: number;
  intervals: { t: number; local: number; remote: number }[];
}

/** After the harness started moving a tenant's memory away (t = 0), its locality fell below the
 *  target (else the fault proved nothing) and the controller made it local again — sustained at
 *  the target — within the deadline, counted from the end of the move: how long the move itself
 *  takes is the harness's (5-12 s under TCG here), not the controller's. */
export function restoreTime(e: RestoreEvidence): { drop: number; t: number | null; worst: number } | undefined {
  const iv = e.intervals.map((x) => ({ ...x, fraction: x.local + x.remote ? x.local / (x.local + x.remote) : null }));
  const drop = iv.findIndex((x) => x.fraction !== null && x.fraction < e.target);
  if (drop < 0) return undefined;
  const from = Math.max(iv[drop].t, e.faultEndMs);
  const back = timeToFraction(iv, from, e.target, 2);
  return { drop: iv[drop].t, t: back === null ? null : from + back - e.faultEndMs, worst: Math.min(...iv.map((x) => x.fraction ?? 1)) };
}

export function judgeRestores(e: RestoreEvidence): CheckResult {
  const name = `the controller restores ${e.tenant}'s locality within ${e.withinMs} ms after its memory was moved (${e.label})`;
  const r = restoreTime(e);
  if (!r) return { name, valid: 'unknown', message: `the move never made ${e.tenant}'s accesses less than ${e.target * 100} % local: nothing to judge` };
  return {
    name, valid: r.t !== null && r.t <= e.withinMs,
    message: `below ${e.target * 100} % local from ${r.drop} ms (lowest ${(r.worst * 100).toFixed(1)} %); the move took ${e.faultEndMs} ms; ` +
      `${r.t === null ? 'never' : `${r.t} ms after it`} ${e.target * 100} % local again`,
  };
}
