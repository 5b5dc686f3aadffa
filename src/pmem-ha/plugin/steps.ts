// The steps that drive and attack the PMEM HA system (src/pmem-ha, running in the guests).
// Faults go through the nemesis (faults.ts); ground truth is read by the harness (truth.ts) and
// judged by checker.ts from evidence kept in the results dir.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digest } from '../../checkers/digest.js';
import { powerCut } from '../../faults/power.js';
import { storeOf } from '../../faults/store.js';
import { bootVm } from '../../runner/boot.js';
import { addCheck, addMetric, type RunContext } from '../../runner/context.js';
import { SutDeadline } from '../../runner/outcomes.js';
import { controlDir, GUEST_MOUNTS, linkAddress } from '../../runner/plan.js';
import { handCredentials } from '../../runner/store.js';
import { metricName } from '../../results/conventions.js';
import { brokenEnv } from '../../shared/broken-sut.js';
import { patternBytes } from '../../shared/patterns.js';
import { sizeBytes } from '../../shared/size.js';
import type { HaEvidence } from './checker.js';
import { acKey, acLossFault, corruptChunkFault } from './faults.js';
import { addHaMetric, primaryMetrics, recordMissingHaMetrics } from './metrics.js';
import type { AcLossStep, AcRestoreStep, CheckHaFsStep, CheckHaStep, CorruptChunkStep, HaAgentStep, HoldupSweepStep, PowerCutAtStep, WaitHaStep } from './schema.js';
import { haSlice, PMEM_HA } from './slice.js';
import { guestCommand } from '../../sut/guest.js';
import { readStatus, waitStatus } from './status.js';
import { judgeProbe } from './sweep.js';
import { readGenerations, uncommittedSaves } from './truth.js';
import { deviceBytes, fsTruth } from './fs-truth.js';

// The bundled agent (src/sut/guest.ts): one file over 9p, nothing of the harness in it.
const agentCommand = () => guestCommand(PMEM_HA, 'agent');
const SIGNAL_PORT = 7070;
/** One shell word, whatever it holds. */
const shellQuote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

const vmIndex = (ctx: RunContext, vm: string) => ctx.scenario.vms.findIndex((v) => v.name === vm);
const hasLink = (ctx: RunContext, vm: string) => ctx.scenario.vms[vmIndex(ctx, vm)].nics.some((n) => n.kind === 'link');
const prefixOf = (ctx: RunContext) => [...haSlice(ctx).agents.values()][0]?.prefix;

export async function haAgent(ctx: RunContext, s: HaAgentStep): Promise<void> {
  const store = storeOf(ctx);
  const slice = haSlice(ctx);
  const vm = ctx.lab.vm(s.vm);
  const spec = ctx.specs.get(s.vm)!;
  const prefix = `run-${ctx.lab.runId}`;
  const args = [s.role, '--dev', '/dev/nvdimm0', '--endpoint', store.guestEndpoint, '--bucket', store.bucket, '--prefix', prefix, '--control-dir', '/run/fthctl'];
  if (s.chunk !== undefined) args.push('--chunk-size', String(sizeBytes(s.chunk)));
  if (s.concurrency) args.push('--concurrency', String(s.concurrency));
  if (s.pauseAt) args.push('--pause-at', s.pauseAt);
  if (s.quiesce) args.push('--quiesce-pidfile', s.quiesce);
  if (s.quiesceCmd) args.push('--quiesce-cmd', s.quiesceCmd);
  if (s.resumeCmd) args.push('--resume-cmd', s.resumeCmd);
  if (s.role === 'primary' && s.peer && hasLink(ctx, s.peer)) args.push('--standby-addr', `${linkAddress(vmIndex(ctx, s.peer))}:${SIGNAL_PORT}`);
  if (s.signalAt) args.push('--signal-at', s.signalAt);
  if (s.precopyMs) args.push('--precopy-ms', String(s.precopyMs));
  if (s.precopyTrack) args.push('--precopy-track', s.precopyTrack);
  if (s.role === 'standby') {
    args.push('--meta', '/dev/nvdimm1', '--poll-ms', String(s.pollMs ?? 1000));
    if (hasLink(ctx, s.vm)) args.push('--listen', `${linkAddress(vmIndex(ctx, s.vm))}:${SIGNAL_PORT}`);
    // The standby's content before anything happens: what "kept its previous content" means.
    if (!slice.before.has(s.vm)) slice.before.set(s.vm, await readFile(spec.nvdimms[0].backingFile));
  }
  const secret = s.credentials === 'wrong-secret' ? `${store.conn.secretAccessKey}x` : store.conn.secretAccessKey;
  const env = { ...(await handCredentials(controlDir(ctx.lab, s.vm), GUEST_MOUNTS.fthctl, store.conn, secret)), ...brokenEnv() };
  // Start marker, so waiting sees this agent's status and not one from before a reboot (guest
  // pids repeat across reboots; the start time does not).
  const before = await readStatus(ctx, s.vm);
  await ctx.history.op(s.vm, 'ha-agent-start', { role: s.role, args: args.join(' ') }, () =>
    vm.agent.spawn(`${agentCommand()} ${args.map(shellQuote).join(' ')}`, '/run/fthctl/agent.log', env));
  const ready = s.role === 'primary' ? ['ready'] : ['watching'];
  const st = await waitStatus(ctx, s.vm, ready.join('/'), 120_000, (x) => (x.pid !== before?.pid || x.agentStartedAt !== before?.agentStartedAt) && (ready.includes(x.phase) || (s.pauseAt !== undefined && x.phase === 'paused') || (x.phase === 'failed' && !x.readyAt)));
  if (st.phase === 'failed' && !st.readyAt) throw new SutDeadline(`HA agent on ${s.vm} reaches "${ready.join('/')}"`, `${s.vm}: the HA agent did not start: ${st.lastError}`, { lastStatus: st });
  slice.agents.set(s.vm, { role: s.role, prefix });
  // Where the start went, on the guest clock: process start -> agent constructed (Node
  // bootstrap + bundle load + argument parsing) -> ready (first store listing, control tail).
  const guestMs = st.processStartedAt && st.readyAt ? { loadMs: st.agentStartedAt - st.processStartedAt, initMs: st.readyAt - st.agentStartedAt } : null;
  ctx.history.add('info', s.vm, 'ha-agent-ready', { role: s.role, phase: st.phase, heldGeneration: st.heldGeneration ?? null, guestMs });
}

export async function acLoss(ctx: RunContext, s: AcLossStep): Promise<void> {
  await ctx.nemesis.inject(acLossFault, { vm: s.vm, holdupMs: s.holdup, cut: s.cut === false ? false : s.cut === 'save-end' ? 'save-end' : true }, { key: acKey(s.vm) });
}

export async function acRestore(ctx: RunContext, s: AcRestoreStep): Promise<void> {
  await ctx.nemesis.heal(acKey(s.vm));
}

export async function powerCutAt(ctx: RunContext, s: PowerCutAtStep): Promise<void> {
  const st = await waitStatus(ctx, s.vm, `paused at ${s.phase}`, (s.timeout ?? 120) * 1000, (x) => x.pausedAt === s.phase || (x.save?.endAt && x.phase !== 'paused'));
  // The validator made sure the agent was told to pause there: running past it is the SUT's doing.
  if (st.pausedAt !== s.phase) throw new SutDeadline(`HA agent on ${s.vm} pauses at ${s.phase}`, `${s.vm}: the save ended (${st.save?.outcome}) without pausing at ${s.phase}`, { lastStatus: st });
  await ctx.nemesis.end(acKey(s.vm));
  await powerCut(ctx, s.vm, `power cut of ${s.vm} at ${s.phase}`, { phase: s.phase });
  primaryMetrics(ctx, st);
}

export async function waitHa(ctx: RunContext, s: WaitHaStep): Promise<void> {
  const timeoutMs = (s.timeout ?? 120) * 1000;
  if (s.until === 'save-ended') {
    const st = await waitStatus(ctx, s.vm, 'save ended', timeoutMs, (x) => !!x.save?.endAt, { cutIsDeadline: true });
    ctx.history.add('info', s.vm, 'save-ended', { outcome: st.save.outcome, generation: st.save.generation, error: st.save.error });
    primaryMetrics(ctx, st);
    return;
  }
  if (s.until === 'precopy-synced') {
    // Two passes that began after this step did: everything written before it was read by one.
    const p0 = (await readStatus(ctx, s.vm))?.precopy?.passes;
    if (p0 === undefined) throw new Error(`wait-ha precopy-synced: the agent in "${s.vm}" runs no pre-copy (ha-agent precopyMs)`);
    const st = await waitStatus(ctx, s.vm, 'pre-copy synced', timeoutMs, (x) => (x.precopy?.passes ?? 0) >= p0 + 2);
    ctx.history.add('info', s.vm, 'precopy-synced', { passes: st.precopy.passes, chunksHeld: st.precopy.chunksHeld, bytesUploaded: st.precopy.bytesUploaded });
    return;
  }
  const startHeld = ctx.history.events.filter((e) => e.f === 'ha-agent-ready' && e.process === s.vm).at(-1)?.value as { heldGeneration?: string } | undefined;
  if (s.until === 'holds-new') {
    const st = await waitStatus(ctx, s.vm, 'holds a newer generation', timeoutMs, (x) => !!x.heldGeneration && x.heldGeneration !== (startHeld?.heldGeneration ?? null) && x.phase === 'watching');
    const t0 = haSlice(ctx).noticeAt;
    if (t0) addHaMetric(ctx, 'rto_ms', Date.now() - t0);
    if (st.restore?.endAt && st.restore?.startAt) addHaMetric(ctx, 'restore_duration_ms', st.restore.endAt - st.restore.startAt);
    // The standby's own timings (its report: phases for bench:pmem-ha, never the verdict).
    ctx.history.add('info', s.vm, 'holds', { generation: st.heldGeneration, trigger: st.restore?.trigger, restore: st.restore, prefetch: st.prefetch ?? null });
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
  ctx.history.add('info', s.vm, 'settled', { heldGeneration: st.heldGeneration, restore: st.restore ? { trigger: st.restore.trigger, outcome: st.restore.outcome, generation: st.restore.generation } : null, refusals: st.refusals?.slice(-3),
    prefetch: st.prefetch ? { generation: st.prefetch.generation, chunksStaged: st.prefetch.chunksStaged, end: st.prefetch.end } : null });
}

export async function corruptChunk(ctx: RunContext, s: CorruptChunkStep): Promise<void> {
  const prefix = prefixOf(ctx);
  if (!prefix) throw new Error('corrupt-chunk: no HA agent in this run yet');
  await ctx.nemesis.inject(corruptChunkFault, { prefix, mode: s.mode, chunk: s.chunk });
}

/** Everything judgeHa needs, read by the harness now: the primary at its last cut (or now), the
 *  standby now and before, every generation (newest `n`), torn saves, the standby's own word. */
export async function haEvidence(ctx: RunContext, o: { primary: string; standby: string; expect: HaEvidence['expect']; previous?: Buffer; generations?: number }): Promise<HaEvidence> {
  const store = storeOf(ctx);
  const slice = haSlice(ctx);
  const prefix = slice.agents.get(o.primary)?.prefix ?? slice.agents.get(o.standby)?.prefix;
  if (!prefix) throw new Error('check-ha: no HA agent was started');
  const pSpec = ctx.specs.get(o.primary)!;
  const sSpec = ctx.specs.get(o.standby)!;
  const before = o.previous ?? slice.before.get(o.standby);
  if (!before) throw new Error(`check-ha: no "previous" content of ${o.standby} (start its ha-agent first or name a snapshot-pmem)`);
  return {
    // Device frames: a region made fsdax by its guest starts past the info block (fs-truth.ts).
    primaryAtCut: digest(deviceBytes(ctx.cuts.get(`${o.primary}:0`) ?? await readFile(pSpec.nvdimms[0].backingFile))),
    standbyNow: digest(deviceBytes(await readFile(sSpec.nvdimms[0].backingFile))),
    standbyBefore: digest(deviceBytes(before)),
    generations: await readGenerations(store, prefix, o.generations ?? 5, slice.seenIntact),
    expect: o.expect,
    standbyStatus: await readStatus(ctx, o.standby),
    uncommitted: await uncommittedSaves(store, prefix),
  };
}

export async function checkHa(ctx: RunContext, s: CheckHaStep): Promise<void> {
  await ctx.nemesis.settle(); // the cut at the end of a hold-up belongs before the judgement
  const previous = s.previous !== undefined ? ctx.snapshots.get(s.previous) : undefined;
  const input = await haEvidence(ctx, { primary: s.primary, standby: s.standby, expect: s.expect, previous });
  const check = await ctx.evidence.judge('pmem-ha/ha', input);
  addCheck(ctx, check);
  const atRisk = (check.evidence as { dataAtRiskBytes?: number } | undefined)?.dataAtRiskBytes;
  addHaMetric(ctx, 'rpo_bytes', atRisk);
  recordMissingHaMetrics(ctx, atRisk === 0, check.message);
}

export async function checkHaFs(ctx: RunContext, s: CheckHaFsStep): Promise<void> {
  await ctx.nemesis.settle();
  const backing = ctx.specs.get(s.standby)!.nvdimms[0].backingFile;
  const durableLog = s.writer && s.log ? join(controlDir(ctx.lab, s.writer), s.log) : undefined;
  const truth = await ctx.history.op('checker', 'fs-truth', { backing, durableLog, pools: s.pools }, () => fsTruth(backing, ctx.lab.workDir, { pools: s.pools, durableLog }))
  addCheck(ctx, await ctx.evidence.judge('pmem-ha/fs', { ...truth, dir: s.dir ?? '/data', name: `standby ${s.standby}: filesystem on its PMEM` }));
}

export async function holdupSweep(ctx: RunContext, s: HoldupSweepStep): Promise<void> {
  const slice = haSlice(ctx);
  const pSpec = ctx.specs.get(s.primary)!;
  if (!slice.agents.get(s.primary) || !slice.agents.has(s.standby)) throw new Error('holdup-sweep: start both HA agents first (ha-agent steps)');
  const regionMiB = pSpec.nvdimms[0].sizeMiB;
  const fillMiB = Math.max(1, Math.round(regionMiB * (s.fill ?? 0.5)));
  const resolution = s.resolution ?? 1000;
  const dirty = s.precopyMs ? s.dirty ?? 0.1 : undefined;
  const labels = { pmem_size: `${regionMiB}MiB`, fill: String(s.fill ?? 0.5), ...(dirty !== undefined ? { precopy: 'on', dirty: String(dirty), ...(s.precopyTrack === 'dm-era' ? { track: 'dm-era' } : {}) } : {}) };
  const probes: { holdupMs: number; evidence: HaEvidence }[] = [];
  let { lo, hi } = s;
  const probe = async (h: number, k: number): Promise<boolean> => {
    const vm = ctx.lab.vm(s.primary);
    if (!(await vm.isRunning())) {
      await bootVm(ctx, s.primary);
      await haAgent(ctx, { do: 'ha-agent', vm: s.primary, role: 'primary', peer: s.standby, ...(s.precopyMs ? { precopyMs: s.precopyMs, ...(s.precopyTrack ? { precopyTrack: s.precopyTrack } : {}) } : {}) });
    }
    const bytes = patternBytes(ctx.seed, `sweep-${k}`, fillMiB * 2 ** 20);
    await writeFile(join(ctx.lab.shareDir, `sweep-${k}.bin`), bytes);
    await vm.agent.sh(`dd if=${GUEST_MOUNTS.fthrun}/sweep-${k}.bin of=/dev/nvdimm0 bs=1M oflag=direct conv=notrunc,fsync 2>/dev/null`);
    if (dirty !== undefined) {
      // Pre-copy: the fill is copied while AC is present; then a fresh `dirty` share of the region
      // changes, and only that is left for the hold-up.
      await waitHa(ctx, { do: 'wait-ha', vm: s.primary, until: 'precopy-synced', timeout: 300 });
      const dirtyMiB = Math.max(1, Math.round(regionMiB * dirty));
      await writeFile(join(ctx.lab.shareDir, `sweep-${k}-dirty.bin`), patternBytes(ctx.seed, `sweep-${k}-dirty`, dirtyMiB * 2 ** 20));
      await vm.agent.sh(`dd if=${GUEST_MOUNTS.fthrun}/sweep-${k}-dirty.bin of=/dev/nvdimm0 bs=1M oflag=direct conv=notrunc,fsync 2>/dev/null`);
    }
    const before = await readFile(ctx.specs.get(s.standby)!.nvdimms[0].backingFile);
    await ctx.nemesis.inject(acLossFault, { vm: s.primary, holdupMs: h, cut: true, why: `sweep probe ${k}: AC loss, hold-up ${h} ms` }, { key: acKey(s.primary) });
    await ctx.nemesis.settle(); // the cut when the hold-up ends
    await waitHa(ctx, { do: 'wait-ha', vm: s.standby, until: 'settled', settle: 3000 });
    const evidence = await haEvidence(ctx, { primary: s.primary, standby: s.standby, expect: 'restored', previous: before, generations: 2 });
    probes.push({ holdupMs: h, evidence });
    const ok = judgeProbe(evidence).ok;
    addMetric(ctx, metricName('holdup_probe_ms', labels), 'ms', h, 'hold-up of each sweep probe');
    addMetric(ctx, metricName('holdup_probe_ok', labels), 'bool', ok ? 1 : 0, '1 = committed and restored at this hold-up');
    return ok;
  };
  let k = 0;
  if (await probe(hi, k++)) {
    while (hi - lo > resolution) {
      const mid = Math.round((lo + hi) / 2);
      if (await probe(mid, k++)) hi = mid; else lo = mid;
    }
    addMetric(ctx, metricName('holdup_min_ms', labels), 'ms', hi, `shortest hold-up (±${resolution} ms) that gave a committed, restored generation`);
  }
  addCheck(ctx, await ctx.evidence.judge('pmem-ha/holdup-sweep', { regionMiB, fill: s.fill ?? 0.5, ...(dirty !== undefined ? { dirty, ...(s.precopyTrack === 'dm-era' ? { track: 'dm-era' as const } : {}) } : {}), hi: s.hi, resolution, probes }));
}

