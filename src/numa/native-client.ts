// Node side of the two static NUMA programs in src/numa/native (built by build.sh):
//   NumaHelper     spawns `fth-numa` (the privileged helper) and speaks its JSON line protocol,
//                  one request at a time, typed replies, rejecting on {"error"} replies;
//   startWorkload  spawns `fth-numawl` (the tenant workload), waits for its ready line and exposes
//                  its ops reports and stop();
//   hotPages       runs `fth-numawl --hot-pages` for the ground-truth hot set.
// This file runs in guests too (esbuild-bundled into dist/guest/numa/*.mjs): Node built-ins and
// src/numa only, nothing from the harness.
//
// Where the binaries are: pass the path. On the host they are <project>/src/numa/native/build/<name>;
// in a guest the project is mounted read-only at /opt/ftharness, so GUEST_NATIVE_DIR. nativeBinary()
// only guesses when no root is given: FTH_NUMA_NATIVE_DIR, else it walks up from this module's own
// file (dist/src/numa/native-client.js on the host, the bundle dist/guest/numa/<x>.mjs in a guest;
// both sit three levels below the project root) looking for src/numa/native/build/<name>. That
// depends on where the compiled file ends up, so callers that know the root should say it.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseCpuList } from './topology.js';

export const NATIVE_SUBDIR = 'src/numa/native/build';
export const GUEST_NATIVE_DIR = '/opt/ftharness/src/numa/native/build';
export type NativeName = 'fth-numa' | 'fth-numawl';

/** Path of a native binary: `<root>/src/numa/native/build/<name>` when `root` (the project root) is
 *  given; otherwise `$FTH_NUMA_NATIVE_DIR/<name>`, otherwise found by walking up from `fromDir`
 *  (default: this module's directory). Throws when nothing is found. */
export function nativeBinary(name: NativeName | string, root?: string, fromDir?: string): string {
  if (root !== undefined) return join(resolve(root), NATIVE_SUBDIR, name);
  const env = process.env.FTH_NUMA_NATIVE_DIR;
  if (env) return join(resolve(env), name);
  let d = fromDir ?? dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const p = join(d, NATIVE_SUBDIR, name);
    if (existsSync(p)) return p;
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  throw new Error(`${name}: not found in ${NATIVE_SUBDIR} above ${fromDir ?? dirname(fileURLToPath(import.meta.url))} ` +
    `(build it with: bash src/numa/native/build.sh; or pass the path)`);
}

// ------------------------------------------------------------------------------- helper protocol
export type Addr = bigint | number | string;
/** Pages for query/move/softdirty/pfn: explicit addresses, or a range. With chunkPages/gapPages the
 *  range follows fth-numawl's layout: page i is at start + (i + floor(i/chunkPages)*gapPages)*4096. */
export type PageSpec =
  | { addrs: readonly Addr[] }
  | { start: Addr; pages: number; chunkPages?: number; gapPages?: number };

export interface MoveReply { status: number[]; notMoved: number; ms: number }
export interface MigrateReply { notMoved: number; ms: number }
export interface SoftDirtyReply {
  /** false: the kernel has no CONFIG_MEM_SOFT_DIRTY and never sets the bit (count is then 0) */
  supported: boolean;
  pages: number; count: number; present: number; /** bit i = page i, LSB first */ bitmap: Uint8Array }
export interface PfnReply { pages: number; present: number; /** false: PFNs were zeroed (no CAP_SYS_ADMIN) */ visible: boolean; /** -1 = not present */ pfn: number[] }
export interface ReferencedReply { start: string[]; sizeKb: number[]; rssKb: number[]; referencedKb: number[] }
export interface ThreadPlace { tid: number; cpu: number; allowedList: string; allowed: number[]; state: string; utime: number; stime: number }
export interface PerfEvent {
  name: 'page-faults' | 'cpu-migrations' | 'context-switches' | 'task-clock' | 'cycles' | 'instructions' | 'cache-misses' | string;
  kind: 'sw' | 'hw';
  supported: boolean;
  /** present only when supported (task-clock in ns) */
  value?: number;
  /** errno name (ENOENT, EOPNOTSUPP, …) or reason, only when unsupported */
  error?: string;
  /** multiplexed: value extrapolated by time_enabled/time_running */
  scaled?: boolean;
}
export interface PerfReply { ms: number; threads: number; events: PerfEvent[] }
export interface NodesReply { online: string; possible: string; memsAllowed: number[] }
export interface FeaturesReply {
  /** CONFIG_MEM_SOFT_DIRTY: probed on the helper's own memory (a written page of a new mapping reads back soft-dirty) */
  softDirty: boolean;
  /** pagemap PFNs are visible (CAP_SYS_ADMIN) */
  pfnVisible: boolean;
  /** kernel.numa_balancing, null without CONFIG_NUMA_BALANCING */
  numaBalancing: string | null;
}

export class NumaHelperError extends Error {
  constructor(message: string, readonly errno: string | undefined, readonly request: Record<string, unknown>) {
    super(message);
    this.name = 'NumaHelperError';
  }
}

export function addrHex(a: Addr): string {
  if (typeof a === 'string') {
    if (!/^0x[0-9a-f]{1,16}$/i.test(a)) throw new Error(`address "${a}" is not 0x-hex`);
    return a;
  }
  if (typeof a === 'number' && (!Number.isSafeInteger(a) || a < 0)) throw new Error(`address ${a} is not a non-negative safe integer`);
  return '0x' + a.toString(16);
}
function pagesFields(p: PageSpec): Record<string, unknown> {
  if ('addrs' in p) return { addrs: p.addrs.map(addrHex) };
  const o: Record<string, unknown> = { start: addrHex(p.start), pages: p.pages };
  if (p.chunkPages !== undefined) o.chunkPages = p.chunkPages;
  if (p.gapPages !== undefined) o.gapPages = p.gapPages;
  return o;
}
/** Indices of the set bits of an LSB-first bitmap, below `n`. */
export function bitmapIndices(bm: Uint8Array, n = bm.length * 8): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if ((bm[i >> 3] >> (i & 7)) & 1) out.push(i);
  return out;
}

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void; req: Record<string, unknown> }

/** One `fth-numa` child, requests strictly one after the other. */
export class NumaHelper {
  readonly child: ChildProcess;
  private pending: Pending | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private dead: Error | undefined;
  private stderrTail = '';
  private readonly exited: Promise<void>;

  constructor(readonly binary: string = nativeBinary('fth-numa'), opts: { env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const rl = createInterface({ input: this.child.stdout!, crlfDelay: Infinity });
    rl.on('line', (line) => this.onLine(line));
    this.child.stderr!.on('data', (d: Buffer) => { this.stderrTail = (this.stderrTail + d.toString()).slice(-2000); });
    this.child.stdin!.on('error', () => { /* reported through exit */ });
    this.exited = new Promise((res) => {
      const fail = (why: string) => {
        this.dead ??= new Error(`fth-numa (${binary}) ${why}${this.stderrTail ? `: ${this.stderrTail.trim()}` : ''}`);
        const p = this.pending;
        this.pending = undefined;
        p?.reject(this.dead);
        res();
      };
      this.child.on('error', (e) => fail(`could not run: ${e.message}`));
      this.child.on('exit', (code, sig) => fail(`exited (${sig ?? `code ${code}`})`));
    });
  }

  private onLine(line: string): void {
    const p = this.pending;
    if (!p) return; // nothing asked: ignore (cannot happen with a well-behaved helper)
    this.pending = undefined;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch {
      p.reject(new Error(`fth-numa: unparsable reply to ${JSON.stringify(p.req).slice(0, 200)}: ${line.slice(0, 200)}`));
      return;
    }
    if (typeof v.error === 'string') p.reject(new NumaHelperError(v.error, typeof v.errno === 'string' ? v.errno : undefined, p.req));
    else p.resolve(v);
  }

  /** Send one request (after all earlier ones have been answered); resolves with the reply object. */
  request<T = Record<string, unknown>>(req: Record<string, unknown>): Promise<T> {
    const run = () => new Promise<T>((resolve, reject) => {
      if (this.dead) return reject(this.dead);
      this.pending = { resolve: resolve as (v: unknown) => void, reject, req };
      this.child.stdin!.write(JSON.stringify(req) + '\n');
    });
    const r = this.chain.then(run, run);
    this.chain = r.catch(() => undefined);
    return r;
  }
  /** Send a request line as it is (protocol tests; requests built ahead of time); resolves with the parsed reply, {"error"} included. */
  raw(line: string): Promise<Record<string, unknown>> {
    const run = () => new Promise<Record<string, unknown>>((resolve, reject) => {
      if (this.dead) return reject(this.dead);
      this.pending = {
        resolve: resolve as (v: unknown) => void,
        reject: (e) => (e instanceof NumaHelperError ? resolve({ error: e.message, ...(e.errno ? { errno: e.errno } : {}) }) : reject(e)),
        req: { raw: line.slice(0, 100) },
      };
      this.child.stdin!.write(line.endsWith('\n') ? line : line + '\n');
    });
    const r = this.chain.then(run, run);
    this.chain = r.catch(() => undefined);
    return r;
  }

  ping(): Promise<{ ok: true; version: number; pid: number }> { return this.request({ op: 'ping' }); }
  nodes(): Promise<NodesReply> { return this.request({ op: 'nodes' }); }
  features(): Promise<FeaturesReply> { return this.request({ op: 'features' }); }
  /** Node of each page, or -errno (-ENOENT: not present, -EFAULT: not mapped). */
  async query(pid: number, pages: PageSpec): Promise<number[]> {
    return (await this.request<{ status: number[] }>({ op: 'query', pid, ...pagesFields(pages) })).status;
  }
  move(pid: number, pages: PageSpec, node: number, moveAll = false): Promise<MoveReply> {
    return this.request({ op: 'move', pid, ...pagesFields(pages), node, ...(moveAll ? { moveAll: true } : {}) });
  }
  /** migrate_pages(2), what migratepages(8) does: every page on `from` to `to`, no order. */
  migrate(pid: number, from: number[], to: number[]): Promise<MigrateReply> { return this.request({ op: 'migrate', pid, from, to }); }
  async softDirtyClear(pid: number): Promise<void> { await this.request({ op: 'softdirty-clear', pid }); }
  async softDirty(pid: number, pages: PageSpec): Promise<SoftDirtyReply> {
    const r = await this.request<{ supported: boolean; pages: number; count: number; present: number; bitmap: string }>({ op: 'softdirty', pid, ...pagesFields(pages) });
    return { ...r, bitmap: new Uint8Array(Buffer.from(r.bitmap, 'base64')) };
  }
  pfn(pid: number, pages: PageSpec): Promise<PfnReply> { return this.request({ op: 'pfn', pid, ...pagesFields(pages) }); }
  /** PFNs as a BigUint64Array (0 = not present), from the helper's base64 encoding. */
  async pfn64(pid: number, pages: PageSpec): Promise<{ pages: number; present: number; visible: boolean; pfn: BigUint64Array }> {
    const r = await this.request<{ pages: number; present: number; visible: boolean; pfn64: string }>({ op: 'pfn', pid, ...pagesFields(pages), encoding: 'base64' });
    const b = Buffer.from(r.pfn64, 'base64');
    const pfn = new BigUint64Array(r.pages);
    for (let i = 0; i < r.pages; i++) pfn[i] = b.readBigUInt64LE(i * 8);
    return { pages: r.pages, present: r.present, visible: r.visible, pfn };
  }
  async refsClear(pid: number): Promise<void> { await this.request({ op: 'refs-clear', pid }); }
  /** smaps Rss and Referenced per VMA (optionally only VMAs overlapping start..start+pages). */
  referenced(pid: number, range?: { start: Addr; pages: number }): Promise<ReferencedReply> {
    return this.request({ op: 'referenced', pid, ...(range ? { start: addrHex(range.start), pages: range.pages } : {}) });
  }
  async affinity(tid: number, cpus: number[]): Promise<number[]> {
    return (await this.request<{ tids: number[] }>({ op: 'affinity', tid, cpus })).tids;
  }
  /** Every thread of `pid`; returns the TIDs that were set. */
  async affinityAll(pid: number, cpus: number[]): Promise<number[]> {
    return (await this.request<{ tids: number[] }>({ op: 'affinity', pid, cpus })).tids;
  }
  async where(pid: number): Promise<ThreadPlace[]> {
    type Wire = { tid: number; cpu: number; allowed: string; state: string; utime: number; stime: number };
    const r = await this.request<{ threads: Wire[] }>({ op: 'where', pid });
    return r.threads.map((t) => ({ ...t, allowedList: t.allowed, allowed: parseCpuList(t.allowed) }));
  }
  vmstat(): Promise<Record<string, number>> { return this.request({ op: 'vmstat' }); }
  async sysctl(name: string, value?: string): Promise<string> {
    return (await this.request<{ value: string }>({ op: 'sysctl', name, ...(value !== undefined ? { value } : {}) })).value;
  }
  perf(pid: number, ms: number): Promise<PerfReply> { return this.request({ op: 'perf', pid, ms }); }

  /** Kill the helper and wait for it. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin!.end();
      this.child.kill('SIGTERM');
    }
    await this.exited;
  }
}

// ------------------------------------------------------------------------------- workload
export interface WorkloadOptions {
  wssMiB: number;
  chunkPages?: number;
  hotFraction?: number;
  hotShare?: number;
  zipf?: number;
  /** integer-only Zipf(1) (no FP constant loads per operation: what the TCG access counter needs) */
  zipfInt?: boolean;
  writeRatio?: number;
  seed?: number;
  node?: number;
  threads?: number;
  reportMs?: number;
  durationS?: number;
  /** at tMs (from the ready line) shift the hot set by hotshift ranks */
  phases?: { tMs: number; hotshift: number }[];
  /** 'carve' forces the reserve-then-carve mapping (the fallback of MAP_FIXED_NOREPLACE) */
  map?: 'fixed' | 'carve';
  base?: Addr;
}

/** The fth-numawl command line for these options (its defaults for what is left out). */
export function workloadArgs(o: WorkloadOptions): string[] {
  const a: string[] = ['--wss-mib', String(o.wssMiB)];
  const opt = (flag: string, v: number | string | undefined) => { if (v !== undefined) a.push(flag, String(v)); };
  opt('--chunk-pages', o.chunkPages);
  opt('--hot-fraction', o.hotFraction);
  opt('--hot-share', o.hotShare);
  opt('--zipf', o.zipf);
  if (o.zipfInt) a.push('--zipf-int');
  opt('--write-ratio', o.writeRatio);
  opt('--seed', o.seed);
  opt('--node', o.node);
  opt('--threads', o.threads);
  opt('--report-ms', o.reportMs);
  opt('--duration-s', o.durationS);
  for (const p of o.phases ?? []) a.push('--phase', `${Math.round(p.tMs)}:hotshift=${Math.round(p.hotshift)}`);
  opt('--map', o.map);
  if (o.base !== undefined) a.push('--base', addrHex(o.base));
  return a;
}

export interface WorkloadReady {
  ready: true;
  pid: number;
  tids: number[];
  pages: number;
  hotPages: number;
  a: number;
  b: number;
  node: number;
  /** pages found on `node` right after the first touch (null if the self-query failed) */
  onNode: number | null;
  map: 'fixed-noreplace' | 'reserve-carve';
  thp: 'off';
  base: string;
  chunkPages: number;
  /** bytes from one chunk start to the next (chunkPages + gapPages pages) */
  chunkStride: number;
  gapPages: number;
  nChunks: number;
  chunks: { start: string; pages: number }[];
}
export interface WorkloadReport { t: number; ops: number; phase: number; final?: true }

/** A running fth-numawl. Emits 'report' (WorkloadReport) and 'exit' ({code, signal}). */
export class Workload extends EventEmitter {
  readonly reports: WorkloadReport[] = [];
  finalReport: WorkloadReport | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderrTail = '';

  constructor(readonly child: ChildProcess, readonly ready: WorkloadReady, rl: ReturnType<typeof createInterface>, exited: Workload['exited']) {
    super();
    this.exited = exited;
    rl.on('line', (line) => {
      let r: WorkloadReport;
      try { r = JSON.parse(line) as WorkloadReport; } catch { return; }
      if (typeof r.ops !== 'number') return;
      if (r.final) this.finalReport = r;
      this.reports.push(r);
      if (this.reports.length > 10000) this.reports.splice(0, this.reports.length - 10000);
      this.emit('report', r);
    });
    child.stderr?.on('data', (d: Buffer) => { this.stderrTail = (this.stderrTail + d.toString()).slice(-2000); });
  }
  get pid(): number { return this.ready.pid; }
  get tids(): number[] { return this.ready.tids; }
  get stderr(): string { return this.stderrTail; }
  /** All pages as one helper range (chunk layout included). */
  range(): PageSpec & { start: string; pages: number } {
    return { start: this.ready.base, pages: this.ready.pages, chunkPages: this.ready.chunkPages, gapPages: this.ready.gapPages };
  }
  /** Address of page i (0 ≤ i < pages) in the workload's chunk layout. */
  pageAddress(i: number): bigint {
    const { chunkPages, gapPages } = this.ready;
    return BigInt(this.ready.base) + BigInt(i + Math.floor(i / chunkPages) * gapPages) * 4096n;
  }
  /** The next report line (rejects if the workload exits first). */
  nextReport(timeoutMs = 60_000): Promise<WorkloadReport> {
    return new Promise((resolve, reject) => {
      const onR = (r: WorkloadReport) => { done(); resolve(r); };
      const onX = () => { done(); reject(new Error(`fth-numawl exited before the next report${this.stderrTail ? `: ${this.stderrTail.trim()}` : ''}`)); };
      const timer = setTimeout(() => { done(); reject(new Error(`fth-numawl: no report within ${timeoutMs} ms`)); }, timeoutMs);
      const done = () => { clearTimeout(timer); this.off('report', onR); this.off('exit', onX); };
      this.on('report', onR);
      this.on('exit', onX);
    });
  }
  /** SIGTERM (or `signal`) and wait; resolves with the exit status and the final report. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null; final?: WorkloadReport }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const x = await this.exited;
    return { ...x, final: this.finalReport };
  }
}

/** Spawn fth-numawl and wait for its ready line (first touch of the whole WSS happens before it). */
export function startWorkload(opts: WorkloadOptions & { binary?: string; readyTimeoutMs?: number; cpus?: number[] }): Promise<Workload> {
  const binary = opts.binary ?? nativeBinary('fth-numawl');
  // `cpus`: start already confined there (taskset execs the workload, same pid), so its stack,
  // libc data and thread stacks are first-touched on that node, not where the parent runs.
  const [file, args] = opts.cpus?.length ? ['taskset', ['-c', opts.cpus.join(','), binary, ...workloadArgs(opts)]] : [binary, workloadArgs(opts)];
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const rl = createInterface({ input: child.stdout!, crlfDelay: Infinity });
  let stderr = '';
  const onErr = (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); };
  child.stderr!.on('data', onErr);
  let wl: Workload | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('exit', (code, signal) => {
      const x = { code, signal };
      // the 'exit' event may come before the last stdout lines: let readline drain first
      const fin = () => { wl?.emit('exit', x); res(x); };
      if (child.stdout!.readableEnded) fin(); else child.stdout!.once('close', fin);
    });
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`fth-numawl: no ready line within ${opts.readyTimeoutMs ?? 120_000} ms`)); },
      opts.readyTimeoutMs ?? 120_000);
    const fail = (why: string) => { clearTimeout(timer); rl.off('line', onLine); reject(new Error(`fth-numawl ${why}${stderr ? `: ${stderr.trim()}` : ''}`)); };
    const onLine = (line: string) => {
      let v: WorkloadReady;
      try { v = JSON.parse(line) as WorkloadReady; } catch { return fail(`printed a non-JSON line: ${line.slice(0, 200)}`); }
      if (v.ready !== true) return;
      clearTimeout(timer);
      rl.off('line', onLine);
      child.off('error', onSpawnErr);
      child.stderr!.off('data', onErr);
      wl = new Workload(child, v, rl, exited);
      resolve(wl);
    };
    const onSpawnErr = (e: Error) => fail(`could not run (${file === binary ? binary : `taskset for ${binary}`}): ${e.message}`);
    rl.on('line', onLine);
    child.once('error', onSpawnErr);
    void exited.then((x) => { if (!wl) fail(`exited before ready (${x.signal ?? `code ${x.code}`})`); });
  });
}

export interface HotPages {
  pages: number;
  hotPages: number;
  a: number;
  b: number;
  /** hot page indices, hottest rank first */
  hot: number[];
  phases: { phase: number; t: number; hotshift: number; b: number; hot: number[] }[];
}
/** Ground truth: the hot page indices of phase 0 and of every --phase (runs fth-numawl --hot-pages). */
export function hotPages(opts: WorkloadOptions & { binary?: string }): HotPages {
  const binary = opts.binary ?? nativeBinary('fth-numawl');
  const r = spawnSync(binary, ['--hot-pages', ...workloadArgs(opts)], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`fth-numawl --hot-pages (${binary}): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`fth-numawl --hot-pages exited ${r.status}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as HotPages;
}
