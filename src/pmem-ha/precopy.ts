// Continuous pre-copy (primary side): while AC is present, copy the region's chunks to the store
// in the background, rate-limited, stored by content at <prefix>/cas/<sha256>. The save at an AC
// loss then uploads only what changed since (a chunk whose bytes no longer match what was copied)
// and names the rest by content in its manifest, so the hold-up it needs scales with the dirty
// data, not with the region.
//
// Change detection, two ways:
//   - dm-era (an EraTracker, era.ts): the kernel tracks which chunks were written since the last
//     pass; a pass and the save read only those. The save's cost then follows the dirty data.
//   - rehash (no tracker), below.
// Rehash re-reads every chunk at the save and compares its md5 with the md5 of the
// bytes that were copied: md5 here is a change detector, not an integrity check (about 7x cheaper
// than sha256 in a TCG guest, measured 52 vs 347 ms per 16 MiB). Integrity stays sha256: every
// stored object is named by the sha256 of exactly the bytes uploaded, the store checks that hash
// on the PUT, and the standby and the harness check it on every read. An accidental md5 match of
// different bytes (2^-128) is the residual risk the notice-time saving is paid with.

import { createHash } from 'node:crypto';
import { dropDeviceCache, openRegion, isAllZero } from './chunks.js';
import { casKey, casRoot } from './layout.js';
import { sha256Hex } from './manifest.js';
import { sleep, type ObjectStore } from './store.js';
import { isBroken } from '../shared/broken-sut.js';
import type { EraTracker } from './era.js';

export const md5Hex = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/** A chunk as the pre-copy stored it: the md5 and sha256 of the bytes it uploaded. */
export interface Precopied { md5: string; sha256: string }

export interface PrecopyOptions {
  store: ObjectStore;
  prefix: string;
  regionPath: string;
  regionSize?: number;
  chunkSize: number;
  /** ms between passes */
  intervalMs: number;
  /** read budget in MiB/s (default 32): the pre-copy must not starve the writers */
  rateMiBs?: number;
  /** dm-era write tracking over the region (regionPath is then its writer device) */
  tracker?: EraTracker;
  onPass?: (p: PrecopyStatus) => void;
  onError?: (message: string) => void;
}

export interface PrecopyStatus {
  passes: number;
  lastPassAt: number | null;
  /** chunks whose current copy is in the store */
  chunksHeld: number;
  /** chunks the last pass found changed (and uploaded, unless already stored by content) */
  lastPassChanged: number;
  bytesUploaded: number;
  running: boolean;
  /** how changes are found: dm-era (tracked writes) or rehash (every chunk read again) */
  track: 'dm-era' | 'rehash';
  /** chunks the last pass read (all of them without a tracker) */
  lastPassRead: number;
}

/** What the save may take without reading: every chunk not written since the last completed pass
 *  is either held (its copy is in the store) or known zero. */
export interface CleanChunks {
  written: ReadonlySet<number>;
  zero: ReadonlySet<number>;
  /** how long asking dm-era took */
  queryMs: number;
}

export class Precopy {
  readonly held = new Map<number, Precopied>();
  /** chunks the last read found all zero (tracked mode: the save takes them without reading) */
  private readonly zero = new Set<number>();
  /** tracked mode: the era at the start of the last completed pass (writes since are unread) */
  private mark: number | null = null;
  private readonly stored = new Set<string>();
  readonly status: PrecopyStatus;
  private ctl = new AbortController();
  private loop?: Promise<void>;
  private stopped = false;

  constructor(private readonly o: PrecopyOptions) {
    this.status = { passes: 0, lastPassAt: null, chunksHeld: 0, lastPassChanged: 0, bytesUploaded: 0, running: false, track: o.tracker ? 'dm-era' : 'rehash', lastPassRead: 0 };
  }

  /** Tracked mode, after the writers stopped: flush their device, and the chunks written since
   *  the last completed pass. undefined: no tracker, or no pass completed (read them all). */
  async clean(): Promise<CleanChunks | undefined> {
    if (!this.o.tracker) return undefined;
    await this.o.tracker.flush();
    if (this.mark === null) return undefined;
    const t0 = Date.now();
    const { written } = await this.o.tracker.query(this.mark, { era: false });
    return { written, zero: this.zero, queryMs: Date.now() - t0 };
  }

  /** Start passes (again after pause()). */
  start(): void {
    if (this.loop || this.stopped) return;
    this.ctl = new AbortController();
    this.status.running = true;
    this.loop = this.run(this.ctl.signal).finally(() => {
      this.loop = undefined;
      this.status.running = false;
    });
  }

  /** Stop the passes now (an AC loss): the PUT in flight is aborted and its chunk not counted. */
  async pause(): Promise<void> {
    this.ctl.abort();
    await this.loop;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.pause();
  }

  private async run(signal: AbortSignal): Promise<void> {
    if (this.status.passes === 0 && !this.stored.size) {
      // What an earlier agent (before a reboot) already stored by content is not uploaded again.
      try {
        const root = casRoot(this.o.prefix);
        for (const k of (await this.o.store.list(root, { signal })).keys) this.stored.add(k.slice(root.length));
      } catch (err) {
        if (signal.aborted) return;
        this.o.onError?.(`pre-copy: listing ${casRoot(this.o.prefix)}: ${(err as Error).message}`);
      }
    }
    while (!signal.aborted) {
      try {
        await this.pass(signal);
      } catch (err) {
        if (signal.aborted) return;
        this.o.onError?.(`pre-copy pass: ${(err as Error).message}`);
      }
      try { await sleep(this.o.intervalMs, signal); } catch { return; }
    }
  }

  private async pass(signal: AbortSignal): Promise<void> {
    // Fresh bytes under a DAX filesystem (chunks.ts); tracked: buffered writes reach dm-era.
    await (this.o.tracker ? this.o.tracker.flush() : dropDeviceCache(this.o.regionPath));
    const region = await openRegion(this.o.regionPath, { chunkSize: this.o.chunkSize, size: this.o.regionSize });
    const buf = Buffer.allocUnsafe(this.o.chunkSize);
    const budget = (this.o.rateMiBs ?? 32) * 2 ** 20;
    const t0 = Date.now();
    let read = 0;
    let changed = 0;
    let chunksRead = 0;
    // Tracked: the chunks written since the last completed pass, and those never read whole (a
    // failed or aborted upload); the era now current becomes the mark once this pass completes.
    let toRead: (i: number) => boolean = () => true;
    let nextMark: number | undefined;
    if (this.o.tracker) {
      if (this.mark === null) nextMark = await this.o.tracker.era();
      else {
        const q = await this.o.tracker.query(this.mark);
        nextMark = q.era;
        toRead = (i) => q.written.has(i) || (!this.held.has(i) && !this.zero.has(i));
      }
    }
    try {
      for (let i = 0; i < region.chunkCount; i++) {
        if (signal.aborted) return;
        if (!toRead(i)) continue;
        const data = await region.readChunk(i, buf);
        chunksRead++;
        read += data.byteLength;
        // FTH_BROKEN_SUT=pmem-ha-primary:stale-precopy (tests of the checkers only): a chunk
        // copied once is never looked at again (the save trusts it too: save.ts).
        if (this.held.has(i) && isBroken('pmem-ha-primary', 'stale-precopy')) continue;
        if (isAllZero(data)) {
          // Zero chunks are never uploaded, by the pre-copy nor by the save.
          this.held.delete(i);
          this.zero.add(i);
        } else {
          this.zero.delete(i);
          const md5 = md5Hex(data);
          if (this.held.get(i)?.md5 !== md5) {
            changed++;
            // Dropped first: while its new copy is on the way, the old one no longer describes it.
            this.held.delete(i);
            const sha256 = sha256Hex(data);
            if (!this.stored.has(sha256)) {
              await this.o.store.put(casKey(this.o.prefix, sha256), data, { signal, sha256 });
              this.stored.add(sha256);
              this.status.bytesUploaded += data.byteLength;
            }
            this.held.set(i, { md5, sha256 });
          }
        }
        // Rate limit: never read faster than the budget.
        const ahead = (read / budget) * 1000 - (Date.now() - t0);
        if (ahead > 0) await sleep(ahead, signal);
      }
    } finally {
      await region.close();
    }
    if (nextMark !== undefined) this.mark = nextMark;
    Object.assign(this.status, { passes: this.status.passes + 1, lastPassAt: Date.now(), chunksHeld: this.held.size, lastPassChanged: changed, lastPassRead: chunksRead });
    this.o.onPass?.({ ...this.status });
  }
}
