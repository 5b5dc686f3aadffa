// The standby agent: on boot, read the restore journal (redo an interrupted restore, or note a
// corrupt journal), then converge on the newest committed generation by two paths: the
// primary's signal (fast) and a store poll every pollMs (the fallback when the signal is lost or
// the link is cut). Either path only triggers a check; what is restored is decided from the
// store alone, after verifying the manifest and every chunk.

import { isBroken } from '../shared/broken-sut.js';
import { AgentBase, type ActionEvent, type StatusCommon } from './agent-base.js';
import { Journal, type JournalRead, type JournalRecord } from './journal.js';
import { manifestKey } from './layout.js';
import { openRegion } from './chunks.js';
import { fileStage, loadManifest, memoryStage, Prefetcher, restoreNewest, type PrefetchEnd, type Prefetched, type Refusal, type RestoreEvent, type RestoreResult } from './restore.js';
import { compareGenerations, isGenerationId } from './layout.js';
import { startSignalServer, type HostPort, type SaveStartClaim, type SignalServer } from './signal.js';
import type { PauseAt } from './pause.js';
import type { ObjectStore } from './store.js';
import type { CommitClaim } from './save.js';

export interface StandbyConfig {
  store: ObjectStore;
  prefix: string;
  regionPath: string;
  regionSize?: number;
  metaPath: string;
  controlDir: string;
  /** Every events.jsonl line is also passed here (the CLI prints them). */
  echo?: (line: string) => void;
  listen?: HostPort;
  signalKey?: string;
  pollMs?: number;
  concurrency?: number;
  pauseAt?: PauseAt;
  /** Stage verified chunks in a temp file under this dir instead of memory. */
  stageDir?: string;
  /** Test hook: throw from here to simulate a power cut mid-restore. */
  afterChunkWritten?: (written: number, total: number) => void | Promise<void>;
}

export type StandbyPhase = 'starting' | 'recovering' | 'watching' | 'verifying' | 'restoring' | 'paused' | 'stopped';
/** pipelined: a prefetch saw the manifest of the save it was following */
export type RestoreTrigger = 'boot-redo' | 'boot' | 'signal' | 'poll' | 'pipelined';

export interface RestoreStatus {
  generation: string;
  trigger: RestoreTrigger;
  startAt: number;
  verifiedAt: number | null;
  bytesFetched: number;
  /** chunks a pipelined prefetch had staged that matched the manifest (not fetched again) */
  chunksReused: number;
  writeStartAt: number | null;
  chunksWritten: number;
  chunksTotal: number;
  endAt: number | null;
  outcome: 'in-progress' | 'restored' | 'refused' | 'failed';
  error: string | null;
}

export interface StandbyStatus extends StatusCommon {
  role: 'standby';
  phase: StandbyPhase;
  /** Generation the data region fully holds (from the journal); null = none or unknown. */
  heldGeneration: string | null;
  journal: { kind: JournalRead['kind']; record: JournalRecord | null; problems: string[] };
  signalPort: number | null;
  lastSignal: { at: number; generation: string; from: string; verified: boolean | null; detail: string | null } | null;
  lastCheckAt: number | null;
  restores: number;
  restore: RestoreStatus | null;
  /** pipelined restore: the save whose chunks are (or were last) fetched while it runs */
  prefetch: PrefetchStatus | null;
  refusals: Refusal[];
}

export interface PrefetchStatus {
  generation: string;
  startAt: number;
  chunksStaged: number;
  bytesStaged: number;
  lastChunkAt: number | null;
  /** null while it runs */
  end: PrefetchEnd | null;
  endAt: number | null;
}

export class StandbyAgent extends AgentBase<StandbyStatus> {
  private journal?: Journal;
  private server?: SignalServer;
  private pollTimer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  private again?: RestoreTrigger;
  private pendingClaim?: { claim: CommitClaim; from: string };
  private prefetcher?: Prefetcher;
  private readonly refusedCache = new Map<string, string>();
  private lastCheckError: string | null = null;

  constructor(private readonly cfg: StandbyConfig) {
    super(
      cfg.controlDir,
      'standby',
      { heldGeneration: null, journal: { kind: 'blank', record: null, problems: [] }, signalPort: null, lastSignal: null, lastCheckAt: null, restores: 0, restore: null, prefetch: null, refusals: [] },
      cfg.echo,
    );
  }

  async start(): Promise<void> {
    this.reporter.flush();
    this.reporter.event('agent-start', { dev: this.cfg.regionPath, meta: this.cfg.metaPath });
    this.startControl();
    this.journal = await Journal.open(this.cfg.metaPath);
    const j = await this.journal.read();
    this.reporter.update({ journal: { kind: j.kind, record: j.kind === 'ok' ? j.record : null, problems: j.problems } });
    if (j.problems.length) this.reporter.event(j.kind === 'corrupt' ? 'journal-corrupt' : 'journal-torn-slot', { problems: j.problems });
    if (j.kind === 'corrupt') {
      // We cannot know what the region holds: claim nothing, and let the first check restore
      // the newest committed generation over all of it.
      this.reporter.update({ heldGeneration: null, lastError: `restore journal on ${this.cfg.metaPath} is corrupt (${j.problems.join('; ')}): region content unknown` });
    } else if (j.kind === 'ok' && j.record.state === 'restoring' && j.record.generation) {
      this.reporter.update({ phase: 'recovering', heldGeneration: null });
      this.reporter.event('restore-redo', { generation: j.record.generation });
      // Not awaited: a --pause-at inside the redo must not keep start() from returning.
      this.trigger('boot-redo', j.record.generation);
    } else if (j.kind === 'ok') {
      this.reporter.update({ heldGeneration: j.record.heldGeneration });
    }
    if (this.cfg.listen) {
      this.server = await startSignalServer(this.cfg.listen, {
        key: this.cfg.signalKey,
        onClaim: (claim, from) => this.onSignal(claim, from),
        onStart: (claim, from) => void this.onStartSignal(claim, from),
        onReject: (reason, from) => this.reporter.event('signal-rejected', { reason, from }),
      });
      this.reporter.update({ signalPort: this.server.port });
    }
    if (this.status.phase === 'starting') this.reporter.update({ phase: 'watching', readyAt: Date.now() });
    this.reporter.event('ready', { heldGeneration: this.status.heldGeneration, signalPort: this.status.signalPort });
    this.trigger('boot');
    const poll = (): void => {
      this.pollTimer = setTimeout(() => {
        this.trigger('poll');
        poll();
      }, this.cfg.pollMs ?? 1000);
    };
    poll();
  }

  /** ac-loss / ac-restored concern the primary; the standby only logs them (done by handle). */
  protected onAction(_ev: ActionEvent): void {}

  private onSignal(claim: CommitClaim, from: string): void {
    this.reporter.update({ lastSignal: { at: Date.now(), generation: claim.generation, from, verified: null, detail: null } });
    this.reporter.event('signal-received', { generation: claim.generation, from });
    this.pendingClaim = { claim, from };
    this.trigger('signal');
  }

  /** A save began on the primary: fetch and verify its chunks while they land (pipelined
   *  restore). The region is not touched until the manifest commits and the normal check runs. */
  private async onStartSignal(claim: SaveStartClaim, from: string): Promise<void> {
    this.reporter.event('start-signal-received', { generation: claim.generation, from });
    if (this.shutdownCtl.signal.aborted || !isGenerationId(claim.generation)) return;
    const held = this.status.heldGeneration;
    if (held && compareGenerations(claim.generation, held) <= 0) return;
    const old = this.prefetcher;
    if (old?.generation === claim.generation) return;
    if (old) {
      this.prefetcher = undefined;
      await old.discard('replaced');
      this.endPrefetch(old.generation, 'replaced');
    }
    const stage = this.cfg.stageDir ? await fileStage(this.cfg.stageDir, claim.chunkSize) : memoryStage();
    const st: PrefetchStatus = { generation: claim.generation, startAt: Date.now(), chunksStaged: 0, bytesStaged: 0, lastChunkAt: null, end: null, endAt: null };
    this.reporter.update({ prefetch: st });
    this.reporter.event('prefetch-start', { generation: claim.generation, chunksTotal: claim.chunksTotal });
    // FTH_BROKEN_SUT=pmem-ha-standby:apply-early (tests of the checkers only): write each chunk
    // into the region as it lands, before anything is committed.
    const applyEarly = isBroken('pmem-ha-standby', 'apply-early')
      ? async (index: number, data: Buffer) => {
          const region = await openRegion(this.cfg.regionPath, { chunkSize: claim.chunkSize, write: true, size: this.cfg.regionSize });
          try { await region.writeChunk(index, data); await region.sync(); } finally { await region.close(); }
        }
      : undefined;
    const p = new Prefetcher({
      store: this.cfg.store, prefix: this.cfg.prefix, generation: claim.generation, chunkSize: claim.chunkSize, stage,
      concurrency: this.cfg.concurrency, applyEarly,
      onChunk: (_i, bytes) => {
        Object.assign(st, { chunksStaged: st.chunksStaged + 1, bytesStaged: st.bytesStaged + bytes, lastChunkAt: Date.now() });
        this.reporter.progress({});
      },
      onManifest: () => this.trigger('pipelined'),
    });
    this.prefetcher = p;
    void p.ended().then(() => {
      if (p.end === 'stale') {
        if (this.prefetcher === p) this.prefetcher = undefined;
        this.endPrefetch(p.generation, 'stale');
      }
    });
  }

  private endPrefetch(generation: string, end: PrefetchEnd): void {
    const st = this.status.prefetch;
    if (st?.generation === generation) Object.assign(st, { end, endAt: Date.now() });
    this.reporter.update({});
    this.reporter.event('prefetch-end', { generation, end, chunksStaged: st?.chunksStaged ?? null });
  }

  /** The restore of `generation` takes the prefetch's stage, if one followed that save. */
  private async prefetchFor(generation: string): Promise<Prefetched | undefined> {
    const p = this.prefetcher;
    if (p?.generation !== generation) return undefined;
    this.prefetcher = undefined;
    const got = await p.handOver();
    this.endPrefetch(generation, got ? 'handed-over' : 'stale');
    return got;
  }

  /** Run a check now, or once more after the running one (checks never overlap). */
  trigger(why: RestoreTrigger, only?: string): void {
    if (this.shutdownCtl.signal.aborted) return;
    if (this.checking) {
      if (why === 'signal' || why === 'pipelined' || !this.again) this.again = why;
      return;
    }
    this.checking = this.check(why, only).finally(() => {
      this.checking = undefined;
      const next = this.again;
      this.again = undefined;
      if (next) this.trigger(next);
    });
  }

  /** Resolves when no check is running or queued (tests). */
  async idle(): Promise<void> {
    while (this.checking) await this.checking;
  }

  private async verifyClaim(): Promise<void> {
    const p = this.pendingClaim;
    this.pendingClaim = undefined;
    if (!p || !this.status.lastSignal) return;
    let verified = false;
    let detail: string;
    if (p.claim.manifestKey !== manifestKey(this.cfg.prefix, p.claim.generation)) {
      detail = `claimed manifest key ${p.claim.manifestKey} is not this prefix's key for ${p.claim.generation}`;
    } else {
      try {
        const m = await loadManifest(this.cfg.store, this.cfg.prefix, p.claim.generation, this.shutdownCtl.signal);
        if (!m) detail = 'no manifest in the store for the claimed generation';
        else if (m.manifestSha256 !== p.claim.manifestSha256) detail = `claimed sha ${p.claim.manifestSha256.slice(0, 16)}… but the stored manifest has ${m.manifestSha256.slice(0, 16)}…`;
        else {
          verified = true;
          detail = 'manifest matches the claim (chunks are verified by the restore)';
        }
      } catch (err) {
        detail = (err as Error).message;
      }
    }
    Object.assign(this.status.lastSignal, { verified, detail });
    this.reporter.update({});
    this.reporter.event(verified ? 'signal-verified' : 'signal-unverified', { generation: p.claim.generation, detail });
  }

  private async check(trigger: RestoreTrigger, only?: string): Promise<void> {
    if (!this.journal) return;
    this.status.lastCheckAt = Date.now();
    // FTH_BROKEN_SUT=pmem-ha-standby:ignore-new (tests of the checkers only): look alive, restore
    // nothing new (an interrupted restore is still redone).
    if (!only && isBroken('pmem-ha-standby', 'ignore-new')) {
      if (this.status.phase !== 'paused') this.reporter.update({ phase: 'watching' });
      return;
    }
    if (trigger === 'signal') await this.verifyClaim();
    let result: RestoreResult;
    try {
      result = await restoreNewest({
        store: this.cfg.store,
        prefix: this.cfg.prefix,
        regionPath: this.cfg.regionPath,
        regionSize: this.cfg.regionSize,
        journal: this.journal,
        concurrency: this.cfg.concurrency,
        signal: this.shutdownCtl.signal,
        newerThan: only ? null : this.status.heldGeneration,
        only,
        refusedCache: this.refusedCache,
        makeStage: async (chunkSize) => (this.cfg.stageDir ? fileStage(this.cfg.stageDir, chunkSize) : memoryStage()),
        prefetchFor: (g) => this.prefetchFor(g),
        pause: this.pauseControl(this.cfg.pauseAt, () => ({ generation: this.status.restore?.generation })),
        afterChunkWritten: this.cfg.afterChunkWritten,
        onEvent: (ev) => this.onRestoreEvent(trigger, ev),
      });
    } catch (err) {
      if (this.shutdownCtl.signal.aborted) return;
      const msg = (err as Error).message;
      const r = this.status.restore;
      if (r && r.outcome === 'in-progress') Object.assign(r, { outcome: 'failed', error: msg, endAt: Date.now() });
      this.reporter.update({ phase: 'watching', lastError: msg });
      // A store outage would otherwise log one line per poll.
      if (msg !== this.lastCheckError) this.reporter.event('check-failed', { trigger, error: msg });
      this.lastCheckError = msg;
      return;
    }
    this.lastCheckError = null;
    if (only && result.restored === null) {
      // The interrupted generation can no longer be verified: the region is mixed, claim nothing;
      // the next check restores the newest generation that does verify.
      this.reporter.event('restore-redo-impossible', { generation: only, refusals: result.refusals });
      this.reporter.update({ heldGeneration: null, lastError: `interrupted restore of ${only} cannot be redone: ${result.refusals.map((r) => r.reason).join('; ') || 'no manifest'}` });
      this.trigger('boot');
    }
    if (this.status.phase !== 'paused' && !this.shutdownCtl.signal.aborted) this.reporter.update({ phase: 'watching' });
  }

  private onRestoreEvent(trigger: RestoreTrigger, ev: RestoreEvent): void {
    const r = this.reporter;
    const st = this.status;
    switch (ev.type) {
      case 'verify-start':
        st.restore = {
          generation: ev.generation,
          trigger,
          startAt: Date.now(),
          verifiedAt: null,
          bytesFetched: 0,
          chunksReused: 0,
          writeStartAt: null,
          chunksWritten: 0,
          chunksTotal: 0,
          endAt: null,
          outcome: 'in-progress',
          error: null,
        };
        r.update({ phase: st.phase === 'recovering' ? 'recovering' : 'verifying', restores: st.restores + 1 });
        r.event('restore-start', { generation: ev.generation, trigger });
        break;
      case 'verified':
        if (st.restore) Object.assign(st.restore, { verifiedAt: Date.now(), bytesFetched: ev.bytesFetched, chunksReused: ev.chunksReused });
        r.update({});
        r.event('restore-verified', { generation: ev.generation, bytesFetched: ev.bytesFetched, chunksReused: ev.chunksReused });
        break;
      case 'refused':
        if (st.restore?.generation === ev.generation) Object.assign(st.restore, { outcome: 'refused', error: ev.reason, endAt: Date.now() });
        st.refusals = [...st.refusals.filter((x) => x.generation !== ev.generation), { generation: ev.generation, reason: ev.reason }].slice(-20);
        r.update({ lastError: `generation ${ev.generation} refused: ${ev.reason}` });
        r.event('restore-refused', { generation: ev.generation, reason: ev.reason });
        break;
      case 'journal':
        if (ev.record.state === 'restoring') {
          if (st.restore) st.restore.writeStartAt = Date.now();
          r.update({ journal: { kind: 'ok', record: ev.record, problems: [] }, heldGeneration: null, phase: st.phase === 'recovering' ? 'recovering' : 'restoring' });
        } else {
          r.update({ journal: { kind: 'ok', record: ev.record, problems: [] } });
        }
        r.event('journal', { state: ev.record.state, generation: ev.record.generation, seq: ev.record.seq });
        break;
      case 'chunk-written':
        if (st.restore) Object.assign(st.restore, { chunksWritten: ev.written, chunksTotal: ev.total });
        r.progress({});
        break;
      case 'restored':
        if (st.restore) Object.assign(st.restore, { outcome: 'restored', endAt: Date.now() });
        r.update({ heldGeneration: ev.generation, lastError: null });
        r.event('restore-end', { generation: ev.generation, trigger });
        break;
    }
  }

  protected async onShutdown(): Promise<void> {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    await this.server?.close();
    await this.prefetcher?.discard('stopped');
    await this.checking?.catch(() => undefined);
    await this.journal?.close();
  }
}
