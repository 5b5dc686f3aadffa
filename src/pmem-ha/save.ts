// Save: copy a quiesced region into the store as a new generation.
//
// Commit rule: a generation exists only when <gen>/manifest.json exists, is valid, and every
// non-zero chunk it lists is stored with the listed sha256. We upload all chunks first, then the
// manifest with If-None-Match: * (the commit point), then the advisory `latest` pointer.
// Anything that stops us before the manifest (deadline, abandon, crash, power cut) leaves at
// most orphan chunk objects, which no reader treats as a generation.

import { hostname } from 'node:os';
import { dropDeviceCache, openRegion, isAllZero, runPool, DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY } from './chunks.js';
import { chunkKey, genDir, latestKey, manifestKey, nextGeneration } from './layout.js';
import { sealManifest, serializeManifest, parseManifest, sha256Hex, zeroChunkSha, type ChunkEntry, type Manifest } from './manifest.js';
import { DeadlineError, S3OpError, withRetry, type ObjectStore } from './store.js';
import type { PauseControl } from './pause.js';
import { md5Hex, type CleanChunks, type Precopied } from './precopy.js';
import { isBroken } from '../shared/broken-sut.js';

/** What the primary tells the standby (and what `latest` holds). The standby re-verifies it. */
export interface CommitClaim {
  generation: string;
  manifestKey: string;
  manifestSha256: string;
}

export interface SaveProgress {
  generation: string;
  chunksTotal: number;
  /** chunks read from the device */
  chunksRead: number;
  bytesRead: number;
  /** chunks taken without reading: not written since the tracked pre-copy read them */
  chunksKnown: number;
  chunksZero: number;
  chunksUploaded: number;
  bytesUploaded: number;
  bytesSkipped: number;
  /** chunks unchanged since the pre-copy stored them: named by content, not uploaded */
  chunksPrecopied: number;
  bytesPrecopied: number;
}

export type SaveEvent =
  | { type: 'save-start'; generation: string; regionSize: number; chunkSize: number; chunksTotal: number }
  /** known: taken without reading it (tracked pre-copy) */
  | { type: 'chunk-done'; index: number; zero: boolean; known?: boolean; progress: SaveProgress }
  | { type: 'chunks-done'; progress: SaveProgress }
  | { type: 'tracked'; written: number; queryMs: number }
  | { type: 'retry'; op: string; attempt: number; delayMs: number; error: string }
  | { type: 'manifest-committed'; claim: CommitClaim }
  | { type: 'signal-done'; acked: boolean; detail: string }
  | { type: 'latest-updated' }
  | { type: 'latest-failed'; error: string };

export interface SaveOptions {
  store: ObjectStore;
  prefix: string;
  regionPath: string;
  /** Override the detected size (tests, or a device whose size sysfs cannot tell). */
  regionSize?: number;
  chunkSize?: number;
  concurrency?: number;
  sourceId?: string;
  /** Newest generation id already in the store, so ours sorts after it even if the clock went back. */
  newestKnown?: string | null;
  /** Hold-up end, wall-clock ms: retries stop and in-flight requests are aborted there. */
  deadline?: number;
  /** Abort = abandon the save (AC came back). Honoured up to the manifest PUT. */
  signal?: AbortSignal;
  pause?: PauseControl;
  /** Pipelined restore: tell the standby the save has begun (not awaited: the chunks do not wait
   *  for it; it is stopped at the commit, or by abandon and the deadline through `signal`). */
  notifyStart?: (info: { generation: string; regionSize: number; chunkSize: number; chunksTotal: number }, opts: { deadline?: number; signal?: AbortSignal }) => void;
  /** Tell the standby; resolves true once acked. Called after the manifest is committed. */
  notify?: (claim: CommitClaim, opts: { deadline?: number; signal?: AbortSignal }) => Promise<{ acked: boolean; detail: string }>;
  onEvent?: (ev: SaveEvent) => void;
  /** Continuous pre-copy: chunks already stored by content, with the md5 of the bytes stored. A
   *  chunk whose bytes still have that md5 is named by content (cas) instead of uploaded. */
  precopied?: ReadonlyMap<number, Precopied>;
  /** Tracked pre-copy (dm-era), called instead of dropping the device cache: flushes the writer
   *  device, and chunks not written since the last pass are taken without reading them (held: by
   *  content; known zero: as zero). */
  clean?: () => Promise<CleanChunks | undefined>;
  /** For tests: the generation id to use (e.g. to provoke a manifest race). */
  generation?: string;
}

export type SaveOutcome = 'committed' | 'abandoned' | 'failed';

export interface SaveResult {
  outcome: SaveOutcome;
  generation: string;
  progress: SaveProgress;
  manifest?: Manifest;
  claim?: CommitClaim;
  signalAcked?: boolean;
  /** One line, secret-free; set when outcome is failed or abandoned. */
  error?: string;
  /** true when the region was not committed: its content is at risk if power is lost now. */
  dataAtRisk: boolean;
}

class AbandonedError extends Error {
  override name = 'AbandonedError';
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => undefined); // parked workers may never be there to observe it
  return { promise, resolve, reject };
}

/** Rejects when `signal` aborts; never settles otherwise. */
function rejectOn(signal: AbortSignal | undefined): Promise<never> {
  return new Promise<never>((_, reject) => {
    if (!signal) return;
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** The manifest key already held someone else's manifest: If-None-Match: * refused our commit. */
export class ManifestRaceError extends Error {
  override name = 'ManifestRaceError';
}

export async function saveRegion(opts: SaveOptions): Promise<SaveResult> {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const generation = opts.generation ?? nextGeneration(opts.newestKnown);
  const emit = (ev: SaveEvent): void => opts.onEvent?.(ev);
  // After the quiesce: what the device cache holds may predate DAX writes to the region.
  // Tracked: clean() flushes the writer device (so buffered writes count as written) and asks.
  const clean = opts.clean ? await opts.clean() : await dropDeviceCache(opts.regionPath);
  if (clean) emit({ type: 'tracked', written: clean.written.size, queryMs: clean.queryMs });
  const region = await openRegion(opts.regionPath, { chunkSize, size: opts.regionSize });
  const progress: SaveProgress = {
    generation,
    chunksTotal: region.chunkCount,
    chunksRead: 0,
    bytesRead: 0,
    chunksKnown: 0,
    chunksZero: 0,
    chunksUploaded: 0,
    bytesUploaded: 0,
    bytesSkipped: 0,
    chunksPrecopied: 0,
    bytesPrecopied: 0,
  };
  // One signal for "stop now": abandon from the caller, or the hold-up deadline.
  const signals: AbortSignal[] = [];
  if (opts.signal) signals.push(opts.signal);
  if (opts.deadline !== undefined) signals.push(AbortSignal.timeout(Math.max(0, opts.deadline - Date.now())));
  const stop = signals.length ? AbortSignal.any(signals) : undefined;
  const retry = <T>(op: string, fn: () => Promise<T>, deadline = opts.deadline): Promise<T> =>
    withRetry(fn, {
      deadline,
      signal: stop,
      onRetry: (err, attempt, delayMs) => emit({ type: 'retry', op, attempt, delayMs: Math.round(delayMs), error: err.message }),
    });
  const pauseAt = opts.pause?.at;
  const pauseHere = async (point: string): Promise<void> => {
    if (opts.pause && pauseAt?.point === point && pauseAt.k === undefined) await opts.pause.wait(point);
  };
  const startedAt = Date.now();
  const entries: ChunkEntry[] = new Array(region.chunkCount);
  let manifest: Manifest | undefined;
  let claim: CommitClaim | undefined;
  try {
    emit({ type: 'save-start', generation, regionSize: region.size, chunkSize, chunksTotal: region.chunkCount });
    opts.notifyStart?.({ generation, regionSize: region.size, chunkSize, chunksTotal: region.chunkCount }, { deadline: opts.deadline, signal: stop });
    await pauseHere('before-first-chunk');

    // after-chunks:k — workers holding upload tickets 1..k store their chunk; the worker whose
    // upload makes the count k records the pause; later tickets park until the pause ends (or
    // the pool fails), so exactly k chunk objects exist while paused.
    const gateK = pauseAt?.point === 'after-chunks' ? pauseAt.k : undefined;
    let tickets = 0;
    let pausing: Promise<void> | undefined;
    const gate = deferred();
    const poolFailed = new AbortController();
    const reachGate = (): Promise<void> => {
      if (!pausing) {
        pausing = opts.pause!.wait(`after-chunks:${gateK}`);
        pausing.then(gate.resolve, gate.reject);
      }
      return pausing;
    };
    const park = (): Promise<void> => Promise.race([gate.promise, rejectOn(poolFailed.signal), rejectOn(stop)]);
    if (gateK === 0) await reachGate();

    const buffers = Array.from({ length: Math.min(concurrency, region.chunkCount) }, () => Buffer.allocUnsafe(chunkSize));
    const saveChunk = async (index: number, slot: number): Promise<void> => {
      const pre = opts.precopied?.get(index);
      if (clean && !clean.written.has(index) && (pre || clean.zero.has(index))) {
        // Not written since the pre-copy read it: what that read found still holds.
        entries[index] = pre
          ? { index, sha256: pre.sha256, zero: false, cas: true }
          : { index, sha256: zeroChunkSha(region.chunkLength(index)), zero: true };
        progress.chunksKnown++;
        if (pre) {
          progress.chunksPrecopied++;
          progress.bytesPrecopied += region.chunkLength(index);
        } else {
          progress.chunksZero++;
          progress.bytesSkipped += region.chunkLength(index);
        }
        emit({ type: 'chunk-done', index, zero: !pre, known: true, progress: { ...progress } });
        return;
      }
      const data = await region.readChunk(index, buffers[slot]);
      progress.chunksRead++;
      progress.bytesRead += data.byteLength;
      // A chunk the pre-copy holds is compared first: its md5 matching means unchanged (and so
      // not zero: the pre-copy holds no zero chunk), which spares the zero scan of most chunks.
      // FTH_BROKEN_SUT=pmem-ha-primary:stale-precopy (tests of the checkers only): trust the
      // pre-copy without looking whether the chunk changed since.
      if (pre && (isBroken('pmem-ha-primary', 'stale-precopy') || md5Hex(data) === pre.md5)) {
        entries[index] = { index, sha256: pre.sha256, zero: false, cas: true };
        progress.chunksPrecopied++;
        progress.bytesPrecopied += data.byteLength;
        emit({ type: 'chunk-done', index, zero: false, progress: { ...progress } });
        return;
      }
      const zero = isAllZero(data);
      entries[index] = { index, sha256: zero ? zeroChunkSha(data.byteLength) : sha256Hex(data), zero };
      if (zero) {
        progress.chunksZero++;
        progress.bytesSkipped += data.byteLength;
      } else {
        if (gateK !== undefined && tickets++ >= gateK) await park();
        await retry('PutObject chunk', () => opts.store.put(chunkKey(opts.prefix, generation, index), data, { signal: stop, sha256: entries[index].sha256 }));
        progress.chunksUploaded++;
        progress.bytesUploaded += data.byteLength;
      }
      // Reported before the gate, so a pause at after-chunks:k shows k stored chunks.
      emit({ type: 'chunk-done', index, zero, progress: { ...progress } });
      if (!zero && gateK !== undefined && progress.chunksUploaded === gateK) await reachGate();
    };
    await runPool(
      region.chunkCount,
      concurrency,
      (index, slot) =>
        saveChunk(index, slot).catch((err: unknown) => {
          poolFailed.abort(err); // unparks workers waiting at an after-chunks gate
          throw err;
        }),
      stop,
    );
    emit({ type: 'chunks-done', progress: { ...progress } });
    // Fewer non-zero chunks than k: pause at the end of the chunk stage, so the point is still reached.
    if (gateK !== undefined && !pausing) await reachGate();
    await pauseHere('before-manifest');
    if (opts.signal?.aborted) throw new AbandonedError('abandoned before the manifest was written');

    manifest = sealManifest({
      format: 'ftharness.pmem-ha.manifest',
      // version 2 only where it is needed: a save without pre-copy stays readable by version 1
      version: entries.some((e) => e.cas) ? 2 : 1,
      generation,
      sourceId: opts.sourceId ?? `${hostname()}:${opts.regionPath}`,
      regionSize: region.size,
      chunkSize,
      chunks: entries,
      startedAt,
      committedAt: Date.now(),
    });
    claim = { generation, manifestKey: manifestKey(opts.prefix, generation), manifestSha256: manifest.manifestSha256 };
    await commitManifest(opts.store, claim.manifestKey, manifest, (fn) => retry('PutObject manifest', fn));
    emit({ type: 'manifest-committed', claim });
  } catch (err) {
    await region.close();
    const abandoned = opts.signal?.aborted === true || err instanceof AbandonedError;
    // The deadline is the only other thing that aborts `stop`.
    const timedOut = !abandoned && (err instanceof DeadlineError || stop?.aborted === true);
    let error: string;
    if (abandoned) error = `save of generation ${generation} abandoned (AC restored) after ${progress.chunksUploaded} chunk(s) stored; no manifest written`;
    else if (timedOut) error = `hold-up budget exhausted: ${progress.chunksUploaded} chunk(s) stored, ${progress.chunksTotal - progress.chunksRead - progress.chunksKnown} not read, no manifest; data at risk (${err instanceof Error ? err.message : String(err)})`;
    else error = `save of generation ${generation} failed: ${err instanceof Error ? err.message : String(err)}`;
    return { outcome: abandoned ? 'abandoned' : 'failed', generation, progress, error, dataAtRisk: true };
  }
  await region.close();

  // Committed. What follows only speeds the standby up; failures here lose no data.
  let signalAcked: boolean | undefined;
  try {
    await pauseHere('after-manifest');
    if (opts.notify) {
      const r = await opts.notify(claim, { deadline: opts.deadline, signal: opts.signal });
      signalAcked = r.acked;
      emit({ type: 'signal-done', acked: r.acked, detail: r.detail });
    }
    await pauseHere('after-signal');
    const latest = Buffer.from(JSON.stringify({ ...claim, committedAt: manifest.committedAt }) + '\n');
    try {
      await retry('PutObject latest', () => opts.store.put(latestKey(opts.prefix), latest, { contentType: 'application/json', signal: opts.signal }));
      emit({ type: 'latest-updated' });
    } catch (err) {
      emit({ type: 'latest-failed', error: err instanceof Error ? err.message : String(err) });
    }
  } catch {
    // An abort while paused after the commit: the generation stands.
  }
  return { outcome: 'committed', generation, progress, manifest, claim, signalAcked, dataAtRisk: false };
}

/**
 * PUT the manifest with If-None-Match: *. A 412 on a *retry* may be our own earlier attempt that
 * succeeded but whose answer was lost, so read it back: the same manifestSha256 means committed.
 */
async function commitManifest(
  store: ObjectStore,
  key: string,
  manifest: Manifest,
  retry: (fn: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const body = serializeManifest(manifest);
  let attempts = 0;
  await retry(async () => {
    attempts++;
    try {
      await store.put(key, body, { ifNoneMatch: true, contentType: 'application/json' });
    } catch (err) {
      if (err instanceof S3OpError && (err.status === 412 || err.code === 'PreconditionFailed')) {
        if (attempts > 1) {
          const existing = await store.get(key);
          try {
            if (existing && parseManifest(existing).manifestSha256 === manifest.manifestSha256) return;
          } catch {
            // fall through to the race error
          }
        }
        throw new ManifestRaceError(`generation ${manifest.generation} already has a manifest (If-None-Match: * refused the write): another writer raced this save`);
      }
      throw err;
    }
  });
}

/**
 * Best-effort removal of an abandoned generation's orphan chunks. Safe only for a generation
 * without a manifest; a chunk PUT still in flight server-side may land afterwards and stay an
 * orphan, which is harmless (no manifest, no generation).
 */
export async function deleteUncommitted(store: ObjectStore, prefix: string, generation: string): Promise<{ deleted: number; skipped?: string }> {
  if ((await store.get(manifestKey(prefix, generation))) !== null) return { deleted: 0, skipped: 'generation is committed' };
  const { keys } = await store.list(genDir(prefix, generation));
  let deleted = 0;
  for (const k of keys) {
    await store.delete(k);
    deleted++;
  }
  return { deleted };
}
