// Access to the PMEM region that holds a heap. Two paths with one interface:
//  - 'mmap': a real MAP_SHARED mapping made by the native addon (native/pheap_native.c). The
//    base is the virtual address the kernel chose, so it really changes between opens, and
//    persistence is msync (MAP_SYNC is requested first, for DAX files).
//  - 'file': portable; the whole region is read into a Buffer and written back with
//    pwrite + fdatasync. There is no real mapping, so the base is whatever the caller says it
//    is (the open call's `base`), which is enough to exercise swizzling anywhere.
// The heap code only sees `Region`: bytes, base, touch/persist/flush/close.

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export type AccessKind = 'mmap' | 'file';
export type Access = AccessKind | 'auto';

export interface Region {
  readonly kind: AccessKind;
  readonly path: string;
  /** the whole region; byteOffset 0 of its ArrayBuffer, so 8-byte typed views are aligned */
  readonly bytes: Uint8Array;
  /** the real virtual address of byte 0 (mmap); null on the file path, where the heap takes
   *  its base from the open call (or keeps the stored one) */
  readonly base: bigint | null;
  readonly length: number;
  /** mmap only: MAP_SYNC was granted (DAX) */
  readonly mapSync: boolean;
  /** records that [off, off+len) was stored to, so close()/flush() write it back (file path) */
  touch(off: number, len: number): void;
  /** makes [off, off+len) durable before returning */
  persist(off: number, len: number): void;
  /** makes several ranges durable with one barrier */
  persistRanges(ranges: ReadonlyArray<readonly [number, number]>): void;
  /** makes every touched byte durable */
  flush(): void;
  /** flush=false simulates a crash: whatever was not persisted is dropped (file path) */
  close(opts?: { flush?: boolean }): void;
}

interface NativeMapping {
  buffer: ArrayBuffer;
  base: bigint;
  length: number;
  mapSync: boolean;
}
interface NativeAddon {
  map(path: string, length: number, hint?: bigint): NativeMapping;
  unmap(buffer: ArrayBuffer): void;
  persist(buffer: ArrayBuffer, off: number, len: number): void;
  regionSize(path: string): number;
  addressOf(buffer: ArrayBuffer): bigint;
  sumTreeAbs(buffer: ArrayBuffer, rootOff: number, leftOff: number, rightOff: number, valOff: number): [bigint, number];
  sumTreeRel(buffer: ArrayBuffer, rootOff: number, leftOff: number, rightOff: number, valOff: number): [bigint, number];
}

let native: NativeAddon | null | undefined;
let nativeError = '';

/** Where the addon is looked for: $PHEAP_NATIVE (a path, or "off" to force the file path), then the build dir next to the sources (the
 *  compiled module lives in dist/src/pheap, the addon in src/pheap/native/build/Release). */
function nativeCandidates(): string[] {
  const rel = ['./native/build/Release/pheap_native.node', '../../../src/pheap/native/build/Release/pheap_native.node'];
  const out = process.env.PHEAP_NATIVE ? [process.env.PHEAP_NATIVE] : [];
  return out.concat(rel.map((r) => fileURLToPath(new URL(r, import.meta.url))));
}

/** The addon, or null (with nativeStatus().error saying why) when it is not built. */
export function loadNative(): NativeAddon | null {
  if (native !== undefined) return native;
  if (process.env.PHEAP_NATIVE === 'off') {
    nativeError = 'native addon disabled by PHEAP_NATIVE=off';
    native = null;
    return null;
  }
  const req = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const p of nativeCandidates()) {
    if (!fs.existsSync(p)) {
      tried.push(`${p} (missing)`);
      continue;
    }
    try {
      native = req(p) as NativeAddon;
      return native;
    } catch (e) {
      tried.push(`${p} (${(e as Error).message})`);
    }
  }
  nativeError = `native addon not built: tried ${tried.join(', ')}; build it with src/pheap/native/build.sh`;
  native = null;
  return null;
}

export function nativeStatus(): { available: boolean; error?: string } {
  return loadNative() ? { available: true } : { available: false, error: nativeError };
}

let warned = false;
/** Resolves 'auto': mmap when the addon loads, else the file path with a one-time warning. */
export function resolveAccess(access: Access = 'auto'): AccessKind {
  if (access === 'file') return 'file';
  if (loadNative()) return 'mmap';
  if (access === 'mmap') throw new Error(`pheap: mmap access requested but ${nativeError}`);
  if (!warned) {
    warned = true;
    process.emitWarning(`pheap: ${nativeError}. Falling back to the portable file path (fs read/write + fsync; the base comes from the open call).`, {
      code: 'PHEAP_NO_NATIVE',
    });
  }
  return 'file';
}

/** Size of a region: st_size for files, the device size for block devices (st_size is 0). */
export function regionSize(path: string): number {
  const st = fs.statSync(path);
  if (!st.isBlockDevice()) return st.size;
  const n = loadNative();
  if (n) return n.regionSize(path);
  // Without the addon: /sys/dev/block/MAJ:MIN/size counts 512-byte sectors.
  const rdev = st.rdev;
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & ~0xff);
  return Number(fs.readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim()) * 512;
}

/** Makes sure `path` can hold `size` bytes: creates/extends a regular file; a block device must
 *  already be large enough. Returns the usable size. */
export function prepareRegion(path: string, size: number | undefined): number {
  if (fs.existsSync(path) && fs.statSync(path).isBlockDevice()) {
    const dev = regionSize(path);
    if (size !== undefined && size > dev) throw new RangeError(`${path} has ${dev} bytes, ${size} requested`);
    return size ?? dev;
  }
  if (size === undefined) {
    if (!fs.existsSync(path)) throw new RangeError(`${path} does not exist and no size was given`);
    return fs.statSync(path).size;
  }
  const fd = fs.openSync(path, fs.existsSync(path) ? 'r+' : 'w+');
  try {
    if (fs.fstatSync(fd).size < size) fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
  return size;
}

/** `hint`: for mmap, the address to ask the kernel for (a hint only); ignored for files. */
export function openRegion(path: string, kind: AccessKind, hint: bigint | undefined, length?: number): Region {
  return kind === 'mmap' ? new MmapRegion(path, hint, length) : new FileRegion(path, length);
}

class MmapRegion implements Region {
  readonly kind = 'mmap' as const;
  readonly bytes: Uint8Array;
  readonly base: bigint;
  readonly length: number;
  readonly mapSync: boolean;
  private readonly buffer: ArrayBuffer;
  private readonly addon: NativeAddon;
  private closed = false;

  /** `hint` is only a hint (no MAP_FIXED): the kernel may choose another address. */
  constructor(readonly path: string, hint: bigint | undefined, length?: number) {
    const addon = loadNative();
    if (!addon) throw new Error(`pheap: ${nativeError}`);
    this.addon = addon;
    const m = addon.map(path, length ?? 0, hint);
    this.buffer = m.buffer;
    this.bytes = new Uint8Array(m.buffer);
    this.base = m.base;
    this.length = m.length;
    this.mapSync = m.mapSync;
  }
  touch(): void {
    // Stores go straight to the shared mapping; nothing to remember.
  }
  persist(off: number, len: number): void {
    this.addon.persist(this.buffer, off, len);
  }
  persistRanges(ranges: ReadonlyArray<readonly [number, number]>): void {
    if (ranges.length === 0) return;
    // One msync over the covering range: the kernel writes back only the dirty pages in it.
    let lo = Infinity;
    let hi = 0;
    for (const [o, l] of ranges) {
      lo = Math.min(lo, o);
      hi = Math.max(hi, o + l);
    }
    this.addon.persist(this.buffer, lo, hi - lo);
  }
  flush(): void {
    this.addon.persist(this.buffer, 0, this.length);
  }
  close(opts: { flush?: boolean } = {}): void {
    if (this.closed) return;
    if (opts.flush !== false) this.flush();
    this.addon.unmap(this.buffer);
    this.closed = true;
  }
}

const FILE_PAGE = 4096;
const IO_CHUNK = 64 * 1024 * 1024;

class FileRegion implements Region {
  readonly kind = 'file' as const;
  readonly bytes: Uint8Array;
  readonly base = null;
  readonly length: number;
  readonly mapSync = false;
  private fd: number;
  /** one byte per 4 KiB page: 1 = stored to since it was last written back */
  private readonly dirty: Uint8Array;
  private anyDirty = false;

  constructor(readonly path: string, length?: number) {
    this.length = length ?? regionSize(path);
    this.fd = fs.openSync(path, 'r+');
    // allocUnsafeSlow: a dedicated ArrayBuffer at byteOffset 0 (not the shared pool), so
    // BigUint64Array views over it are aligned.
    const buf = Buffer.allocUnsafeSlow(this.length);
    for (let off = 0; off < this.length; ) {
      const n = fs.readSync(this.fd, buf, off, Math.min(IO_CHUNK, this.length - off), off);
      if (n <= 0) throw new Error(`${path}: short read at ${off}`);
      off += n;
    }
    this.bytes = new Uint8Array(buf.buffer, 0, this.length);
    this.dirty = new Uint8Array(Math.ceil(this.length / FILE_PAGE));
  }
  touch(off: number, len: number): void {
    const end = Math.ceil((off + len) / FILE_PAGE);
    for (let p = Math.floor(off / FILE_PAGE); p < end; p++) this.dirty[p] = 1;
    this.anyDirty = true;
  }
  persist(off: number, len: number): void {
    this.persistRanges([[off, len]]);
  }
  persistRanges(ranges: ReadonlyArray<readonly [number, number]>): void {
    for (const [off, len] of ranges) this.touch(off, len);
    this.flush();
  }
  /** Writes back the dirty pages as contiguous runs, then one fdatasync. */
  flush(): void {
    if (!this.anyDirty) return;
    const pages = this.dirty.length;
    for (let p = 0; p < pages; ) {
      if (!this.dirty[p]) {
        p++;
        continue;
      }
      let q = p;
      while (q < pages && this.dirty[q]) this.dirty[q++] = 0;
      this.writeBack(p * FILE_PAGE, Math.min(q * FILE_PAGE, this.length));
      p = q;
    }
    fs.fdatasyncSync(this.fd);
    this.anyDirty = false;
  }
  private writeBack(from: number, to: number): void {
    for (let off = from; off < to; ) {
      const n = fs.writeSync(this.fd, this.bytes, off, Math.min(IO_CHUNK, to - off), off);
      off += n;
    }
  }
  close(opts: { flush?: boolean } = {}): void {
    if (this.fd < 0) return;
    if (opts.flush !== false) this.flush();
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** Benchmark-only access to the addon's native traversals (null without the addon). */
export function nativeTraversals(): Pick<NativeAddon, 'sumTreeAbs' | 'sumTreeRel' | 'addressOf'> | null {
  return loadNative();
}
