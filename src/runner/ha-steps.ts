// Steps that drive and attack the PMEM HA system (src/pmem-ha, running in the guests). The
// agents' status files are read on the host side of each VM's writable control share: they
// survive power cuts and cost no agent round trip. They are the SUT's own report: used for
// timing metrics and to explain verdicts, never as ground truth (see checkers/pmem-ha.ts).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { judgeHa, readGeneration, type GenerationTruth } from '../checkers/pmem-ha.js';
import { powerCut, sendControl } from '../faults/power.js';
import { setLinks } from '../faults/network.js';
import { corruptChunk, listManifests, storeOf, storeOutage, uncommittedSaves } from '../faults/store.js';
import { sizeBytes } from '../scenario/load.js';
import { addCheck, addMetric, type RunContext, type StepRegistry } from './context.js';
import { controlDir, GUEST_MOUNTS, linkAddress } from './plan.js';
import { patternBytes } from './patterns.js';
import { metricName } from '../results/conventions.js';
import { writeFile } from 'node:fs/promises';
import { bootVm as STEP_BOOT } from './boot.js';
import { SutDeadline } from './outcomes.js';
import { handCredentials } from './store.js';
import { brokenEnv } from '../util/broken-sut.js';

type HaKinds = 'holdup-sweep' | 'ha-agent' | 'ac-loss' | 'ac-restore' | 'power-cut-at' | 'wait-ha' | 'store-outage' | 'corrupt-chunk' | 'net-cut' | 'net-restore' | 'snapshot-pmem' | 'check-ha';

const AGENT = '/opt/ftharness/dist/src/pmem-ha/agent.js';
const SIGNAL_PORT = 7070;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** One shell word, whatever it holds. */
const shellQuote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Status = Record<string, any>;

async function readStatus(ctx: RunContext, vm: string): Promise<Status | undefined> {
  try {
    return JSON.parse(await readFile(join(controlDir(ctx.lab, vm), 'status.json'), 'utf8')) as Status;
  } catch {
    return undefined; // not written yet, or mid-rename
  }
}

async function agentLogTail(ctx: RunContext, vm: string): Promise<string> {
  const log = await readFile(join(controlDir(ctx.lab, vm), 'agent.log'), 'utf8').catch(() => '');
  return log.trim().split('\n').slice(-5).join(' | ');
}

/** Poll the status file until `done` says so. The agent not getting there in time is the
 *  SUT missing a deadline (a failed check with its last status), not a harness error. */
async function waitStatus(ctx: RunContext, vm: string, what: string, timeoutMs: number, done: (s: Status) => boolean, o: { cutIsDeadline?: boolean } = {}): Promise<Status> {
  const t0 = Date.now();
  let last: Status | undefined;
  while (Date.now() - t0 < timeoutMs) {
    last = await readStatus(ctx, vm);
    if (last && done(last)) return last;
    if (!(await ctx.lab.vm(vm).isRunning())) {
      last = await readStatus(ctx, vm); // the status file is on the host: a last write may have landed
      if (last && done(last)) return last;
      // A save must end within its hold-up: the cut coming first is the SUT missing that deadline.
      if (o.cutIsDeadline) throw new SutDeadline(`HA agent on ${vm} reaches "${what}" before the power cut`, `${vm}: the power was cut (the hold-up ended) before the HA agent reached "${what}" (status phase ${last?.phase ?? 'none'})`, { lastStatus: last ?? null });
      throw new Error(`${vm} is powered off while waiting for ${what}`);
    }
    await sleep(100);
  }
  const log = await agentLogTail(ctx, vm);
  throw new SutDeadline(`HA agent on ${vm} reaches "${what}" within ${timeoutMs / 1000} s`,
    `${vm}: HA agent did not reach "${what}" within ${timeoutMs / 1000} s (status phase ${last?.phase ?? 'none'}${last?.lastError ? `, last error: ${last.lastError}` : ''}; log: ${log})`,
    { lastStatus: last ?? null, agentLogTail: log, waitedMs: Date.now() - t0 });
}

function vmIndex(ctx: RunContext, vm: string): number {
  return ctx.scenario.vms.findIndex((v) => v.name === vm);
}
const hasLink = (ctx: RunContext, vm: string) => ctx.scenario.vms[vmIndex(ctx, vm)].nics.some((n) => n.kind === 'link');

/** Harness-clock instant of the last AC-loss notice, for the end-to-end recovery time. */
const noticeAt = new WeakMap<RunContext, number>();

/** The HA metrics every HA run names: unit, what a value means, and why a run may have none.
 *  `null` = the reason depends on the run (see recordMissingHaMetrics). */
const HA_METRICS = {
  notice_to_save_start_ms: { unit: 'ms', description: 'AC-loss notice received → first chunk read (guest clock)', missing: 'the primary started no save after the AC-loss notice' },
  save_duration_ms: { unit: 'ms', description: 'save start → manifest committed (or save end)', missing: 'no save ran to its end (power cut before the manifest was committed, or no save)' },
  save_throughput_mibs: { unit: 'MiB/s', description: 'region bytes saved (uploaded + zero-skipped) per second', missing: 'no save ran to its end (power cut before the manifest was committed, or no save)' },
  bytes_uploaded: { unit: 'B', description: 'non-zero chunk bytes PUT to the store', missing: 'no save status was read from the primary' },
  bytes_skipped_zero: { unit: 'B', description: 'all-zero chunk bytes recorded, not uploaded', missing: 'no save status was read from the primary' },
  commit_to_signal_ms: { unit: 'ms', description: 'manifest committed → standby acked the signal', missing: 'no signal was acknowledged after a commit (no commit, cut before the signal, or link down; the standby then finds generations by polling the store)' },
  restore_duration_ms: { unit: 'ms', description: 'standby: restore start → journal done (guest clock)', missing: null },
  rto_ms: { unit: 'ms', description: 'AC-loss notice → standby holds the data (harness clock, 100 ms polling)', missing: null },
  rpo_bytes: { unit: 'B', description: "non-zero bytes of the primary's PMEM that the standby does not hold", missing: null },
} as const;
type HaMetric = keyof typeof HA_METRICS;

function addHaMetric(ctx: RunContext, name: HaMetric, value: number | null | undefined): void {
  if (typeof value === 'number' && Number.isFinite(value)) addMetric(ctx, name, HA_METRICS[name].unit, value, HA_METRICS[name].description);
}

function primaryMetrics(ctx: RunContext, s: Status): void {
  const v = s.save;
  if (!v) return;
  if (v.saveStartAt) addHaMetric(ctx, 'notice_to_save_start_ms', v.saveStartAt - v.noticeAt);
  const end = v.manifestCommittedAt ?? v.endAt;
  if (v.saveStartAt && end) {
    addHaMetric(ctx, 'save_duration_ms', end - v.saveStartAt);
    const secs = (end - v.saveStartAt) / 1000;
    if (secs > 0) addHaMetric(ctx, 'save_throughput_mibs', (v.bytesUploaded + v.bytesSkipped) / 2 ** 20 / secs);
  }
  addHaMetric(ctx, 'bytes_uploaded', v.bytesUploaded);
  addHaMetric(ctx, 'bytes_skipped_zero', v.bytesSkipped);
  if (v.manifestCommittedAt && v.signalAckedAt) addHaMetric(ctx, 'commit_to_signal_ms', v.signalAckedAt - v.manifestCommittedAt);
}

/** Every HA run's results name every HA metric: a metric the run could not sample says why
 *  (an empty series with `missing`), so a reader can tell "not reached" from "not recorded". */
function recordMissingHaMetrics(ctx: RunContext, standbyHolds: boolean, verdict: string): void {
  const notRestored = standbyHolds
    ? 'the standby holds the data, but no `wait-ha until: holds-new` step timed its restore (e.g. it was redone at boot after a standby cut)'
    : `the standby did not restore this save: ${verdict}`;
  for (const [name, { unit, missing }] of Object.entries(HA_METRICS)) {
    const reason = missing ?? notRestored;
    const m = ctx.metrics[name];
    if (!m) ctx.metrics[name] = { unit, values: [], missing: reason };
    else if (!m.values.length) m.missing ??= reason;
  }
}

export const HA_STEPS: Pick<StepRegistry, HaKinds> = {
  async 'ha-agent'(ctx, s) {
    const store = storeOf(ctx);
    const vm = ctx.lab.vm(s.vm);
    const spec = ctx.specs.get(s.vm)!;
    const prefix = `run-${ctx.lab.runId}`;
    const args = [s.role, '--dev', '/dev/nvdimm0', '--endpoint', store.guestEndpoint, '--bucket', store.bucket, '--prefix', prefix, '--control-dir', '/run/fthctl'];
    if (s.chunk !== undefined) args.push('--chunk-size', String(sizeBytes(s.chunk)));
    if (s.concurrency) args.push('--concurrency', String(s.concurrency));
    if (s.pauseAt) args.push('--pause-at', s.pauseAt);
    if (s.quiesce) args.push('--quiesce-pidfile', s.quiesce);
    if (s.role === 'primary' && s.peer && hasLink(ctx, s.peer)) args.push('--standby-addr', `${linkAddress(vmIndex(ctx, s.peer))}:${SIGNAL_PORT}`);
    if (s.role === 'standby') {
      if (spec.nvdimms.length < 2) throw new Error(`ha-agent standby on ${s.vm}: the VM needs a second NVDIMM for the restore journal`);
      args.push('--meta', '/dev/nvdimm1', '--poll-ms', String(s.pollMs ?? 1000));
      if (hasLink(ctx, s.vm)) args.push('--listen', `${linkAddress(vmIndex(ctx, s.vm))}:${SIGNAL_PORT}`);
      // The standby's content before anything happens: what "kept its previous content" means.
      if (!ctx.snapshots.has(`before:${s.vm}`)) ctx.snapshots.set(`before:${s.vm}`, await readFile(spec.nvdimms[0].backingFile));
    }
    const secret = s.credentials === 'wrong-secret' ? `${store.conn.secretAccessKey}x` : store.conn.secretAccessKey;
    const env = { ...(await handCredentials(controlDir(ctx.lab, s.vm), GUEST_MOUNTS.fthctl, store.conn, secret)), ...brokenEnv() };
    // Start marker, so waiting sees this agent's status and not one from before a reboot (guest
    // pids repeat across reboots; the start time does not).
    const before = await readStatus(ctx, s.vm);
    await ctx.history.op(s.vm, 'ha-agent-start', { role: s.role, args: args.join(' ') }, () =>
      vm.agent.spawn(`node ${AGENT} ${args.map(shellQuote).join(' ')}`, '/run/fthctl/agent.log', env));
    const ready = s.role === 'primary' ? ['ready'] : ['watching'];
    const st = await waitStatus(ctx, s.vm, ready.join('/'), 120_000, (x) => (x.pid !== before?.pid || x.agentStartedAt !== before?.agentStartedAt) && (ready.includes(x.phase) || (s.pauseAt !== undefined && x.phase === 'paused')));
    ctx.ha.set(s.vm, { role: s.role, prefix });
    ctx.history.add('info', s.vm, 'ha-agent-ready', { role: s.role, phase: st.phase, heldGeneration: st.heldGeneration ?? null });
  },

  async 'ac-loss'(ctx, s) {
    const f = ctx.history.faultStart('ac-loss', `AC loss on ${s.vm}, hold-up ${s.holdup} ms`, { vm: s.vm, holdupMs: s.holdup });
    noticeAt.set(ctx, Date.now());
    await sendControl(ctx, s.vm, { event: 'ac-loss', holdupMs: s.holdup, id: f.id });
    ctx.openFaults.set(`ac:${s.vm}`, f);
    if (s.cut === false) return;
    // The cut comes when the hold-up ends, whatever the run does meanwhile (e.g. wait for the
    // standby): the power supply does not wait for anyone. check-ha awaits it.
    ctx.pending.push((async () => {
      await sleep(s.holdup);
      if (ctx.openFaults.get(`ac:${s.vm}`) !== f) return; // AC came back, or cut at a phase already
      ctx.history.faultEnd(f);
      ctx.openFaults.delete(`ac:${s.vm}`);
      await powerCut(ctx, s.vm, `power cut of ${s.vm} at the end of the ${s.holdup} ms hold-up`);
      const st = await readStatus(ctx, s.vm);
      if (st) primaryMetrics(ctx, st);
    })());
  },

  async 'ac-restore'(ctx, s) {
    await sendControl(ctx, s.vm, { event: 'ac-restored' });
    const f = ctx.openFaults.get(`ac:${s.vm}`);
    if (f) { ctx.history.faultEnd(f); ctx.openFaults.delete(`ac:${s.vm}`); }
  },

  async 'power-cut-at'(ctx, s) {
    const st = await waitStatus(ctx, s.vm, `paused at ${s.phase}`, (s.timeout ?? 120) * 1000, (x) => x.pausedAt === s.phase || (x.save?.endAt && x.phase !== 'paused'));
    // The validator made sure the agent was told to pause there: running past it is the SUT's doing.
    if (st.pausedAt !== s.phase) throw new SutDeadline(`HA agent on ${s.vm} pauses at ${s.phase}`, `${s.vm}: the save ended (${st.save?.outcome}) without pausing at ${s.phase}`, { lastStatus: st });
    const f = ctx.openFaults.get(`ac:${s.vm}`);
    if (f) { ctx.history.faultEnd(f); ctx.openFaults.delete(`ac:${s.vm}`); }
    await powerCut(ctx, s.vm, `power cut of ${s.vm} at ${s.phase}`, { phase: s.phase });
    primaryMetrics(ctx, st);
  },

  async 'wait-ha'(ctx, s) {
    const timeoutMs = (s.timeout ?? 120) * 1000;
    if (s.until === 'save-ended') {
      const st = await waitStatus(ctx, s.vm, 'save ended', timeoutMs, (x) => !!x.save?.endAt, { cutIsDeadline: true });
      ctx.history.add('info', s.vm, 'save-ended', { outcome: st.save.outcome, generation: st.save.generation, error: st.save.error });
      primaryMetrics(ctx, st);
      return;
    }
    const startHeld = ctx.history.events.filter((e) => e.f === 'ha-agent-ready' && e.process === s.vm).at(-1)?.value as { heldGeneration?: string } | undefined;
    if (s.until === 'holds-new') {
      const st = await waitStatus(ctx, s.vm, 'holds a newer generation', timeoutMs, (x) => !!x.heldGeneration && x.heldGeneration !== (startHeld?.heldGeneration ?? null) && x.phase === 'watching');
      const t0 = noticeAt.get(ctx);
      if (t0) addHaMetric(ctx, 'rto_ms', Date.now() - t0);
      if (st.restore?.endAt && st.restore?.startAt) addHaMetric(ctx, 'restore_duration_ms', st.restore.endAt - st.restore.startAt);
      ctx.history.add('info', s.vm, 'holds', { generation: st.heldGeneration, trigger: st.restore?.trigger });
      return;
    }
    // settled: idle, nothing in flight, unchanged for `settle` ms (a refusal is a settled state too)
    const settle = s.settle ?? 3000;
    let key = '';
    let since = Date.now();
    const st = await waitStatus(ctx, s.vm, 'settled', timeoutMs, (x) => {
      const k = JSON.stringify([x.phase, x.heldGeneration, x.restores, x.refusals?.length, x.restore?.outcome]);
      if (k !== key) { key = k; since = Date.now(); }
      return x.phase === 'watching' && (!x.restore || x.restore.outcome !== 'in-progress') && Date.now() - since >= settle;
    });
    ctx.history.add('info', s.vm, 'settled', { heldGeneration: st.heldGeneration, restore: st.restore ? { trigger: st.restore.trigger, outcome: st.restore.outcome, generation: st.restore.generation } : null, refusals: st.refusals?.slice(-3) });
  },

  async 'store-outage'(ctx, s) {
    const p = storeOutage(ctx, s.ms);
    if (s.wait) await p;
    else ctx.pending.push(p);
  },

  async 'corrupt-chunk'(ctx, s) {
    const prefix = [...ctx.ha.values()][0]?.prefix;
    if (!prefix) throw new Error('corrupt-chunk: no HA agent in this run yet');
    const detail = await corruptChunk(ctx, prefix, s.mode, s.chunk);
    ctx.history.add('info', 'nemesis', 'corrupt-chunk', detail);
  },

  async 'net-cut'(ctx, s) { await setLinks(ctx, s.vm, s.nic, 'down'); },
  async 'net-restore'(ctx, s) { await setLinks(ctx, s.vm, s.nic, 'up'); },

  async 'snapshot-pmem'(ctx, s) {
    const nv = ctx.specs.get(s.vm)!.nvdimms[s.nvdimm ?? 0];
    ctx.snapshots.set(s.as, await readFile(nv.backingFile));
  },

  async 'holdup-sweep'(ctx, s) {
    const store = storeOf(ctx);
    const pSpec = ctx.specs.get(s.primary)!;
    const sSpec = ctx.specs.get(s.standby)!;
    const prefix = ctx.ha.get(s.primary)?.prefix;
    if (!prefix || !ctx.ha.has(s.standby)) throw new Error('holdup-sweep: start both HA agents first (ha-agent steps)');
    const regionMiB = pSpec.nvdimms[0].sizeMiB;
    const fillMiB = Math.max(1, Math.round(regionMiB * (s.fill ?? 0.5)));
    const resolution = s.resolution ?? 1000;
    const labels = { pmem_size: `${regionMiB}MiB`, fill: String(s.fill ?? 0.5) };
    const probes: { holdupMs: number; ok: boolean; why: string }[] = [];
    let { lo, hi } = s;
    let foundOk = false;
    let silent = '';
    const probe = async (h: number, k: number): Promise<boolean> => {
      const vm = ctx.lab.vm(s.primary);
      if (!(await vm.isRunning())) {
        await STEP_BOOT(ctx, s.primary);
        await HA_STEPS['ha-agent'](ctx, { do: 'ha-agent', vm: s.primary, role: 'primary', peer: s.standby });
      }
      const bytes = patternBytes(ctx.seed, `sweep-${k}`, fillMiB * 2 ** 20);
      await writeFile(join(ctx.lab.shareDir, `sweep-${k}.bin`), bytes);
      await vm.agent.sh(`dd if=${GUEST_MOUNTS.fthrun}/sweep-${k}.bin of=/dev/nvdimm0 bs=1M oflag=direct conv=notrunc,fsync 2>/dev/null`);
      const before = await readFile(sSpec.nvdimms[0].backingFile);
      const f = ctx.history.faultStart('ac-loss', `sweep probe ${k}: AC loss, hold-up ${h} ms`, { vm: s.primary, holdupMs: h });
      await sendControl(ctx, s.primary, { event: 'ac-loss', holdupMs: h, id: f.id });
      await sleep(h);
      ctx.history.faultEnd(f);
      await powerCut(ctx, s.primary, `sweep probe ${k}: power cut after ${h} ms`);
      await HA_STEPS['wait-ha'](ctx, { do: 'wait-ha', vm: s.standby, until: 'settled', settle: 3000 });
      const gens: GenerationTruth[] = [];
      for (const m of (await listManifests(ctx, prefix)).slice(0, 2)) gens.push(await readGeneration(store.conn, store.bucket, prefix, m.generation));
      const truth = {
        primaryAtCut: ctx.snapshots.get(`cut:${s.primary}`)!, standbyNow: await readFile(sSpec.nvdimms[0].backingFile), standbyBefore: before,
        generations: gens, uncommitted: await uncommittedSaves(ctx, prefix),
      };
      // Row 4 (the save did not commit P) is the probe failing as the sweep expects of short
      // hold-ups; any other failing row is a violation (see judgeHa's table).
      const judged = judgeHa({ ...truth, expect: 'restored' });
      const restored = judged.check;
      const kept = restored.valid === true || judged.row !== 4 ? undefined : judgeHa({ ...truth, expect: 'previous' }).check;
      if (restored.valid !== true && judged.row !== 4) silent ||= `probe ${k} (${h} ms): ${restored.message}`;
      probes.push({ holdupMs: h, ok: restored.valid === true, why: (kept ?? restored).message.slice(0, 200) });
      addMetric(ctx, metricName('holdup_probe_ms', labels), 'ms', h, 'hold-up of each sweep probe');
      addMetric(ctx, metricName('holdup_probe_ok', labels), 'bool', restored.valid === true ? 1 : 0, '1 = committed and restored at this hold-up');
      return restored.valid === true;
    };
    let k = 0;
    if (await probe(hi, k++)) {
      foundOk = true;
      while (hi - lo > resolution) {
        const mid = Math.round((lo + hi) / 2);
        if (await probe(mid, k++)) hi = mid; else lo = mid;
      }
      addMetric(ctx, metricName('holdup_min_ms', labels), 'ms', hi, `shortest hold-up (±${resolution} ms) that gave a committed, restored generation`);
    }
    addCheck(ctx, {
      name: `hold-up sweep (${regionMiB} MiB, fill ${s.fill ?? 0.5})`,
      valid: silent ? false : foundOk ? true : 'unknown',
      message: silent ? `a probe found a violation: ${silent}`
        : foundOk ? `shortest working hold-up ${hi} ms (longest failing ${lo} ms); every failing probe left the standby on its previous content`
          : `even the longest hold-up (${s.hi} ms) did not give a restored generation: raise hi`,
      evidence: { probes, resolution },
    });
  },

  async 'check-ha'(ctx, s) {
    await Promise.all(ctx.pending);
    const store = storeOf(ctx);
    const prefix = ctx.ha.get(s.primary)?.prefix ?? ctx.ha.get(s.standby)?.prefix;
    if (!prefix) throw new Error('check-ha: no HA agent was started');
    const primarySpec = ctx.specs.get(s.primary)!;
    const standbySpec = ctx.specs.get(s.standby)!;
    const primaryAtCut = ctx.snapshots.get(`cut:${s.primary}`) ?? await readFile(primarySpec.nvdimms[0].backingFile);
    const standbyNow = await readFile(standbySpec.nvdimms[0].backingFile);
    const standbyBefore = ctx.snapshots.get(s.previous ?? `before:${s.standby}`);
    if (!standbyBefore) throw new Error(`check-ha: no "previous" content of ${s.standby} (start its ha-agent first or name a snapshot-pmem)`);
    const gens: GenerationTruth[] = [];
    for (const m of (await listManifests(ctx, prefix)).slice(0, 5)) gens.push(await readGeneration(store.conn, store.bucket, prefix, m.generation));
    const { check, dataAtRiskBytes } = judgeHa({
      primaryAtCut, standbyNow, standbyBefore, generations: gens, expect: s.expect,
      standbyStatus: await readStatus(ctx, s.standby), uncommitted: await uncommittedSaves(ctx, prefix),
    });
    addCheck(ctx, check);
    addHaMetric(ctx, 'rpo_bytes', dataAtRiskBytes);
    recordMissingHaMetrics(ctx, dataAtRiskBytes === 0, check.message);
  },
};
