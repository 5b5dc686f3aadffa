// The placement controller (adaptive NUMA vCPU placement, US20160085571A1), run in the guest as
// `node placement.mjs <plan.json>`. Tenants (fth-numawl) arrive at their times; each is placed on
// the node the cost model (cost-model.ts) scores lowest given what is already there, its memory
// first-touched there and its thread pinned to that node's least loaded CPU. Every period it
// measures again — where each tenant's pages live (move_pages), node free memory (sysfs), CPU load
// — and re-places by rebalance(); memory follows the placement (migrate_pages home when more than
// 5 % of a tenant's pages live elsewhere). Decisions go to a status file; the harness judges the
// outcome on its own readings and the exact access counters. Imports: Node built-ins, src/numa.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isBroken } from '../shared/broken-sut.js';
import { rebalance, tenantCost, type PlacementState, type Placement } from './cost-model.js';
import { NumaHelper, startWorkload, type Workload } from './native-client.js';
import { parseNodeMeminfo } from './topology.js';
import type { PlacementPlan, PlacementStatus } from './placement-plan.js';

const PAGE = 4096;
/** Send a tenant's memory home when more than this share of its pages lives elsewhere. */
const HOME_THRESHOLD = 0.05;

interface Placed { wl: Workload; node: number; cpu: number; wssBytes: number }

async function main(): Promise<void> {
  const plan = JSON.parse(readFileSync(process.argv[2], 'utf8')) as PlacementPlan;
  const status: PlacementStatus = { pid: process.pid, startedAt: Date.now(), tenants: {}, decisions: [] };
  const save = () => { writeFileSync(`${plan.statusFile}.tmp`, JSON.stringify(status)); renameSync(`${plan.statusFile}.tmp`, plan.statusFile); };
  const helper = new NumaHelper(join(plan.nativeDir, 'fth-numa'));
  const placed = new Map<string, Placed>();
  try {
    const { pid: helperPid } = await helper.ping();
    await helper.affinityAll(process.pid, plan.controllerCpus);
    await helper.affinityAll(helperPid, plan.controllerCpus);
    await helper.sysctl('kernel.numa_balancing', '0'); // the controller is the only mover
    // The clock of the plan's times starts now, and the harness sees this file within a poll.
    status.startedAt = Date.now();
    save();
    const pending = [...plan.tenants].sort((a, b) => a.atMs - b.atMs);
    const t0 = status.startedAt;
    const stale = isBroken('numa', 'no-rebalance');
    while (Date.now() - t0 < plan.durationMs) {
      while (pending.length && Date.now() - t0 >= pending[0].atMs) {
        const t = pending.shift()!;
        await arrive(plan, helper, placed, status, t, await measure(plan, helper, placed));
        save();
      }
      if (!stale) {
        await watch(plan, helper, placed, status, await measure(plan, helper, placed));
        save();
      }
      await sleep(plan.periodMs);
    }
    status.done = true;
    save();
  } catch (e) {
    status.error = (e as Error).stack ?? String(e);
    save();
    throw e;
  } finally {
    await Promise.allSettled([...placed.values()].map((p) => p.wl.stop()));
    await helper.close();
  }
}

/** The model's view: node CPUs and free memory; each tenant's working set and resident pages. */
async function measure(plan: PlacementPlan, helper: NumaHelper, placed: Map<string, Placed>): Promise<{ state: PlacementState; placement: Placement }> {
  const nodes = plan.nodes.map((n) => ({
    cpus: n.cpus.length, foreignLoad: 0,
    freeBytes: parseNodeMeminfo(readFileSync(`/sys/devices/system/node/node${n.id}/meminfo`, 'utf8')).memFreeBytes,
  }));
  const tenants = [];
  const placement: Placement = {};
  for (const [name, p] of placed) {
    const st = await helper.query(p.wl.pid, p.wl.range());
    tenants.push({ name, wssBytes: p.wssBytes, cpuDemand: 1, residentBytes: plan.nodes.map((n) => st.filter((x) => x === n.id).length * PAGE) });
    placement[name] = p.node;
  }
  return { state: { nodes, L: plan.L, tenants }, placement };
}

/** The least loaded CPU of node position n (tenants pinned there). */
function cpuOn(plan: PlacementPlan, placed: Map<string, Placed>, n: number, except?: string): number {
  const load = (c: number) => [...placed].filter(([k, p]) => k !== except && p.cpu === c).length;
  return [...plan.nodes[n].cpus].sort((a, b) => load(a) - load(b) || a - b)[0];
}

async function arrive(plan: PlacementPlan, helper: NumaHelper, placed: Map<string, Placed>, status: PlacementStatus,
  t: PlacementPlan['tenants'][number], { state, placement }: { state: PlacementState; placement: Placement }): Promise<void> {
  const me = { name: t.name, wssBytes: t.wssMiB * 2 ** 20, residentBytes: plan.nodes.map(() => 0), cpuDemand: 1 };
  const load = plan.nodes.map((_, n) => state.tenants.filter((x) => placement[x.name] === n).length);
  const best = plan.nodes.map((_, n) => tenantCost(state, me, n, load[n])).filter((c) => c.feasible).sort((a, b) => a.score - b.score || a.node - b.node)[0];
  if (!best) throw new Error(`tenant ${t.name} (${t.wssMiB} MiB) fits no node`);
  const cpu = cpuOn(plan, placed, best.node);
  const w = plan.workload;
  const wl = await startWorkload({
    binary: join(plan.nativeDir, 'fth-numawl'), wssMiB: t.wssMiB, chunkPages: w.chunkPages, hotFraction: w.hotFraction, hotShare: w.hotShare,
    writeRatio: w.writeRatio, zipfInt: true, seed: plan.seed + placed.size, node: plan.nodes[best.node].id, threads: 1, reportMs: 1000,
    cpus: [cpu],
  });
  await helper.affinityAll(wl.pid, [cpu]);
  placed.set(t.name, { wl, node: best.node, cpu, wssBytes: me.wssBytes });
  status.tenants[t.name] = { pid: wl.pid, node: plan.nodes[best.node].id, cpu, startedAt: Date.now() };
  status.decisions.push({ t: Date.now(), kind: 'place', tenant: t.name, node: plan.nodes[best.node].id, cpu, score: best.score });
}

async function watch(plan: PlacementPlan, helper: NumaHelper, placed: Map<string, Placed>, status: PlacementStatus,
  { state, placement }: { state: PlacementState; placement: Placement }): Promise<void> {
  for (const m of rebalance(state, placement)) {
    const p = placed.get(m.tenant)!;
    p.node = m.to;
    p.cpu = cpuOn(plan, placed, m.to, m.tenant);
    await helper.affinityAll(p.wl.pid, [p.cpu]);
    status.tenants[m.tenant] = { ...status.tenants[m.tenant], node: plan.nodes[m.to].id, cpu: p.cpu };
    status.decisions.push({ t: Date.now(), kind: 'move', ...m, from: plan.nodes[m.from].id, to: plan.nodes[m.to].id });
  }
  // Memory follows the placement (after a move, or when something else moved it).
  for (const t of state.tenants) {
    const p = placed.get(t.name)!;
    const away = t.residentBytes.reduce((a, b, n) => (n === p.node ? a : a + b), 0) / PAGE;
    if (away <= HOME_THRESHOLD * (p.wssBytes / PAGE)) continue;
    const r = await helper.migrate(p.wl.pid, plan.nodes.filter((_, n) => n !== p.node).map((n) => n.id), [plan.nodes[p.node].id]);
    status.decisions.push({ t: Date.now(), kind: 'home', tenant: t.name, node: plan.nodes[p.node].id, pagesAway: away, notMoved: r.notMoved, ms: r.ms });
  }
}

main().catch((e) => {
  process.stderr.write(`placement: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
