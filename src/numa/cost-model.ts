// THE placement cost model (adaptive NUMA vCPU placement, US20160085571A1 / US10776151): for each
// tenant ("vCPU": a workload's threads) pick the node from the expected memory-access latency
// between that node's CPUs and where the tenant's memory lives, weighted by its working-set
// size; keep watching and re-place when load, memory location or the working set change.
//
// For tenant p on candidate node n (L = latency matrix: HMAT ns, else SLIT, see topology.ts):
//   memcost(p,n)  = f(wss_p) · Σ_j res_p[j]·L[n][j] / Σ_j res_p[j] / L[n][n]
//                   expected latency per access relative to local; f(w) = w / (w + llc) discounts
//                   working sets a last-level cache would mostly hold (default llc 32 MiB).
//                   A tenant with nothing resident yet costs f(wss)·1 everywhere (first touch is local).
//   cpucost(p,n)  = max(0, load_n + demand_p − cpus_n) / cpus_n  — overcommit of the node's CPUs
//   movecost(p,n) = bytes resident off n / migrationBytesPerS  (seconds of copying that follow)
//   score = α·memcost + β·cpucost + γ·movecost   (defaults α=1, β=2, γ=0.5)
// Feasible only if wss_p ≤ free_n + res_p[n]. placeAll is greedy, largest working set first;
// oracle() searches every assignment (≤ 4 nodes, ≤ 6 tenants) for the least total score.
// rebalance() moves a tenant only when its score on the best node is lower than on its current
// node by more than the hysteresis h (relative, default 10 %, cf. ESXi Numa.MigImbalanceThreshold),
// one move per tenant per call, each with the reason.

export interface Tenant {
  name: string;
  wssBytes: number;
  /** resident bytes per node, by node position */
  residentBytes: number[];
  /** CPU demand in CPUs (threads × busy fraction) */
  cpuDemand: number;
}

export interface PlacementState {
  /** node CPUs and free memory, by node position */
  nodes: { cpus: number; freeBytes: number; foreignLoad: number }[];
  L: number[][];
  tenants: Tenant[];
}

export interface CostOpts { alpha: number; beta: number; gamma: number; llcBytes: number; migrationBytesPerS: number; hysteresis: number }
export const DEFAULT_COST: CostOpts = { alpha: 1, beta: 2, gamma: 0.5, llcBytes: 32 * 2 ** 20, migrationBytesPerS: 256 * 2 ** 20, hysteresis: 0.1 };

export interface Cost { node: number; mem: number; cpu: number; move: number; score: number; feasible: boolean }
export type Placement = Record<string, number>;

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Cost of tenant p on node n, given the CPU load already on n from others. */
export function tenantCost(s: PlacementState, p: Tenant, n: number, loadOnN: number, o: CostOpts = DEFAULT_COST): Cost {
  const res = sum(p.residentBytes);
  const f = p.wssBytes / (p.wssBytes + o.llcBytes);
  const local = s.L[n][n];
  const mem = f * (res > 0 ? sum(p.residentBytes.map((b, j) => b * s.L[n][j])) / res / local : 1);
  const node = s.nodes[n];
  const cpu = Math.max(0, loadOnN + p.cpuDemand - node.cpus) / node.cpus;
  const move = (res - (p.residentBytes[n] ?? 0)) / o.migrationBytesPerS;
  const feasible = p.wssBytes <= node.freeBytes + (p.residentBytes[n] ?? 0);
  return { node: n, mem, cpu, move, score: o.alpha * mem + o.beta * cpu + o.gamma * move, feasible };
}

function loads(s: PlacementState, pl: Placement, except?: string): number[] {
  const l = s.nodes.map((n) => n.foreignLoad);
  for (const t of s.tenants) if (t.name !== except && pl[t.name] !== undefined) l[pl[t.name]] += t.cpuDemand;
  return l;
}

export interface PlacementResult { placement: Placement; costs: Record<string, Cost>; total: number }

function evaluate(s: PlacementState, pl: Placement, o: CostOpts): PlacementResult | undefined {
  const costs: Record<string, Cost> = {};
  let total = 0;
  // Memory: tenants placed on a node must fit together in what is free there plus what they hold.
  const need = s.nodes.map(() => 0);
  for (const t of s.tenants) need[pl[t.name]] += t.wssBytes - (t.residentBytes[pl[t.name]] ?? 0);
  if (need.some((b, n) => b > s.nodes[n].freeBytes)) return undefined;
  for (const t of s.tenants) {
    const c = tenantCost(s, t, pl[t.name], loads(s, pl, t.name)[pl[t.name]], o);
    if (!c.feasible) return undefined;
    costs[t.name] = c;
    total += c.score;
  }
  return { placement: pl, costs, total };
}

/** Greedy: largest working set first, each to its cheapest feasible node given those before. */
export function placeAll(s: PlacementState, o: CostOpts = DEFAULT_COST): PlacementResult {
  const pl: Placement = {};
  const free = s.nodes.map((n) => n.freeBytes);
  const order = [...s.tenants].sort((a, b) => b.wssBytes - a.wssBytes || a.name.localeCompare(b.name));
  for (const t of order) {
    const l = loads(s, pl, t.name);
    const cands = s.nodes.map((_, n) => tenantCost({ ...s, nodes: s.nodes.map((x, i) => ({ ...x, freeBytes: free[i] })) }, t, n, l[n], o))
      .filter((c) => c.feasible).sort((a, b) => a.score - b.score || a.node - b.node);
    if (!cands.length) throw new Error(`tenant ${t.name}: its working set (${t.wssBytes} B) fits no node`);
    pl[t.name] = cands[0].node;
    free[cands[0].node] -= t.wssBytes - (t.residentBytes[cands[0].node] ?? 0);
  }
  return evaluate(s, pl, o) ?? (() => { throw new Error('greedy placement is infeasible'); })();
}

/** Exhaustive search: the least total score over every assignment. */
export function oracle(s: PlacementState, o: CostOpts = DEFAULT_COST): PlacementResult {
  const N = s.nodes.length, T = s.tenants.length;
  if (N > 4 || T > 6) throw new Error(`oracle: ${N} nodes × ${T} tenants is beyond exhaustive search (≤ 4 nodes, ≤ 6 tenants)`);
  let best: PlacementResult | undefined;
  for (let k = 0; k < N ** T; k++) {
    const pl: Placement = {};
    let x = k;
    for (const t of s.tenants) { pl[t.name] = x % N; x = Math.floor(x / N); }
    const r = evaluate(s, pl, o);
    if (r && (!best || r.total < best.total - 1e-12)) best = r;
  }
  if (!best) throw new Error('oracle: no feasible placement');
  return best;
}

/** Extra total cost of a placement over the oracle's (0 = optimal). */
export function regret(s: PlacementState, pl: Placement, o: CostOpts = DEFAULT_COST): number {
  const r = evaluate(s, pl, o);
  if (!r) return Infinity;
  return r.total - oracle(s, o).total;
}

export interface Move { tenant: string; from: number; to: number; gain: number; reason: string }

/** One rebalancing pass over the current placement (see the header for the rule). */
export function rebalance(s: PlacementState, current: Placement, o: CostOpts = DEFAULT_COST): Move[] {
  const pl = { ...current };
  const moves: Move[] = [];
  for (const t of s.tenants) {
    const from = pl[t.name];
    if (from === undefined) continue;
    const l = loads(s, pl, t.name);
    const here = tenantCost(s, t, from, l[from], o);
    const best = s.nodes.map((_, n) => tenantCost(s, t, n, l[n], o)).filter((c) => c.feasible)
      .sort((a, b) => a.score - b.score || a.node - b.node)[0];
    if (!best || best.node === from) continue;
    const gain = here.score > 0 ? (here.score - best.score) / here.score : 0;
    if (gain <= o.hysteresis && here.feasible) continue;
    const reason = !here.feasible ? `working set grew beyond node ${from}'s free memory`
      : here.cpu > best.cpu ? `CPU load on node ${from} (overcommit ${here.cpu.toFixed(2)})`
      : here.mem > best.mem ? `memory lives on node ${best.node}` : 'lower total cost';
    moves.push({ tenant: t.name, from, to: best.node, gain, reason });
    pl[t.name] = best.node;
  }
  return moves;
}
