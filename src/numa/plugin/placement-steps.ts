// numa-placement on the host: arm the access counter, start the guest's placement controller,
// move one tenant's memory behind its back when the scenario says (the fault), and read the
// ground truth itself: each tenant's CPUs and pages per node from the guest's /proc, node free
// memory and distances from its sysfs, each tenant's locality from the exact counters.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { brokenEnv } from '../../shared/broken-sut.js';
import { sizeBytes } from '../../shared/size.js';
import { addCheck, addMetric, type RunContext } from '../../runner/context.js';
import { controlDir } from '../../runner/plan.js';
import { SutDeadline } from '../../runner/outcomes.js';
import { guestProgram } from '../../sut/guest.js';
import { metricName } from '../../results/conventions.js';
import { GUEST_NATIVE_DIR } from '../native-client.js';
import { parseCpuList, parseDistance, parseNodeMeminfo } from '../topology.js';
import { intervalLocality } from '../locality.js';
import type { PlacementPlan, PlacementStatus } from '../placement-plan.js';
import { armAccessCounter, readSeries, type SeriesPoint } from './counters.js';
import { COUNTER_KIND, counterFiles } from './counter-vm.js';
import { restoreTime, type LocalityWindow, type PlacementReading, type RestoreEvidence, type TenantLocalityEvidence } from './placement-judge.js';
import type { PlacementStep } from './schema.js';
import { NUMA } from './steps.js';

const STATUS = 'numa-placement-status.json';
const GUEST_LOG = '/tmp/numa-placement.log';
const TARGET = 0.9;
/** The harness's own commands run on the controller's vCPU: on a tenant's, their accesses would
 *  count as that tenant's. */
const off = (s: PlacementStep) => `taskset -c ${s.controllerCpu}`;

export async function numaPlacement(ctx: RunContext, s: PlacementStep): Promise<void> {
  const spec = ctx.specs.get(s.vm)!;
  const cells = spec.numa!.cells;
  const files = counterFiles(ctx.lab.workDir, ctx.dir, s.vm);
  const agent = ctx.lab.vm(s.vm).agent;
  ctx.dimensions.counter = COUNTER_KIND;
  await ctx.history.op(s.vm, 'arm-access-counter', {}, () => armAccessCounter(spec.name, files.map, cells.map((c) => ({ id: c.id, memoryMiB: c.memoryMiB })), []));
  // The guest's distances as it sees them (sysfs): the model's latency matrix.
  const nodes = cells.map((c) => ({ id: c.id, cpus: c.cpus.filter((x) => x !== s.controllerCpu) })).filter((n) => n.cpus.length);
  const L = await Promise.all(nodes.map(async (n) => {
    const row = parseDistance(await agent.sh(`cat /sys/devices/system/node/node${n.id}/distance`));
    return nodes.map((m) => row[m.id]);
  }));
  const plan: PlacementPlan = {
    nativeDir: GUEST_NATIVE_DIR, statusFile: `/run/fthctl/${STATUS}`, seed: ctx.seed, nodes, L, controllerCpus: [s.controllerCpu],
    tenants: s.tenants.map((t) => ({ name: t.name, wssMiB: sizeBytes(t.wss) / 2 ** 20, atMs: t.at })),
    periodMs: s.period ?? 500, durationMs: s.duration,
    workload: { hotFraction: 0.1, hotShare: 0.95, writeRatio: 0.5, chunkPages: 16 },
  };
  // The counters are per vCPU: whatever else runs on a tenant's vCPU (the guest agent, a shell)
  // would count as that tenant's. Every user process there now goes to the controller's vCPU;
  // what they start later inherits it. (Kernel threads have no exe and are left alone.)
  const isolated = await ctx.history.op(s.vm, 'isolate-tenant-cpus', { to: s.controllerCpu }, async () => {
    const out = await agent.sh(`${off(s)} sh -c 'n=0; for d in /proc/[0-9]*; do [ -e $d/exe ] && taskset -apc ${s.controllerCpu} \${d#/proc/} >/dev/null 2>&1 && n=$((n+1)); done; echo $n'`);
    return { processes: Number(out.trim()) };
  });
  ctx.log(`numa ${s.vm}: ${isolated.processes} user processes moved to vCPU ${s.controllerCpu}, off the tenants' vCPUs`);
  await mkdir(join(ctx.lab.shareDir, 'numa'), { recursive: true });
  await writeFile(join(ctx.lab.shareDir, 'numa', `${s.vm}.placement.json`), JSON.stringify(plan, null, 2));
  await writeFile(join(ctx.dir, `${s.vm}.placement-plan.json`), JSON.stringify(plan, null, 2));
  await ctx.history.op(s.vm, 'numa-placement', { tenants: plan.tenants.map((t) => t.name) }, () =>
    agent.spawn(`node ${guestProgram(NUMA, 'placement')} /opt/fthrun/numa/${s.vm}.placement.json`, GUEST_LOG, brokenEnv()));

  const statusFile = join(controlDir(ctx.lab, s.vm), STATUS);
  const read = async () => { try { return JSON.parse(await readFile(statusFile, 'utf8')) as PlacementStatus; } catch { return undefined; } };
  let st: PlacementStatus | undefined;
  const deadline = Date.now() + s.duration + 120_000;
  let hostStart: number | undefined;
  const arrivals = new Map<string, number>();
  let moved: { at: number; cpu: number; ms: number } | undefined;
  let beforeMove: PlacementReading | undefined;
  for (;;) {
    ctx.signal.throwIfAborted();
    st = await read();
    if (st && hostStart === undefined) hostStart = Date.now();
    if (st?.error) throw new Error(`the placement controller in ${s.vm} failed: ${st.error.split('\n')[0]}`);
    for (const name of Object.keys(st?.tenants ?? {})) {
      if (!arrivals.has(name)) { arrivals.set(name, Date.now()); ctx.log(`numa ${s.vm}: tenant ${name} placed on node ${st!.tenants[name].node} (vCPU ${st!.tenants[name].cpu})`); }
    }
    const mm = s.moveMemory;
    // (times of the plan are from the controller's start, which it announces by this file)
    if (mm && !moved && hostStart !== undefined && Date.now() - hostStart >= mm.at && st?.tenants[mm.tenant]) {
      beforeMove = await reading(ctx, s, nodes, L, st);
      const t = st.tenants[mm.tenant];
      // The fault: migrate_pages of the tenant to another node, behind the controller's back.
      const req = JSON.stringify({ op: 'migrate', pid: t.pid, from: cells.filter((c) => c.id !== mm.to).map((c) => c.id), to: [mm.to] });
      ctx.history.add('invoke', 'nemesis', 'move-memory', { tenant: mm.tenant, to: mm.to });
      // Its start is the fault's time: the controller may pull pages home while it still runs.
      moved = { at: Date.now(), cpu: t.cpu, ms: 0 };
      const out = await agent.sh(`echo '${req}' | ${off(s)} ${GUEST_NATIVE_DIR}/fth-numa`);
      moved.ms = Date.now() - moved.at;
      ctx.history.add('ok', 'nemesis', 'move-memory', { tenant: mm.tenant, to: mm.to, reply: out.trim().slice(0, 200) });
      ctx.log(`numa ${s.vm}: moved ${mm.tenant}'s memory to node ${mm.to}`);
    }
    if (st?.done) break;
    if (Date.now() > deadline) throw new SutDeadline(`the placement controller in ${s.vm} ends`, `not done ${s.duration + 120_000} ms after it started`, { status: st ?? null });
    await sleep(200);
  }
  await writeFile(join(ctx.dir, `${s.vm}.placement-status.json`), JSON.stringify(st, null, 2));
  await sleep(300);
  const series = await readSeries(files.series);
  const vcpuNode: number[] = [];
  for (const c of cells) for (const v of c.cpus) vcpuNode[v] = c.id;
  const window = (cpu: number, from: number, to: number) => intervalLocality(series.filter((x) => x.t >= from && x.t <= to), vcpuNode, { vcpus: [cpu] })
    .map((x) => ({ t: x.t, local: x.local, remote: x.remote }));

  if (beforeMove) addCheck(ctx, await ctx.evidence.judge(`${NUMA}/placement-optimal`, beforeMove));
  // Settled locality: from each arrival + settle until the memory move (or the end).
  const settle = s.settle ?? 3000;
  const end = moved?.at ?? series.at(-1)?.t ?? Date.now();
  const windows: LocalityWindow[] = Object.entries(st!.tenants).map(([name, t]) => ({ tenant: name, cpu: t.cpu, intervals: window(t.cpu, arrivals.get(name)! + settle, end) }));
  addCheck(ctx, await ctx.evidence.judge(`${NUMA}/tenant-local`, { label: s.vm, target: TARGET, windows } satisfies TenantLocalityEvidence));
  record(ctx, windows, series, vcpuNode);
  if (s.moveMemory && moved) {
    const iv = window(moved.cpu, moved.at, series.at(-1)!.t).map((x) => ({ ...x, t: Math.round(x.t - moved!.at) }));
    const e: RestoreEvidence = { label: s.vm, tenant: s.moveMemory.tenant, withinMs: s.within ?? 8000, target: TARGET, faultEndMs: moved.ms, intervals: iv };
    addCheck(ctx, await ctx.evidence.judge(`${NUMA}/restores-locality`, e));
    addMetric(ctx, 'numa_move_ms', 'ms', moved.ms, `the harness's move of the tenant's memory (migrate_pages in the guest, host wall clock; accel ${ctx.dimensions.accel})`);
    const r = restoreTime(e);
    if (r?.t != null) addMetric(ctx, 'numa_restore_ms', 'ms', r.t, `the harness's move of the tenant's memory ends → it is 90 % local again (${COUNTER_KIND}, emulated topology)`);
  }
  for (const d of st!.decisions) if (d.kind !== 'place') ctx.history.add('info', s.vm, `numa-${d.kind}`, d as unknown as Record<string, unknown>);
}

/** The harness's own reading, through the agent: each tenant's allowed CPUs and pages per node
 *  (/proc/PID/status, /proc/PID/numa_maps), each node's free memory (sysfs). */
async function reading(ctx: RunContext, s: PlacementStep, nodes: PlacementPlan['nodes'], L: number[][], st: PlacementStatus): Promise<PlacementReading> {
  const agent = ctx.lab.vm(s.vm).agent;
  const tenants: PlacementReading['tenants'] = [];
  for (const [name, t] of Object.entries(st.tenants)) {
    const out = await agent.sh(`${off(s)} sh -c 'grep Cpus_allowed_list /proc/${t.pid}/status; cat /proc/${t.pid}/numa_maps'`);
    const cpus = parseCpuList(/Cpus_allowed_list:\s*(\S+)/.exec(out)?.[1] ?? '');
    const pagesOnNode: Record<string, number> = {};
    for (const m of out.matchAll(/ N(\d+)=(\d+)/g)) pagesOnNode[m[1]] = (pagesOnNode[m[1]] ?? 0) + Number(m[2]);
    tenants.push({ name, wssBytes: sizeBytes(s.tenants.find((x) => x.name === name)!.wss), cpus, pagesOnNode });
  }
  const free = await Promise.all(nodes.map(async (n) => parseNodeMeminfo(await agent.sh(`${off(s)} cat /sys/devices/system/node/node${n.id}/meminfo`)).memFreeBytes));
  return { label: s.vm, nodes: nodes.map((n, i) => ({ ...n, freeBytes: free[i] })), L, tenants };
}

function record(ctx: RunContext, windows: LocalityWindow[], series: SeriesPoint[], vcpuNode: number[]): void {
  // Each tenant's locality over the whole run, t = ms since the run started.
  const t0 = ctx.history.t0;
  for (const w of windows) {
    const iv = intervalLocality(series, vcpuNode, { vcpus: [w.cpu] }).filter((x) => x.local + x.remote > 0);
    const name = metricName('numa_local_fraction', { tenant: w.tenant });
    ctx.metrics[name] = { unit: 'fraction', values: iv.map((x) => x.local / (x.local + x.remote)), t: iv.map((x) => Math.round(x.t - t0)), description: `vCPU ${w.cpu}: local share of user accesses (${COUNTER_KIND}, emulated topology)` };
  }
}
