// Restore (standby side): find the newest committed generation, fetch and verify EVERY chunk
// into a stage before the device is touched, then write the device under the journal:
//   journal restoring(G) → write all chunks (zeros included) → fsync → journal done(G).
// A power cut between the two journal writes leaves `restoring`, and the next boot redoes G
// (chunk writes are idempotent). A generation that fails verification is refused with the reason
// and never written; the next older committed generation (still newer than what we hold) is tried.

import { isBroken } from '../shared/broken-sut.js';
import { open, mkdtemp, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { openRegion, runPool, DEFAULT_CONCURRENCY } from './chunks.js';
import { casKey, chunkKey, compareGenerations, generationFromKey, genDir, genRoot, manifestKey } from './layout.js';
import { ManifestError, parseManifest, sha256Hex, type Manifest } from './manifest.js';
import { sleep, withRetry, type ObjectStore } from './store.js';
import type { Journal, JournalRecord } from './journal.js';
import type { PauseControl } from './pause.js';

/** A generation we will not restore, and why (one line). */
export class RefusedError extends Error {
  override name = 'RefusedError';
  constructor(
    readonly generation: string,
    readonly reason: string,
  ) {
    super(`generation ${generation} refused: ${reason}`);
  }
}

export interface Refusal {
  generation: string;
  reason: string;
}

/** Generation ids under <prefix>/gen/, newest first (committed or not). */
export async function listGenerations(store: ObjectStore, prefix: string, signal?: AbortSignal): Promise<string[]> {
  const { prefixes } = await store.list(genRoot(prefix), { delimiter: '/', signal });
  const gens = prefixes.map((p) => generationFromKey(prefix, p)).filter((g): g is string => g !== undefined);
  return gens.sort(compareGenerations).reverse();
}

/**
 * The manifest of `generation`: null if there is none (not a generation: in progress or
 * abandoned); RefusedError if it exists but is damaged.
 */
export async function loadManifest(store: ObjectStore, prefix: string, generation: string, signal?: AbortSignal): Promise<Manifest | null> {
  const bytes = await store.get(manifestKey(prefix, generation), { signal });
  if (bytes === null) return null;
  try {
    return parseManifest(bytes, generation);
  } catch (err) {
    if (err instanceof ManifestError) throw new RefusedError(generation, err.message);
    throw err;
  }
}

/** Where verified chunks wait until the whole generation has verified. */
export interface Stage {
  put(index: number, data: Buffer): Promise<void>;
  /** Only for indices put before. */
  get(index: number, into: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

export function memoryStage(): Stage {
  const m = new Map<number, Buffer>();
  return {
    put: async (i, d) => void m.set(i, d),
    get: async (i) => {
      const d = m.get(i);
      if (!d) throw new Error(`chunk ${i} is not staged`);
      return d;
    },
    close: async () => m.clear(),
  };
}

/** A sparse temp file under `dir` (chunk i at i*chunkSize); removed on close. */
export async function fileStage(dir: string, chunkSize: number): Promise<Stage> {
  const tmp = await mkdtemp(join(dir, 'ftha-stage-'));
  const fh: FileHandle = await open(join(tmp, 'stage'), 'w+');
  const lens = new Map<number, number>();
  return {
    put: async (i, d) => {
      await fh.write(d, 0, d.length, i * chunkSize);
      lens.set(i, d.length);
    },
    get: async (i, into) => {
      const len = lens.get(i);
      if (len === undefined) throw new Error(`chunk ${i} is not staged`);
      await fh.read(into, 0, len, i * chunkSize);
      return into.subarray(0, len);
    },
    close: async () => {
      await fh.close();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

export interface FetchOptions {
  concurrency?: number;
  signal?: AbortSignal;
  /** Give up retrying a flaky store after this long (ms); the caller tries again later. */
  retryBudgetMs?: number;
  /** Chunks already in the stage (a pipelined prefetch): reused when their sha256 and length
   *  are the manifest's, fetched again otherwise. */
  prefetched?: Map<number, StagedChunk>;
}

/** A chunk a prefetch staged before the manifest existed: what its bytes hash to. */
export interface StagedChunk { sha256: string; length: number }

/** What a prefetch hands to the restore of its generation: the stage and what it holds. */
export interface Prefetched { generation: string; chunkSize: number; stage: Stage; staged: Map<number, StagedChunk>; bytesFetched: number }

export type PrefetchEnd = 'handed-over' | 'manifest-seen' | 'stale' | 'replaced' | 'stopped';

export interface PrefetchOptions {
  store: ObjectStore;
  prefix: string;
  generation: string;
  /** the chunk size the save announced (a manifest with another one gets no prefetched chunk) */
  chunkSize: number;
  stage: Stage;
  concurrency?: number;
  /** ms between listings of the generation's chunks (default 150) */
  pollMs?: number;
  /** give up when no new chunk appeared for this long (default 60000): a torn save */
  staleMs?: number;
  /** a chunk was staged */
  onChunk?: (index: number, bytes: number) => void;
  /** the manifest is in the store: the caller starts its (normal, verifying) check now */
  onManifest?: () => void;
  /** FTH_BROKEN_SUT=pmem-ha-standby:apply-early only: write each chunk as it lands */
  applyEarly?: (index: number, data: Buffer) => Promise<void>;
}

/**
 * Pipelined restore, standby side: while the primary's save is still running, list the
 * generation's chunks as they land, fetch each once, hash it and stage it. Nothing here touches
 * the region: the restore that follows the manifest (restoreNewest with `prefetchFor`) checks
 * every staged chunk against the manifest, refetches what does not match, and only then applies.
 * A torn save leaves only a stage, dropped when the prefetch goes stale or is replaced.
 */
export class Prefetcher {
  readonly staged = new Map<number, StagedChunk>();
  bytesFetched = 0;
  /** stops the listing; fetches already queued still finish (the restore wants them) */
  private readonly listCtl = new AbortController();
  /** aborts the fetches too (discard) */
  private readonly fetchCtl = new AbortController();
  private readonly queue: number[] = [];
  private readonly known = new Set<number>();
  private active = 0;
  private waiters: (() => void)[] = [];
  private readonly done: Promise<void>;
  end: PrefetchEnd | null = null;
  lastError: string | null = null;

  constructor(private readonly o: PrefetchOptions) {
    this.done = this.loop().catch((err: unknown) => {
      if (!this.listCtl.signal.aborted) this.lastError = (err as Error).message;
    }).then(() => this.drain());
  }

  get generation(): string { return this.o.generation; }

  /** Fetch lanes pull from the queue while the listing goes on, so no lane waits for a batch. */
  private pump(): void {
    while (this.active < (this.o.concurrency ?? DEFAULT_CONCURRENCY) && this.queue.length && !this.fetchCtl.signal.aborted) {
      const index = this.queue.shift()!;
      this.active++;
      void this.fetchOne(index).finally(() => {
        this.active--;
        this.pump();
        if (!this.active && !this.queue.length) this.wake();
      });
    }
  }

  private async fetchOne(index: number): Promise<void> {
    const signal = this.fetchCtl.signal;
    try {
      const data = await this.o.store.get(chunkKey(this.o.prefix, this.o.generation, index), { signal });
      if (data === null) return; // listed, then gone: the restore fetches (or refuses) it
      await this.o.stage.put(index, data);
      this.staged.set(index, { sha256: sha256Hex(data), length: data.length });
      this.bytesFetched += data.length;
      this.o.onChunk?.(index, data.length);
      await this.o.applyEarly?.(index, data);
    } catch (err) {
      if (!signal.aborted) this.lastError = (err as Error).message;
    }
  }

  /** Resolves when no fetch is queued or running (or the fetches were aborted). */
  private drain(): Promise<void> {
    if ((!this.active && !this.queue.length) || this.fetchCtl.signal.aborted) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private async loop(): Promise<void> {
    const dir = genDir(this.o.prefix, this.o.generation);
    const chunkRe = /chunk\/(\d+)$/;
    const signal = this.listCtl.signal;
    let lastNew = Date.now();
    while (!signal.aborted) {
      let keys: string[];
      try {
        ({ keys } = await this.o.store.list(dir, { signal }));
      } catch (err) {
        if (signal.aborted) return;
        this.lastError = (err as Error).message;
        keys = [];
      }
      for (const m of keys.map((k) => chunkRe.exec(k))) {
        const i = m ? Number(m[1]) : NaN;
        if (Number.isInteger(i) && !this.known.has(i)) {
          this.known.add(i);
          this.queue.push(i);
          lastNew = Date.now();
        }
      }
      this.pump();
      if (keys.includes(manifestKey(this.o.prefix, this.o.generation))) {
        await this.drain();
        this.end = 'manifest-seen';
        this.o.onManifest?.();
        return;
      }
      if (Date.now() - lastNew > (this.o.staleMs ?? 60_000)) {
        this.fetchCtl.abort();
        this.end = 'stale';
        await this.o.stage.close();
        return;
      }
      try { await sleep(this.o.pollMs ?? 150, signal); } catch { return; }
    }
  }

  /** Stop listing, let the queued fetches finish, and hand the stage to the restore (undefined:
   *  the prefetch went stale and dropped its stage). */
  async handOver(): Promise<Prefetched | undefined> {
    this.listCtl.abort();
    await this.done;
    if (this.end === 'stale') return undefined;
    this.end = 'handed-over';
    return { generation: this.o.generation, chunkSize: this.o.chunkSize, stage: this.o.stage, staged: this.staged, bytesFetched: this.bytesFetched };
  }

  /** Stop, abort the fetches and drop the stage (a newer save began, or shutdown). */
  async discard(why: 'replaced' | 'stopped'): Promise<void> {
    this.listCtl.abort();
    this.fetchCtl.abort();
    this.wake();
    await this.done;
    if (this.end !== 'stale') await this.o.stage.close();
    this.end = why;
  }

  /** Resolves when the loop has ended by itself (manifest seen or stale) or was stopped. */
  ended(): Promise<void> { return this.done; }
}

/**
 * Fetch every non-zero chunk of `manifest`, check its sha256, and stage it. Throws RefusedError
 * naming the first bad chunk (missing chunk k / checksum mismatch at chunk k / wrong size).
 */
export async function fetchAndVerify(store: ObjectStore, prefix: string, manifest: Manifest, stage: Stage, opts: FetchOptions = {}): Promise<{ bytesFetched: number; chunksReused: number }> {
  const deadline = Date.now() + (opts.retryBudgetMs ?? 30000);
  let bytesFetched = 0;
  const lengthOf = (index: number) => Math.min(manifest.chunkSize, manifest.regionSize - index * manifest.chunkSize);
  const nonZero = manifest.chunks.filter((c) => !c.zero);
  // A prefetched chunk counts only when its bytes hash to what the manifest names.
  const reused = nonZero.filter((c) => {
    const p = opts.prefetched?.get(c.index);
    return p !== undefined && p.sha256 === c.sha256 && p.length === lengthOf(c.index);
  });
  const wanted = nonZero.filter((c) => !reused.includes(c));
  await runPool(
    wanted.length,
    opts.concurrency ?? DEFAULT_CONCURRENCY,
    async (n) => {
      const c = wanted[n];
      const key = c.cas ? casKey(prefix, c.sha256) : chunkKey(prefix, manifest.generation, c.index);
      const data = await withRetry(() => store.get(key, { signal: opts.signal }), { deadline, signal: opts.signal });
      if (data === null) throw new RefusedError(manifest.generation, `missing chunk ${c.index} (${key})`);
      const expectLen = lengthOf(c.index);
      if (data.length !== expectLen) throw new RefusedError(manifest.generation, `chunk ${c.index} is ${data.length} bytes, manifest needs ${expectLen}`);
      const sha = sha256Hex(data);
      // FTH_BROKEN_SUT=pmem-ha-standby:skip-verify (tests of the checkers only): trust the store.
      if (sha !== c.sha256 && !isBroken('pmem-ha-standby', 'skip-verify')) throw new RefusedError(manifest.generation, `checksum mismatch at chunk ${c.index}: stored ${sha.slice(0, 16)}…, manifest ${c.sha256.slice(0, 16)}…`);
      bytesFetched += data.length;
      await stage.put(c.index, data);
    },
    opts.signal,
  );
  return { bytesFetched, chunksReused: reused.length };
}

export type RestoreEvent =
  | { type: 'refused'; generation: string; reason: string }
  | { type: 'verify-start'; generation: string }
  | { type: 'verified'; generation: string; bytesFetched: number; chunksReused: number }
  | { type: 'journal'; record: JournalRecord }
  | { type: 'chunk-written'; generation: string; written: number; total: number }
  | { type: 'restored'; generation: string };

export interface ApplyOptions {
  regionPath: string;
  regionSize?: number;
  journal: Journal;
  pause?: PauseControl;
  /** Test hook: called after each chunk is written; throw to simulate a power cut. */
  afterChunkWritten?: (written: number, total: number) => void | Promise<void>;
  onEvent?: (ev: RestoreEvent) => void;
}

/** Write a verified, staged generation into the region under the journal. */
export async function applyStaged(manifest: Manifest, stage: Stage, opts: ApplyOptions): Promise<JournalRecord> {
  const region = await openRegion(opts.regionPath, { chunkSize: manifest.chunkSize, write: true, size: opts.regionSize });
  const emit = (ev: RestoreEvent): void => opts.onEvent?.(ev);
  const pauseAt = opts.pause?.at;
  try {
    if (region.size !== manifest.regionSize) {
      throw new RefusedError(manifest.generation, `it is for a region of ${manifest.regionSize} bytes, ${opts.regionPath} has ${region.size}`);
    }
    emit({
      type: 'journal',
      record: await opts.journal.write({ state: 'restoring', generation: manifest.generation, manifestSha256: manifest.manifestSha256, heldGeneration: null }),
    });
    if (pauseAt?.point === 'before-restore-write') await opts.pause!.wait('before-restore-write');
    const zero = Buffer.alloc(manifest.chunkSize);
    const buf = Buffer.allocUnsafe(manifest.chunkSize);
    const total = manifest.chunks.length;
    // Sequential on purpose: exact "k chunks written" points for the pause and the tests; a
    // PMEM write is a memcpy, the store fetch (parallel) is where the time goes.
    for (let i = 0; i < total; i++) {
      if (pauseAt?.point === 'after-restore-chunks' && pauseAt.k === i) await opts.pause!.wait(`after-restore-chunks:${i}`);
      const c = manifest.chunks[i];
      const data = c.zero ? zero.subarray(0, region.chunkLength(i)) : await stage.get(i, buf);
      await region.writeChunk(i, data);
      emit({ type: 'chunk-written', generation: manifest.generation, written: i + 1, total });
      await opts.afterChunkWritten?.(i + 1, total);
    }
    if (pauseAt?.point === 'after-restore-chunks' && pauseAt.k !== undefined && pauseAt.k >= total) await opts.pause!.wait(`after-restore-chunks:${pauseAt.k}`);
    await region.sync();
    if (pauseAt?.point === 'before-journal-done') await opts.pause!.wait('before-journal-done');
    const done = await opts.journal.write({ state: 'done', generation: manifest.generation, manifestSha256: manifest.manifestSha256, heldGeneration: manifest.generation });
    emit({ type: 'journal', record: done });
    emit({ type: 'restored', generation: manifest.generation });
    return done;
  } finally {
    await region.close();
  }
}

export interface RestoreOptions extends ApplyOptions, FetchOptions {
  store: ObjectStore;
  prefix: string;
  /** Only generations strictly newer than this are considered (null/undefined = all). */
  newerThan?: string | null;
  /** Only this generation (boot redo). */
  only?: string;
  /** Generations already refused (same manifest sha): skip without refetching. */
  refusedCache?: Map<string, string>;
  makeStage?: (chunkSize: number) => Promise<Stage>;
  /** Pipelined restore: the prefetch of this generation, if one ran (its stage is used). */
  prefetchFor?: (generation: string) => Promise<Prefetched | undefined>;
}

export interface RestoreResult {
  /** The generation now held, or null if nothing was restored. */
  restored: string | null;
  refusals: Refusal[];
  /** Generations seen without a manifest (in progress or abandoned). */
  uncommitted: string[];
}

/**
 * Restore the newest committed generation that verifies (newer than `newerThan`). Generations
 * without a manifest are skipped silently (they are not generations); damaged ones are refused
 * with a reason and remembered in `refusedCache` so a poll loop does not refetch them.
 */
export async function restoreNewest(opts: RestoreOptions): Promise<RestoreResult> {
  const emit = (ev: RestoreEvent): void => opts.onEvent?.(ev);
  const result: RestoreResult = { restored: null, refusals: [], uncommitted: [] };
  const all = opts.only ? [opts.only] : await listGenerations(opts.store, opts.prefix, opts.signal);
  const candidates = all.filter((g) => !opts.newerThan || compareGenerations(g, opts.newerThan) > 0);
  const refuse = (generation: string, reason: string, cacheKey?: string): void => {
    result.refusals.push({ generation, reason });
    if (cacheKey) opts.refusedCache?.set(cacheKey, reason);
    emit({ type: 'refused', generation, reason });
  };
  for (const gen of candidates) {
    let manifest: Manifest | null;
    try {
      manifest = await loadManifest(opts.store, opts.prefix, gen, opts.signal);
    } catch (err) {
      if (!(err instanceof RefusedError)) throw err;
      refuse(gen, err.reason);
      continue;
    }
    if (manifest === null) {
      result.uncommitted.push(gen);
      continue;
    }
    const cacheKey = `${gen}@${manifest.manifestSha256}`;
    const known = opts.refusedCache?.get(cacheKey);
    if (known !== undefined) {
      result.refusals.push({ generation: gen, reason: known });
      continue;
    }
    let pre = await opts.prefetchFor?.(gen);
    if (pre && pre.chunkSize !== manifest.chunkSize) {
      await pre.stage.close();
      pre = undefined;
    }
    const stage = pre?.stage ?? (await (opts.makeStage ?? (async () => memoryStage()))(manifest.chunkSize));
    try {
      emit({ type: 'verify-start', generation: gen });
      const { bytesFetched, chunksReused } = await fetchAndVerify(opts.store, opts.prefix, manifest, stage, { ...opts, prefetched: pre?.staged });
      emit({ type: 'verified', generation: gen, bytesFetched: bytesFetched + (pre?.bytesFetched ?? 0), chunksReused });
      await applyStaged(manifest, stage, opts);
      result.restored = gen;
      return result;
    } catch (err) {
      if (!(err instanceof RefusedError)) throw err;
      refuse(gen, err.reason, cacheKey);
    } finally {
      await stage.close();
    }
  }
  return result;
}
