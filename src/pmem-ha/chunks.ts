// Regions (a PMEM block device such as /dev/pmem0, or a plain file in tests) read and written
// in fixed-size chunks, plus the bounded worker pool that save and restore share.

import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chunkCountFor, chunkLength } from './manifest.js';

export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
export const DEFAULT_CONCURRENCY = 4;

/** Linux dev_t split (glibc's gnu_dev_major/minor), enough for /sys/dev/block lookups. */
function devMajorMinor(rdev: number): [number, number] {
  const r = BigInt(rdev);
  const major = Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn));
  const minor = Number((r & 0xffn) | ((r >> 12n) & ~0xffn));
  return [major, minor];
}

/**
 * Size in bytes of a file or block device. stat() reports 0 for block devices and Node has no
 * BLKGETSIZE64 ioctl, so for those we read sysfs (size is in 512-byte sectors).
 */
export async function regionSizeOf(path: string): Promise<number> {
  const st = await stat(path);
  if (st.isFile()) return st.size;
  if (st.isBlockDevice()) {
    const [maj, min] = devMajorMinor(st.rdev);
    const sectors = Number((await readFile(`/sys/dev/block/${maj}:${min}/size`, 'utf8')).trim());
    if (!Number.isSafeInteger(sectors)) throw new Error(`cannot read size of block device ${path} from sysfs`);
    return sectors * 512;
  }
  throw new Error(`${path} is neither a regular file nor a block device`);
}

/**
 * Drop the block device's cached pages (BLKFLSBUF, through `blockdev --flushbufs`) before reading
 * it whole. A filesystem mounted with DAX on the region writes file data straight into the PMEM,
 * past the device's page cache: pages of the device cached before (mkfs, an earlier pass) then
 * hold stale bytes, and a buffered read of the device returns them (seen under ext4-DAX: 580
 * stale blocks in one save). Node cannot issue the ioctl or O_DIRECT into its unaligned buffers;
 * a regular file (tests) needs nothing.
 */
export async function dropDeviceCache(path: string): Promise<void> {
  if (!(await stat(path)).isBlockDevice()) return;
  await promisify(execFile)('blockdev', ['--flushbufs', path]).catch((err: Error) => {
    throw new Error(`cannot drop the page cache of ${path} (blockdev --flushbufs): ${err.message}`);
  });
}

export interface Region {
  readonly path: string;
  readonly size: number;
  readonly chunkSize: number;
  readonly chunkCount: number;
  chunkLength(index: number): number;
  /** Reads chunk `index` into the front of `buf` and returns that view. */
  readChunk(index: number, buf: Buffer): Promise<Buffer>;
  writeChunk(index: number, data: Uint8Array): Promise<void>;
  /** fsync: for /dev/pmemN this pushes page-cache writes into the NVDIMM. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export async function openRegion(path: string, opts: { chunkSize: number; write?: boolean; size?: number }): Promise<Region> {
  if (!Number.isSafeInteger(opts.chunkSize) || opts.chunkSize <= 0) throw new Error(`invalid chunk size ${opts.chunkSize}`);
  const size = opts.size ?? (await regionSizeOf(path));
  if (size <= 0) throw new Error(`region ${path} is empty`);
  const fh: FileHandle = await open(path, opts.write ? fsc.O_RDWR : fsc.O_RDONLY);
  const chunkSize = opts.chunkSize;
  const count = chunkCountFor(size, chunkSize);
  const len = (i: number): number => {
    if (!Number.isInteger(i) || i < 0 || i >= count) throw new RangeError(`chunk index ${i} out of range 0..${count - 1}`);
    return chunkLength(size, chunkSize, i);
  };
  return {
    path,
    size,
    chunkSize,
    chunkCount: count,
    chunkLength: len,
    async readChunk(index, buf) {
      const want = len(index);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, index * chunkSize + got);
        if (bytesRead === 0) throw new Error(`short read at chunk ${index} of ${path} (region shorter than ${size} bytes?)`);
        got += bytesRead;
      }
      return buf.subarray(0, want);
    },
    async writeChunk(index, data) {
      const want = len(index);
      if (data.byteLength !== want) throw new Error(`chunk ${index} is ${data.byteLength} bytes, region needs ${want}`);
      let done = 0;
      while (done < want) {
        const { bytesWritten } = await fh.write(data, done, want - done, index * chunkSize + done);
        done += bytesWritten;
      }
    },
    sync: () => fh.sync(),
    close: () => fh.close(),
  };
}

const ZEROS = Buffer.alloc(DEFAULT_CHUNK_SIZE);
let zeros = ZEROS;
/** memcmp against a zero buffer: much faster than a JS loop for MiB-sized chunks. */
export function isAllZero(buf: Uint8Array): boolean {
  if (zeros.length < buf.byteLength) zeros = Buffer.alloc(buf.byteLength);
  return Buffer.compare(buf, zeros.subarray(0, buf.byteLength)) === 0;
}

/**
 * Run worker(i) for i in [0, count) with at most `concurrency` in flight. On the first failure
 * no new index is started; the pool waits for in-flight workers to settle (so nothing keeps
 * running behind the caller's back) and then rethrows that first failure.
 */
export async function runPool(
  count: number,
  concurrency: number,
  worker: (index: number, slot: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, async (_, slot) => {
    while (!failure && next < count) {
      if (signal?.aborted) {
        failure ??= { err: signal.reason ?? new Error('aborted') };
        break;
      }
      const i = next++;
      try {
        await worker(i, slot);
      } catch (err) {
        failure ??= { err };
      }
    }
  });
  await Promise.all(lanes);
  if (failure) throw failure.err;
}
