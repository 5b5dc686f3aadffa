// The primary agent: armed until an AC-loss notice, then quiesce → save → signal, and keep the
// writers stopped until power dies or AC comes back (so the committed generation is the final
// state of the region). Driven by control events; reports through status.json / events.jsonl.
//
// AC restored during a save: if every chunk is already stored (or the fraction of chunks read is
// at least finishThreshold) the save finishes (manifest + signal, cheap); otherwise it is
// abandoned: in-flight uploads are aborted, no manifest is written, writers resume, and the
// orphan chunks of that generation are deleted best-effort in the background.

import { isBroken } from '../shared/broken-sut.js';
import { AgentBase, type ActionEvent, type StatusCommon } from './agent-base.js';
import { listGenerations } from './restore.js';
import { deleteUncommitted, saveRegion, type SaveEvent, type SaveOptions, type SaveProgress, type SaveOutcome, type SaveResult } from './save.js';
import { sendCommitSignal, sendStartSignal, type HostPort } from './signal.js';
import type { PauseAt } from './pause.js';
import type { Quiescer } from './quiesce.js';
import { Precopy, type PrecopyStatus } from './precopy.js';
import { DEFAULT_CHUNK_SIZE, regionSizeOf } from './chunks.js';
import { EraTracker } from './era.js';

export interface PrimaryConfig extends Pick<SaveOptions, 'store' | 'prefix' | 'regionPath' | 'regionSize' | 'chunkSize' | 'concurrency' | 'sourceId'> {
  controlDir: string;
  /** Every events.jsonl line is also passed here (the CLI prints them). */
  echo?: (line: string) => void;
  standby?: HostPort;
  /** commit (default): signal the standby after the manifest; start: also when the save begins,
   *  so that it fetches and verifies chunks while they land (pipelined restore). */
  signalAt?: 'commit' | 'start';
  signalKey?: string;
  pauseAt?: PauseAt;
  quiescer: Quiescer;
  /** At AC restore, finish the save if this fraction of chunks was read (default 1: only when all are stored). */
  finishThreshold?: number;
  /** Delete orphan chunks of an abandoned save (default true). */
  cleanupAbandoned?: boolean;
  /** Continuous pre-copy while AC is present: a pass every intervalMs, reading at most rateMiBs. */
  precopy?: { intervalMs: number; rateMiBs?: number; track?: 'dm-era' | 'rehash' };
}

type SaveCounts = Omit<SaveProgress, 'generation'>;

/** status.json "save": the current or last save. Times are wall-clock ms, null = not (yet) reached. */
export interface SaveStatus extends SaveCounts {
  generation: string | null;
  noticeAt: number;
  holdupMs: number;
  deadlineAt: number;
  quiesceStartAt: number | null;
  quiescedAt: number | null;
  saveStartAt: number | null;
  chunksDoneAt: number | null;
  manifestCommittedAt: number | null;
  manifestSha256: string | null;
  /** pipelined restore: the save-start signal (null: not sent, or --signal-at commit) */
  startSignalSentAt: number | null;
  startSignalAckedAt: number | null;
  signalSentAt: number | null;
  signalAckedAt: number | null;
  signalDetail: string | null;
  latestUpdatedAt: number | null;
  acRestoredAt: number | null;
  resumedAt: number | null;
  endAt: number | null;
  outcome: 'in-progress' | SaveOutcome;
  dataAtRisk: boolean;
  error: string | null;
}

export type PrimaryPhase = 'starting' | 'ready' | 'quiescing' | 'saving' | 'committing' | 'signalling' | 'saved' | 'failed' | 'paused' | 'stopped';

export interface PrimaryStatus extends StatusCommon {
  role: 'primary';
  phase: PrimaryPhase;
  /** Writers are stopped (SIGSTOP / quiesce command) right now. */
  writersStopped: boolean;
  lastCommittedGeneration: string | null;
  saves: number;
  save: SaveStatus | null;
  /** null: no pre-copy configured */
  precopy: PrecopyStatus | null;
  /** the device the region's writers must use: the dm-era device when writes are tracked */
  writerDev: string;
}

export class PrimaryAgent extends AgentBase<PrimaryStatus> {
  private abandonCtl?: AbortController;
  private startSignalCtl?: AbortController;
  private saving?: Promise<void>;
  private newestKnown: string | null = null;
  private acRestoredDuringSave = false;
  private precopy?: Precopy;
  private tracker?: EraTracker;
  /** where the agent reads the region: --dev, or the dm-era device over it */
  private regionPath: string;

  constructor(private readonly cfg: PrimaryConfig) {
    super(cfg.controlDir, 'primary', { writersStopped: false, lastCommittedGeneration: null, saves: 0, save: null, precopy: null, writerDev: cfg.regionPath }, cfg.echo);
    this.regionPath = cfg.regionPath;
  }

  async start(): Promise<void> {
    this.reporter.flush();
    this.reporter.event('agent-start', { dev: this.cfg.regionPath, quiesce: this.cfg.quiescer.describe, pauseAt: this.cfg.pauseAt ?? null });
    // Seed generation monotonicity from the store; a store that is down now is not fatal
    // (ids are time-based anyway, and the manifest PUT's If-None-Match guards collisions).
    try {
      const gens = await listGenerations(this.cfg.store, this.cfg.prefix, AbortSignal.timeout(3000));
      this.newestKnown = gens[0] ?? null;
    } catch (err) {
      this.reporter.event('store-unreachable-at-start', { error: (err as Error).message });
    }
    this.startControl();
    // The pre-copy is in the status before "ready": whoever waits for ready may look for it.
    if (this.cfg.precopy) {
      if (this.cfg.precopy.track === 'dm-era') {
        const size = this.cfg.regionSize ?? (await regionSizeOf(this.cfg.regionPath));
        this.tracker = await EraTracker.setup(this.cfg.regionPath, size, this.cfg.chunkSize ?? DEFAULT_CHUNK_SIZE);
        // From here on the agent reads the region through the tracker, as its writers write it.
        this.regionPath = this.tracker.writerDev;
        this.reporter.update({ writerDev: this.tracker.writerDev });
        this.reporter.event('write-tracking', { describe: this.tracker.describe });
      }
      this.precopy = new Precopy({
        store: this.cfg.store, prefix: this.cfg.prefix, regionPath: this.regionPath, regionSize: this.cfg.regionSize, tracker: this.tracker,
        chunkSize: this.cfg.chunkSize ?? DEFAULT_CHUNK_SIZE, intervalMs: this.cfg.precopy.intervalMs, rateMiBs: this.cfg.precopy.rateMiBs,
        onPass: (p) => {
          this.reporter.update({ precopy: p });
          this.reporter.event('precopy-pass', { passes: p.passes, chunksHeld: p.chunksHeld, changed: p.lastPassChanged });
        },
        onError: (message) => this.reporter.event('precopy-error', { error: message }),
      });
      this.reporter.update({ precopy: { ...this.precopy.status, running: true } });
    }
    this.reporter.update({ phase: 'ready', readyAt: Date.now() });
    this.reporter.event('ready', { newestKnown: this.newestKnown });
    this.precopy?.start();
  }

  /** AC is back and the writers run again: ready, and the pre-copy goes on. */
  private backToReady(): void {
    this.reporter.update({ phase: 'ready' });
    this.precopy?.start();
  }

  protected onAction(ev: ActionEvent): void {
    if (ev.event === 'ac-loss') {
      if (this.saving || this.status.writersStopped) return void this.reporter.event('ac-loss-ignored', { why: 'a save is already in progress or held' });
      this.saving = this.runSave(ev.holdupMs).finally(() => (this.saving = undefined));
      return;
    }
    // ac-restored
    const save = this.status.save;
    if (this.saving && save) {
      save.acRestoredAt = Date.now();
      this.acRestoredDuringSave = true;
      if (this.status.phase === 'paused') return void this.reporter.event('ac-restored-while-paused', { pausedAt: this.status.pausedAt });
      const threshold = this.cfg.finishThreshold ?? 1;
      const allStored = save.chunksDoneAt !== null;
      const fraction = save.chunksTotal ? (save.chunksRead + save.chunksKnown) / save.chunksTotal : 0;
      if (allStored || fraction >= threshold) {
        this.reporter.update({});
        this.reporter.event('save-finishing', { reason: allStored ? 'all chunks stored' : `fraction read ${fraction.toFixed(2)} >= ${threshold}` });
      } else {
        this.reporter.event('save-abandoning', { chunksUploaded: save.chunksUploaded, chunksTotal: save.chunksTotal });
        this.abandonCtl?.abort(new Error('AC restored'));
      }
      return;
    }
    if (this.status.writersStopped) {
      if (save) save.acRestoredAt = Date.now();
      void this.resumeWriters().then(() => this.backToReady());
      return;
    }
    this.reporter.event('ac-restored-ignored', { why: 'no save in progress' });
  }

  private async resumeWriters(): Promise<void> {
    try {
      await this.cfg.quiescer.resume();
    } catch (err) {
      this.reporter.update({ lastError: `resume writers failed: ${(err as Error).message}` });
    }
    const save = this.status.save;
    if (save) save.resumedAt = Date.now();
    this.reporter.update({ writersStopped: false });
    this.reporter.event('writers-resumed', {});
  }

  private async runSave(holdupMs: number): Promise<void> {
    const noticeAt = Date.now();
    this.acRestoredDuringSave = false;
    this.abandonCtl = new AbortController();
    const save: SaveStatus = {
      generation: null,
      noticeAt,
      holdupMs,
      deadlineAt: noticeAt + holdupMs,
      quiesceStartAt: noticeAt,
      quiescedAt: null,
      saveStartAt: null,
      chunksTotal: 0,
      chunksRead: 0,
      bytesRead: 0,
      chunksKnown: 0,
      chunksZero: 0,
      chunksPrecopied: 0,
      bytesPrecopied: 0,
      chunksUploaded: 0,
      bytesUploaded: 0,
      bytesSkipped: 0,
      chunksDoneAt: null,
      manifestCommittedAt: null,
      manifestSha256: null,
      startSignalSentAt: null,
      startSignalAckedAt: null,
      signalSentAt: null,
      signalAckedAt: null,
      signalDetail: null,
      latestUpdatedAt: null,
      acRestoredAt: null,
      resumedAt: null,
      endAt: null,
      outcome: 'in-progress',
      dataAtRisk: true,
      error: null,
    };
    this.reporter.update({ phase: 'quiescing', save, saves: this.status.saves + 1, pausedAt: null });
    this.reporter.event('notice-received', { holdupMs, deadlineAt: save.deadlineAt });
    // The background copy stops at once (its PUT in flight is aborted and not counted): the
    // save reads every chunk itself and takes only what the pre-copy still describes.
    if (this.precopy) {
      await this.precopy.pause();
      this.reporter.update({ precopy: { ...this.precopy.status } });
    }
    let result: SaveResult;
    try {
      // FTH_BROKEN_SUT=pmem-ha-primary:no-quiesce (tests of the checkers only): writers run on.
      if (!isBroken('pmem-ha-primary', 'no-quiesce')) await this.cfg.quiescer.stop();
      save.quiescedAt = Date.now();
      this.reporter.update({ writersStopped: true, phase: 'saving' });
      this.reporter.event('writers-stopped', {});
      result = await saveRegion({
        store: this.cfg.store,
        prefix: this.cfg.prefix,
        regionPath: this.regionPath,
        regionSize: this.cfg.regionSize,
        chunkSize: this.cfg.chunkSize,
        concurrency: this.cfg.concurrency,
        sourceId: this.cfg.sourceId,
        newestKnown: this.newestKnown,
        deadline: save.deadlineAt,
        signal: this.abandonCtl.signal,
        pause: this.pauseControl(this.cfg.pauseAt, () => ({ chunksUploaded: save.chunksUploaded })),
        precopied: this.precopy?.held,
        clean: this.precopy && this.tracker ? () => this.precopy!.clean() : undefined,
        notifyStart: this.cfg.standby && this.cfg.signalAt === 'start'
          ? (info, o) => {
              const to = `${this.cfg.standby!.host}:${this.cfg.standby!.port}`;
              save.startSignalSentAt = Date.now();
              this.reporter.event('start-signal-sent', { to, generation: info.generation });
              // Never longer than the save: the commit signal supersedes it.
              this.startSignalCtl = new AbortController();
              const signal = AbortSignal.any([this.startSignalCtl.signal, ...(o.signal ? [o.signal] : [])]);
              sendStartSignal(this.cfg.standby!, info, { key: this.cfg.signalKey, deadline: o.deadline, signal }).then((r) => {
                if (r.acked) save.startSignalAckedAt = Date.now();
                this.reporter.update({});
                this.reporter.event(r.acked ? 'start-signal-acked' : 'start-signal-unacked', { detail: r.detail });
              }, () => undefined);
            }
          : undefined,
        notify: this.cfg.standby
          ? async (claim, o) => {
              this.startSignalCtl?.abort();
              save.signalSentAt = Date.now();
              this.reporter.update({ phase: 'signalling' });
              this.reporter.event('signal-sent', { to: `${this.cfg.standby!.host}:${this.cfg.standby!.port}`, generation: claim.generation });
              return sendCommitSignal(this.cfg.standby!, claim, { key: this.cfg.signalKey, deadline: o.deadline, signal: this.shutdownCtl.signal });
            }
          : undefined,
        onEvent: (ev) => this.onSaveEvent(save, ev),
      });
    } catch (err) {
      const gen = save.generation;
      result = {
        outcome: 'failed',
        generation: gen ?? '',
        dataAtRisk: true,
        error: `save failed: ${(err as Error).message}`,
        progress: { generation: gen ?? '', chunksTotal: 0, chunksRead: 0, bytesRead: 0, chunksKnown: 0, chunksZero: 0, chunksUploaded: 0, bytesUploaded: 0, bytesSkipped: 0, chunksPrecopied: 0, bytesPrecopied: 0 },
      };
    }
    if (this.shutdownCtl.signal.aborted) return;
    save.endAt = Date.now();
    save.outcome = result.outcome;
    save.dataAtRisk = result.dataAtRisk;
    save.error = result.error ?? null;
    if (result.outcome === 'committed') {
      this.newestKnown = result.generation;
      this.status.lastCommittedGeneration = result.generation;
    } else {
      this.status.lastError = result.error ?? null;
    }
    this.reporter.update({ phase: result.outcome === 'failed' ? 'failed' : result.outcome === 'committed' ? 'saved' : 'ready' });
    this.reporter.event(`save-${result.outcome}`, { error: result.error ?? null, dataAtRisk: result.dataAtRisk, ...result.progress });
    if (result.outcome === 'abandoned' || this.acRestoredDuringSave) {
      await this.resumeWriters();
      this.backToReady();
      if (result.outcome === 'abandoned' && result.generation && this.cfg.cleanupAbandoned !== false) {
        deleteUncommitted(this.cfg.store, this.cfg.prefix, result.generation).then(
          (r) => this.reporter.event('orphans-deleted', { generation: result.generation, ...r }),
          (err) => this.reporter.event('orphans-kept', { generation: result.generation, error: (err as Error).message }),
        );
      }
    }
  }

  private onSaveEvent(save: SaveStatus, ev: SaveEvent): void {
    const r = this.reporter;
    switch (ev.type) {
      case 'save-start':
        save.generation = ev.generation;
        save.saveStartAt = Date.now();
        save.chunksTotal = ev.chunksTotal;
        r.update({});
        r.event('save-start', { generation: ev.generation, regionSize: ev.regionSize, chunkSize: ev.chunkSize, chunksTotal: ev.chunksTotal });
        break;
      case 'chunk-done':
        Object.assign(save, pickCounts(ev.progress));
        r.progress({});
        // One line per chunk read; the ones taken without reading are counted in chunks-done
        // (an events.jsonl line is a synchronous write to the control share: ms each under TCG).
        if (!ev.known) r.event('chunk', { index: ev.index, zero: ev.zero, uploaded: ev.progress.chunksUploaded, read: ev.progress.chunksRead });
        break;
      case 'chunks-done':
        Object.assign(save, pickCounts(ev.progress));
        save.chunksDoneAt = Date.now();
        r.update({ phase: 'committing' });
        r.event('chunks-done', { ...pickCounts(ev.progress) });
        break;
      case 'manifest-committed':
        save.manifestCommittedAt = Date.now();
        save.manifestSha256 = ev.claim.manifestSha256;
        save.dataAtRisk = false;
        r.update({ lastCommittedGeneration: ev.claim.generation });
        r.event('manifest-committed', { ...ev.claim });
        break;
      case 'signal-done':
        save.signalDetail = ev.detail;
        if (ev.acked) save.signalAckedAt = Date.now();
        r.update({});
        r.event(ev.acked ? 'signal-acked' : 'signal-unacked', { detail: ev.detail });
        break;
      case 'latest-updated':
        save.latestUpdatedAt = Date.now();
        r.update({});
        r.event('latest-updated', {});
        break;
      case 'latest-failed':
        r.event('latest-failed', { error: ev.error });
        break;
      case 'tracked':
        r.event('write-tracking-query', { written: ev.written, queryMs: ev.queryMs });
        break;
      case 'retry':
        r.event('retry', { op: ev.op, attempt: ev.attempt, delayMs: ev.delayMs, error: ev.error });
        break;
    }
  }

  protected async onShutdown(): Promise<void> {
    this.abandonCtl?.abort(new Error('shutdown'));
    this.startSignalCtl?.abort();
    await this.precopy?.stop();
    await this.saving?.catch(() => undefined);
    if (this.status.writersStopped) await this.resumeWriters();
    await this.tracker?.close();
  }
}

function pickCounts(p: SaveProgress): SaveCounts {
  const { generation: _g, ...counts } = p;
  return counts;
}
