// The guest side of hot-first migration (memory locality after a NUMA move, US8719545B2), run as
// one guest program: `node hot-migration.mjs <plan.json>`. For each policy in turn it starts the
// tenant workload (fth-numawl) with its memory first-touched on the source node and its thread on
// a source CPU, measures hotness during a warm-up, moves the thread to the destination node, then
// applies the policy:
//   none         nothing moves (the floor: locality stays remote)
//   all-at-once  migrate_pages(2) of the whole process, what migratepages(8) does
//   address      the workload's pages in address order, move_pages(2) paced by a token bucket
//   hot-first    the same pacing, the pages hottest first by the warm-up's soft-dirty rounds
//   autonuma     the kernel's automatic NUMA balancing (kernel.numa_balancing=1, in this policy only,
//                from the tenant's start as the kernel ships it)
// Progress events and per-policy results go to a status file on the writable control share; the
// harness stamps each event with its own clock and reads the exact access counts itself. What
// this program reports (order, batches, pages found on each node) is the SUT's account, which
// the harness's counters check. Imports: Node built-ins and src/numa only.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isBroken } from '../shared/broken-sut.js';
import { addressOrder, hotFirstOrder, scoreFromReferenced, scoreFromSoftDirtyRounds, TokenBucket } from './hotness.js';
import { NumaHelper, startWorkload, type Workload } from './native-client.js';
import { HOT_MIGRATION_POLICIES, type HotMigrationPlan, type HotMigrationStatus, type PolicyName, type PolicyResult } from './hot-migration-plan.js';

const SUT = 'numa';

async function main(): Promise<void> {
  const plan = JSON.parse(readFileSync(process.argv[2], 'utf8')) as HotMigrationPlan;
  for (const p of plan.policies) if (!HOT_MIGRATION_POLICIES.includes(p)) throw new Error(`unknown policy ${p}`);
  const status: HotMigrationStatus = { events: [], results: {}, pid: process.pid };
  const save = () => {
    const tmp = `${plan.statusFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(status));
    renameSync(tmp, plan.statusFile);
  };
  const event = (policy: PolicyName | null, what: HotMigrationStatus['events'][number]['what'], extra: Record<string, unknown> = {}) => {
    status.events.push({ policy, what, t: Date.now(), ...extra });
    save();
  };
  const helper = new NumaHelper(join(plan.nativeDir, 'fth-numa'));
  try {
    const { pid: helperPid } = await helper.ping();
    // The mover and this program stay on the source node's CPUs: the destination CPUs run the
    // tenant alone, so their counters are the tenant's accesses.
    await helper.affinityAll(process.pid, plan.from.cpus);
    await helper.affinityAll(helperPid, plan.from.cpus);
    status.features = await helper.features();
    event(null, 'start');
    if (plan.calibrate) status.calibration = await calibrate(plan, (w, x) => event(null, w, x));
    for (const policy of plan.policies) {
      status.results[policy] = await runPolicy(plan, policy, helper, (w, x) => event(policy, w, x));
      save();
    }
    event(null, 'end');
  } catch (e) {
    status.error = (e as Error).stack ?? String(e);
    save();
    throw e;
  } finally {
    await helper.sysctl('kernel.numa_balancing', '0').catch(() => undefined);
    await helper.close();
  }
}

async function runPolicy(plan: HotMigrationPlan, policy: PolicyName, helper: NumaHelper,
  event: (what: HotMigrationStatus['events'][number]['what'], extra?: Record<string, unknown>) => void): Promise<PolicyResult> {
  // autonuma runs as the guest kernel ships it: on from the tenant's start, so its scanner has
  // settled (backed off while every hinting fault was local) when the move comes. Switched on
  // only at the move, it would scan the whole working set at once, which no running system sees.
  await helper.sysctl('kernel.numa_balancing', policy === 'autonuma' ? '1' : '0');
  const w = plan.workload;
  const wl = await startWorkload({
    binary: join(plan.nativeDir, 'fth-numawl'), wssMiB: w.wssMiB, chunkPages: w.chunkPages, hotFraction: w.hotFraction, hotShare: w.hotShare,
    writeRatio: w.writeRatio, zipfInt: true, seed: plan.seed, node: plan.from.node, threads: 1, reportMs: 250,
  });
  try {
    await helper.affinityAll(wl.pid, plan.from.cpus);
    const range = wl.range();
    const N = wl.ready.pages;
    event('warm', { pages: N, hotPages: wl.ready.hotPages, onNode: wl.ready.onNode });
    const t0 = Date.now();
    // Hotness, two ways, the same in every policy (so each tenant sees the same disturbance):
    // soft-dirty rounds (writes, per page) and clear_refs + smaps Referenced (per mapping).
    const rounds: Uint8Array[] = [];
    let softDirty = false;
    for (let r = 0; r < plan.softDirtyRounds; r++) {
      await helper.softDirtyClear(wl.pid);
      if (plan.roundMs) await sleep(plan.roundMs);
      const sd = await helper.softDirty(wl.pid, range);
      softDirty = sd.supported;
      rounds.push(sd.bitmap);
    }
    await helper.refsClear(wl.pid);
    if (plan.roundMs) await sleep(plan.roundMs);
    const refs = await helper.referenced(wl.pid, { start: range.start, pages: N + wl.ready.nChunks * wl.ready.gapPages });
    const pfn = await helper.pfn64(wl.pid, range);
    event('measured');
    const left = plan.warmupMs - (Date.now() - t0);
    if (left > 0) await sleep(left);

    const sdScore = scoreFromSoftDirtyRounds(rounds, N);
    const refScore = scoreFromReferenced(refs.start.map((s, k) => ({
      startPage: pageOfAddress(wl, BigInt(s)), pages: Math.round(refs.sizeKb[k] / 4), referencedKiB: refs.referencedKb[k],
    })).filter((c) => c.startPage >= 0), N);
    const remote = new Uint8Array(N).fill(1);
    const hotOrder = order(sdScore, remote);
    const toMove = policy === 'address' ? addressOrder(remote) : policy === 'hot-first' ? (isBroken(SUT, 'cold-first') ? [...hotOrder].reverse() : hotOrder) : [];
    // The requests are written before the move: after it, the mover only paces and sends them
    // (building them costs this program ~60 ms a batch here, more than the system call).
    const requests: { line: string; pages: number }[] = [];
    for (let i = 0; i < toMove.length; i += plan.batchPages) {
      const batch = toMove.slice(i, i + plan.batchPages);
      requests.push({ pages: batch.length, line: JSON.stringify({ op: 'move', pid: wl.pid, addrs: batch.map((p) => `0x${wl.pageAddress(p).toString(16)}`), node: plan.to.node }) });
    }
    const vm0 = await helper.vmstat();

    event('move');
    await helper.affinityAll(wl.pid, plan.to.cpus);
    const tMove = Date.now();
    const batches: PolicyResult['batches'] = [];
    if (policy === 'all-at-once') {
      const r = await helper.migrate(wl.pid, [plan.from.node], [plan.to.node]);
      batches.push({ t: Date.now() - tMove, pages: N, notMoved: r.notMoved, ms: r.ms });
    } else if (requests.length) {
      const bucket = new TokenBucket(plan.ratePagesPerS, plan.batchPages, Date.now());
      for (const q of requests) {
        const wait = bucket.waitMs(q.pages, Date.now());
        if (wait > 0) await sleep(wait);
        bucket.take(q.pages, Date.now());
        const r = await helper.raw(q.line);
        if (typeof r.error === 'string') throw new Error(`move_pages: ${r.error}`);
        batches.push({ t: Date.now() - tMove, pages: q.pages, notMoved: Number(r.notMoved), ms: Number(r.ms) });
      }
    }
    event('migrated', { ms: Date.now() - tMove });
    const perf = await helper.perf(wl.pid, Math.min(1000, Math.max(100, plan.holdMs - (Date.now() - tMove) - 200)));
    const hold = plan.holdMs - (Date.now() - tMove);
    if (hold > 0) await sleep(hold);
    event('held');
    const nodes = await helper.query(wl.pid, range);
    const vm1 = await helper.vmstat();
    await helper.sysctl('kernel.numa_balancing', '0');
    const stop = await wl.stop();
    event('done');
    const onNode = (n: number) => nodes.filter((x) => x === n).length;
    return {
      pages: N, hotPages: wl.ready.hotPages, softDirty,
      pfn: Buffer.from(pfn.pfn.buffer).toString('base64'),
      softDirtyTop: hotOrder.slice(0, 2 * wl.ready.hotPages),
      referencedTop: order(refScore, remote).slice(0, 2 * wl.ready.hotPages),
      moved: toMove.length ? toMove : undefined,
      batches,
      onDest: onNode(plan.to.node), onSource: onNode(plan.from.node),
      nodesAtEnd: Buffer.from(Int16Array.from(nodes).buffer).toString('base64'),
      vmstat: Object.fromEntries(Object.keys(vm1).filter((k) => vm1[k] !== vm0[k]).map((k) => [k, vm1[k] - (vm0[k] ?? 0)])),
      perf,
      ops: wl.reports.map((r) => ({ t: r.t - tMove, ops: r.ops })),
      exit: { code: stop.code, signal: stop.signal },
    };
  } finally {
    if (wl.child.exitCode === null && wl.child.signalCode === null) await wl.stop('SIGKILL');
  }
}

/** The counter's cost, in one run: the tenant's operations per second on an idle CPU before the
 *  harness arms the counter (it then instruments nothing) and after (it sees every access). */
async function calibrate(plan: HotMigrationPlan, event: (what: HotMigrationStatus['events'][number]['what'], extra?: Record<string, unknown>) => void): Promise<NonNullable<HotMigrationStatus['calibration']>> {
  const cal = plan.calibrate!;
  const w = plan.workload;
  const wl = await startWorkload({
    binary: join(plan.nativeDir, 'fth-numawl'), wssMiB: w.wssMiB, chunkPages: w.chunkPages, hotFraction: w.hotFraction, hotShare: w.hotShare,
    writeRatio: w.writeRatio, zipfInt: true, seed: plan.seed, node: plan.from.node, threads: 1, reportMs: 250,
  });
  const helper = new NumaHelper(join(plan.nativeDir, 'fth-numa'));
  try {
    await helper.affinityAll(wl.pid, plan.to.cpus);
    const rate = async () => {
      await sleep(1000); // settle on the CPU
      const a = wl.reports.at(-1)!;
      await sleep(cal.ms);
      const b = wl.reports.at(-1)!;
      return ((b.ops - a.ops) * 1000) / Math.max(1, b.t - a.t);
    };
    const unarmed = await rate();
    event('calibrated', { opsPerS: unarmed });
    const t0 = Date.now();
    while (!existsSync(cal.armedFile)) {
      if (Date.now() - t0 > 120_000) throw new Error(`the harness did not arm the counter within 120 s (no ${cal.armedFile})`);
      await sleep(50);
    }
    const armed = await rate();
    event('calibrated-armed', { opsPerS: armed });
    return { unarmedOpsPerS: unarmed, armedOpsPerS: armed };
  } finally {
    await wl.stop();
    await helper.close();
  }
}

/** Hottest first; the unscored rest in address order after them. */
function order(score: Float64Array, remote: Uint8Array): number[] {
  const hot = hotFirstOrder(score, remote);
  const seen = new Uint8Array(score.length);
  for (const p of hot) seen[p] = 1;
  return [...hot, ...addressOrder(remote).filter((p) => !seen[p])];
}

/** Page index of an address at a chunk start in the workload's layout; -1 if none. */
function pageOfAddress(wl: Workload, a: bigint): number {
  const off = Number((a - BigInt(wl.ready.base)) / 4096n);
  const stride = wl.ready.chunkPages + wl.ready.gapPages;
  if (off < 0 || off % stride) return -1;
  return (off / stride) * wl.ready.chunkPages;
}

main().catch((e) => {
  process.stderr.write(`hot-migration: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
