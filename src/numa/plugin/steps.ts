// numa-hot-migration on the host: arm the access counter, hand the guest program its plan, follow
// its progress (stamping each event with this host's clock, snapshotting the per-page counters
// around the warm-up), then read the counter series and judge every policy on it.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { brokenEnv } from '../../shared/broken-sut.js';
import { sizeBytes } from '../../shared/size.js';
import { addCheck, addMetric, type RunContext } from '../../runner/context.js';
import { controlDir } from '../../runner/plan.js';
import { guestProgram } from '../../sut/guest.js';
import { metricName } from '../../results/conventions.js';
import { armAccessCounter, readCounters, readSeries, type SeriesPoint } from './counters.js';
import { detectArrival, intervalLocality } from '../locality.js';
import { exactTop } from '../hotness.js';
import { GUEST_NATIVE_DIR } from '../native-client.js';
import type { HotMigrationPlan, HotMigrationStatus, PolicyName, PolicyResult } from '../hot-migration-plan.js';
import { COUNTER_KIND, counterFiles } from './counter-vm.js';
import { finalLocality, SERVED_MS, servedWithin, t90, type HotMigrationEvidence, type PolicyEvidence } from './judge.js';
import type { HotMigrationStep } from './schema.js';

export const NUMA = 'numa';
const STATUS = 'numa-status.json';
const GUEST_LOG = '/tmp/numa-hot-migration.log';
const ARMED = 'counter-armed';
const CALIBRATE_MS = 3000;
/** The guest program's own start (node under TCG) and each workload's set-up, generously. */
const SLACK_MS = 90_000;

export async function numaHotMigration(ctx: RunContext, s: HotMigrationStep): Promise<void> {
  const spec = ctx.specs.get(s.vm)!;
  const cells = spec.numa!.cells;
  const files = counterFiles(ctx.lab.workDir, ctx.dir, s.vm);
  ctx.dimensions.counter = COUNTER_KIND;
  // Armed only here, after the guest program measured the tenant's pace unarmed: boot and idle
  // time are not instrumented, and the cost of the counter is measured in every run.
  const arm = async () => {
    const armed = await ctx.history.op(s.vm, 'arm-access-counter', {}, () => armAccessCounter(spec.name, files.map, cells.map((c) => ({ id: c.id, memoryMiB: c.memoryMiB })), []));
    ctx.log(`access counter armed on ${s.vm}: ${armed.ranges.map((r) => `${r.name} → node ${r.node}`).join(', ')}`);
  };
  const already = await readCounters(files.out).then((c) => c.armed, () => false);
  if (already) await arm();

  const plan: HotMigrationPlan = {
    nativeDir: GUEST_NATIVE_DIR, statusFile: `/run/fthctl/${STATUS}`, seed: ctx.seed,
    workload: { wssMiB: sizeBytes(s.wss) / 2 ** 20, chunkPages: s.chunkPages ?? 16, hotFraction: s.hotFraction ?? 0.1, hotShare: s.hotShare ?? 0.95, writeRatio: s.writeRatio ?? 0.5 },
    from: { node: s.from, cpus: cells[s.from].cpus }, to: { node: s.to, cpus: cells[s.to].cpus },
    policies: s.policies, warmupMs: s.warmup ?? 4000, softDirtyRounds: 8, roundMs: 0, holdMs: s.hold ?? 12_000,
    ratePagesPerS: s.rate ?? 4096, batchPages: s.batch ?? 64,
    ...(already ? {} : { calibrate: { ms: CALIBRATE_MS, armedFile: `/run/fthctl/${ARMED}` } }),
  };
  await mkdir(join(ctx.lab.shareDir, 'numa'), { recursive: true });
  await writeFile(join(ctx.lab.shareDir, 'numa', `${s.vm}.json`), JSON.stringify(plan, null, 2));
  await writeFile(join(ctx.dir, `${s.vm}.numa-plan.json`), JSON.stringify(plan, null, 2));
  const statusFile = join(controlDir(ctx.lab, s.vm), STATUS);
  const agent = ctx.lab.vm(s.vm).agent;
  await ctx.history.op(s.vm, 'numa-hot-migration', { policies: s.policies }, () =>
    agent.spawn(`node ${guestProgram(NUMA, 'hot-migration')} /opt/fthrun/numa/${s.vm}.json`, GUEST_LOG, brokenEnv()));

  // Follow the guest: host time of each event; per-page counts at the warm-up's two ends.
  const seen: Seen[] = [];
  const warm = new Map<PolicyName, { start?: Uint32Array; end?: Uint32Array }>();
  const budget = SLACK_MS + s.policies.length * (plan.warmupMs + plan.holdMs + 15_000);
  const t0 = Date.now();
  let st: HotMigrationStatus | undefined;
  for (;;) {
    ctx.signal.throwIfAborted();
    try { st = JSON.parse(await readFile(statusFile, 'utf8')) as HotMigrationStatus; } catch { /* not there yet, or being replaced */ }
    for (const ev of st?.events.slice(seen.length) ?? []) {
      seen.push({ policy: ev.policy, what: ev.what, host: Date.now(), guest: ev.t });
      ctx.history.add('info', s.vm, `numa-${ev.what}`, { policy: ev.policy, guestT: ev.t });
      if (ev.what === 'calibrated') {
        await arm();
        await writeFile(join(controlDir(ctx.lab, s.vm), ARMED), '');
      }
      if (ev.policy) {
        const w = warm.get(ev.policy) ?? {};
        if (ev.what === 'warm') w.start = (await readCounters(files.out)).pageHits;
        if (ev.what === 'measured') w.end = (await readCounters(files.out)).pageHits;
        warm.set(ev.policy, w);
        if (ev.what === 'move' || ev.what === 'done') ctx.log(`numa ${s.vm}: ${ev.policy} ${ev.what}`);
      }
    }
    if (st?.error) throw new Error(`the hot-migration program in ${s.vm} failed: ${st.error.split('\n')[0]} (guest log ${GUEST_LOG}: ${await guestLogTail(ctx, s.vm)})`);
    if (st?.events.at(-1)?.what === 'end') break;
    if (Date.now() - t0 > budget) {
      throw new Error(`the hot-migration program in ${s.vm} did not finish within ${budget} ms (last event: ${JSON.stringify(st?.events.at(-1) ?? null)}; guest log: ${await guestLogTail(ctx, s.vm)})`);
    }
    await sleep(100);
  }
  await writeFile(join(ctx.dir, `${s.vm}.numa-status.json`), JSON.stringify(st));
  // Lines up to now: the last interval of the last policy is written within intervalMs.
  await sleep(300);
  const series = await readSeries(files.series);
  await judgeAndRecord(ctx, s, plan, st!, seen, warm, series);
}

const median = (xs: number[]) => { const v = [...xs].sort((a, b) => a - b); return v.length ? v[v.length >> 1] : 0; };

/** A guest event, with its guest clock and this host's clock when the harness saw it. */
interface Seen { policy: PolicyName | null; what: string; host: number; guest: number }

async function guestLogTail(ctx: RunContext, vm: string): Promise<string> {
  try { return (await ctx.lab.vm(vm).agent.readFile(GUEST_LOG)).toString('utf8').trim().split('\n').slice(-5).join(' | '); } catch (e) { return `(unreadable: ${(e as Error).message})`; }
}

async function judgeAndRecord(ctx: RunContext, s: HotMigrationStep, plan: HotMigrationPlan, st: HotMigrationStatus,
  seen: Seen[], warm: Map<PolicyName, { start?: Uint32Array; end?: Uint32Array }>, series: SeriesPoint[]): Promise<void> {
  const vcpuNode: number[] = [];
  for (const c of ctx.specs.get(s.vm)!.numa!.cells) for (const v of c.cpus) vcpuNode[v] = c.id;
  const policies: PolicyEvidence[] = [];
  // Host times of the guest's events as the harness saw them (≤ one poll late): windows only. The
  // move itself is read from the counters, whose times are this host's (the guest clock drifts:
  // 1 % under TCG here, seconds over a run).
  const at = (p: PolicyName, what: string) => seen.find((e) => e.policy === p && e.what === what)!.host;
  for (const p of s.policies) {
    const from = at(p, 'warm'), measured = at(p, 'measured'), moveSeen = at(p, 'move'), held = at(p, 'held');
    // This policy's samples: from its warm-up to the end of its hold (the workload still runs).
    const seg = series.filter((x) => x.t >= from && x.t <= held);
    // The tenant's pace before the move (source vCPUs, hotness rounds over); its arrival on the
    // otherwise idle destination vCPUs is the first interval with 1 % of that pace there.
    const pace = median(intervalLocality(seg.filter((x) => x.t >= measured && x.t <= moveSeen), vcpuNode, { vcpus: plan.from.cpus }).map((x) => x.local + x.remote));
    const arrival = detectArrival(seg.filter((x) => x.t >= measured), plan.to.cpus, Math.max(1000, 0.01 * pace));
    const tMove = arrival ?? moveSeen;
    const intervals = intervalLocality(seg, vcpuNode, { vcpus: plan.to.cpus }).filter((x) => x.t > tMove)
      .map((x) => ({ t: Math.round(x.t - tMove), local: x.local, remote: x.remote }));
    policies.push({ policy: p, intervals, moveDetected: arrival !== undefined });
  }
  const r = st.results;
  const hf = r['hot-first'], w = warm.get('hot-first');
  const evidence: HotMigrationEvidence = {
    label: s.vm, counter: COUNTER_KIND,
    expect: { vsAllAtOnce: s.expect?.vsAllAtOnce ?? 0.5, precision: s.expect?.precision ?? 0.8, vsAutonuma: s.expect?.vsAutonuma ?? 't90' },
    policies,
    ...(hf && w?.start && w.end ? { hotness: { hotPages: hf.hotPages, exact: exactPerPage(hf, w.start, w.end), moved: hf.moved ?? [], softDirty: hf.softDirtyTop, referenced: hf.referencedTop } } : {}),
  };
  record(ctx, evidence, r);
  for (const p of s.policies) {
    // Where the exact k hottest pages of its warm-up are at the end of each policy's run.
    const res = r[p], w0 = warm.get(p);
    if (!res || !w0?.start || !w0.end) continue;
    const hot = exactTop(exactPerPage(res, w0.start, w0.end), res.hotPages);
    const nodes = new Int16Array(new Uint8Array(Buffer.from(res.nodesAtEnd, 'base64')).buffer);
    if (hot.length) addMetric(ctx, metricName('numa_hot_pages_local_fraction', { policy: p }), 'fraction', hot.filter((i) => nodes[i] === plan.to.node).length / hot.length, `the exact ${hot.length} hottest pages of the warm-up on the destination node at the end (move_pages in the guest)`);
  }
  const cal = st.calibration;
  if (cal) {
    addMetric(ctx, 'numa_counter_slowdown', 'ratio', cal.unarmedOpsPerS / cal.armedOpsPerS, `the tenant's operations/s with the access counter unarmed ÷ armed, on one idle vCPU, ${CALIBRATE_MS} ms each (tcg)`);
    addMetric(ctx, 'numa_tenant_ops_per_s{counter=unarmed}', 'ops/s', cal.unarmedOpsPerS, 'the tenant on an idle vCPU, access counter loaded but unarmed (no instrumentation), guest clock');
    addMetric(ctx, 'numa_tenant_ops_per_s{counter=armed}', 'ops/s', cal.armedOpsPerS, 'the same, the counter armed (every guest memory access counted), guest clock');
  }
  // Only the comparisons this scenario's policies allow (a missing baseline is not a failure).
  const has = (p: PolicyName) => s.policies.includes(p);
  const judges = ['migrated-local', ...(has('hot-first') && has('all-at-once') ? ['vs-all-at-once'] : []),
    ...(has('hot-first') && has('autonuma') ? ['vs-autonuma'] : []), ...(has('hot-first') ? ['hot-precision'] : [])];
  for (const j of judges) addCheck(ctx, await ctx.evidence.judge(`${NUMA}/${j}`, evidence));
}

/** Exact user accesses per workload page over the warm-up: the plugin's per-GPA-page hits at the
 *  page's PFN (pages do not move during the warm-up: balancing is off, nothing migrates). */
function exactPerPage(r: PolicyResult, start: Uint32Array, end: Uint32Array): number[] {
  const b = Buffer.from(r.pfn, 'base64');
  return Array.from({ length: r.pages }, (_, i) => {
    const pfn = Number(b.readBigUInt64LE(i * 8));
    return pfn > 0 && pfn < end.length ? (end[pfn] - start[pfn]) >>> 0 : 0;
  });
}

function record(ctx: RunContext, e: HotMigrationEvidence, results: HotMigrationStatus['results']): void {
  const desc = (d: string) => `${d} (${e.counter}, emulated topology)`;
  for (const p of e.policies) {
    const L = { policy: p.policy };
    const pts = p.intervals.filter((x) => x.local + x.remote > 0);
    const m = (ctx.metrics[metricName('numa_local_fraction', L)] ??= { unit: 'fraction', values: [], t: [], tFrom: 'the move', description: desc('destination vCPUs: local share of user accesses per counter interval, t = ms after the move') });
    for (const x of pts) { m.values.push(x.local / (x.local + x.remote)); m.t!.push(x.t); }
    const t = t90(p);
    if (t === null) ctx.metrics[metricName('numa_t90_ms', L)] ??= { unit: 'ms', values: [], missing: `${p.policy} did not reach 90 % local accesses within the run`, description: desc('move → 90 % local accesses, sustained') };
    else addMetric(ctx, metricName('numa_t90_ms', L), 'ms', t, desc('move → 90 % local accesses, sustained'));
    const w = servedWithin(p, SERVED_MS);
    addMetric(ctx, metricName('numa_local_accesses_2s', L), 'accesses', w.local, desc('local user accesses of the destination vCPUs in the first 2 s after the move'));
    addMetric(ctx, metricName('numa_accesses_2s', L), 'accesses', w.all, desc('all user accesses of the destination vCPUs in the first 2 s after the move (the tenant\'s progress)'));
    const f = finalLocality(p);
    if (f !== null) addMetric(ctx, metricName('numa_final_local_fraction', L), 'fraction', f, desc('local share of the last five intervals'));
    const res = results[p.policy];
    if (!res) continue;
    addMetric(ctx, metricName('numa_pages_on_destination', L), 'pages', res.onDest, 'workload pages on the destination node at the end (move_pages query in the guest)');
    const moved = res.batches.reduce((a, b) => a + b.pages - b.notMoved, 0);
    if (res.batches.length) {
      addMetric(ctx, metricName('numa_pages_moved', L), 'pages', moved, 'pages the policy moved (its syscalls\' account)');
      addMetric(ctx, metricName('numa_migration_ms', L), 'ms', res.batches.at(-1)!.t, 'move → the policy\'s last page moved (guest clock); under TCG this is emulated copying, not a physical cost');
    }
    for (const [k, v] of Object.entries(res.vmstat)) if (/^(numa_|pgmigrate_)/.test(k)) addMetric(ctx, metricName(`vmstat.${k}`, L), 'count', v, 'guest /proc/vmstat delta over the policy\'s run');
    for (const ev of res.perf.events) {
      const name = metricName(`perf.${ev.name}`, L);
      if (ev.supported && ev.value !== undefined) addMetric(ctx, name, ev.name === 'task-clock' ? 'ns' : 'count', ev.value, `perf ${ev.kind === 'hw' ? 'hardware' : 'software'} event over ${res.perf.ms} ms of the run${ev.scaled ? ' (multiplexed, scaled)' : ''}`);
      else ctx.metrics[name] = { unit: 'unsupported', values: [], description: `unsupported: ${ev.kind === 'hw' ? 'hardware' : 'software'} event, ${ev.error ?? 'not available'}${ev.kind === 'hw' ? ' (TCG has no PMU)' : ''}` };
    }
  }
}
