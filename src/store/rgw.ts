// The embedded store: a throwaway one-node Ceph (1 mon, 1 osd, 1 radosgw, no mgr) on
// 127.0.0.1, so every run has a real S3 server (SigV4, If-None-Match, multipart) without
// Docker or a network. Fresh dir, ports and credentials on every start; nothing outlives us.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { redact, registerSecret } from '../shared/redact.js';
import { cephConf } from './ceph-conf.js';
import {
  type Daemon,
  freePort,
  isRunning,
  onPath,
  pidStartTime,
  pidsWithArg,
  signalGroup,
  spawnDaemon,
  stopDaemon,
  waitExit,
  waitListening,
} from './procs.js';
import { listBuckets, makeS3Client, type S3Connection } from '../shared/s3.js';
import { cleanLeftovers, type LeftoverResult, type StateFile, writeStateFile } from './state.js';

export { STATE_FILE, type LeftoverResult } from './state.js';

const DIR_PREFIX = 'ftharness-rgw-';
const RGW_USER = 'ftharness';
/** RGW accepted any region in the SigV4 scope here (us-east-1 and default tried); AWS SDKs
 *  and MinIO default to this one. */
const REGION = 'us-east-1';
const PORT_ATTEMPTS = 5;

export interface EmbeddedRgwOptions {
  /** Data dir; created if missing, must not hold another store. Default: a fresh dir under os.tmpdir(). */
  dir?: string;
  log?: (line: string) => void;
  /** memstore (default): objects live in the osd's RAM, ready in ~2 s. bluestore: on a sparse
   *  file in dir, slower to start, closer to production. */
  objectstore?: 'memstore' | 'bluestore';
  /** Capacity the memstore osd advertises; the RAM is only used by what is stored. */
  memstoreBytes?: number;
  /** How long radosgw may take to answer after its start (default 60 s). */
  readyTimeoutMs?: number;
}

export interface EmbeddedRgw {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Current daemon pids; rgw is undefined while the gateway is stopped. */
  readonly pids: { mon: number; osd: number; rgw?: number };
  dir: string;
  ports: { mon: number; rgw: number };
  /** Ceph version, e.g. "16.2.15". */
  version: string;
  objectstore: 'memstore' | 'bluestore';
  /** Seconds from call to first authenticated ListBuckets. */
  startSeconds: number;
  /** Connection for makeS3Client. */
  readonly conn: S3Connection;
  /** Stops only radosgw ("store unavailable" fault): SIGTERM, SIGKILL after 1 s; hard = SIGKILL
   *  at once (a crash). Objects stay in the cluster. */
  stopGateway(opts?: { hard?: boolean }): Promise<void>;
  /** Restarts radosgw on the same port; resolves when S3 answers again. */
  startGateway(): Promise<void>;
  /** Kills all daemons, waits for them, removes dir. Idempotent; safe from signal handlers. */
  stop(): Promise<void>;
}

// Every store of this process, so an exit hook and stopAllEmbeddedStores() can reach stores
// whose start is still in progress (the caller has no handle to them yet).
const live = new Set<Cluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: kill and remove without waiting.
  process.on('exit', () => {
    for (const c of live) c.killNow();
  });
}

/** Stops every embedded store of this process, also those still starting (for SIGINT/SIGTERM). */
export async function stopAllEmbeddedStores(): Promise<void> {
  await Promise.allSettled([...live].map((c) => c.stop()));
}

const CEPH_TOOLS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'];
export const CEPH_PACKAGES = 'ceph-mon ceph-osd radosgw ceph-common';

/** The ceph programs the embedded store needs that are not installed (empty = all there). */
export function missingCephTools(): string[] {
  return CEPH_TOOLS.filter((t) => !onPath(t));
}

let versionCache: Promise<string> | undefined;
function cephVersion(): Promise<string> {
  versionCache ??= execa('radosgw', ['--version'], { reject: false, timeout: 10_000 }).then(
    (r) => /ceph version (\S+)/.exec(String(r.stdout))?.[1] ?? 'unknown',
  );
  return versionCache;
}

/** Runs a short-lived ceph tool. Errors carry its stderr tail, never its stdout (which holds
 *  the S3 secret for `radosgw-admin user create`). */
async function tool(cmd: string, args: string[], cwd: string, timeoutMs = 60_000): Promise<string> {
  const r = await execa(cmd, args, { cwd, reject: false, timeout: timeoutMs, stdin: 'ignore' });
  if (r.exitCode !== 0 || r.timedOut) {
    const why = r.timedOut ? `timed out after ${timeoutMs / 1000} s` : `exit ${r.exitCode ?? r.signal}`;
    // Backtrace frames (" 12: (OSD::mkfs…") say less than the assert line above them.
    const lines = String(r.stderr).trim().split('\n').filter((l) => !/^\s*\d+: /.test(l));
    const tail = lines.slice(-5).join(' | ');
    throw new Error(redact(`${cmd} ${args.join(' ')} failed (${why}): ${tail}`));
  }
  return String(r.stdout);
}

function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

class Cluster {
  readonly fsid = randomUUID();
  readonly conf: string;
  readonly t0 = performance.now();
  mon?: Daemon;
  osd?: Daemon;
  gw?: Daemon;
  osdId = 0;
  monPort = 0;
  rgwPort = 0;
  conn?: S3Connection;
  private stopping?: Promise<void>;
  /** Set by stop(): a start in progress gives up at its next step. */
  cancelled = false;

  constructor(
    readonly dir: string,
    readonly objectstore: 'memstore' | 'bluestore',
    readonly memstoreBytes: number,
    readonly readyTimeoutMs: number,
    readonly log: (line: string) => void,
  ) {
    this.conf = path.join(dir, 'ceph.conf');
  }

  elapsed(): string {
    return `${((performance.now() - this.t0) / 1000).toFixed(1)} s`;
  }

  private check(): void {
    if (this.cancelled) throw new Error(`embedded store in ${this.dir} was stopped while starting`);
  }

  private logFile(name: string): string {
    return path.join(this.dir, 'log', `${name}.out`);
  }

  writeState(): void {
    const state: StateFile = {
      kind: 'ftharness-embedded-rgw',
      dir: this.dir,
      ownerPid: process.pid,
      ownerStartTime: pidStartTime(process.pid),
      ports: { mon: this.monPort || undefined, rgw: this.rgwPort || undefined },
      pids: { mon: this.mon?.pid, osd: this.osd?.pid, rgw: isRunning(this.gw) ? this.gw?.pid : undefined },
      createdAt: new Date().toISOString(),
    };
    writeStateFile(this.dir, state);
  }

  private tool(cmd: string, args: string[]): Promise<string> {
    return tool(cmd, args, this.dir);
  }

  private spawn(name: string, cmd: string, args: string[]): Daemon {
    this.check();
    return spawnDaemon(name, cmd, args, this.logFile(name), this.dir);
  }

  async boot(): Promise<void> {
    for (const sub of ['run', 'log', 'mon', 'osd', 'rgw']) mkdirSync(path.join(this.dir, sub), { recursive: true });
    writeFileSync(path.join(this.dir, 'keyring'), '');
    this.writeState();
    await this.bootMon();
    await this.bootOsd();
    await this.bootGateway();
    // After radosgw, not beside it: on a fresh cluster both would create the default zone at
    // the same time, to save ~0.15 s.
    const keys = await this.createUser();
    this.conn = { endpoint: `http://127.0.0.1:${this.rgwPort}`, region: REGION, ...keys };
    await this.waitS3();
  }

  /** Port picked now may be taken before ceph-mon binds it; the mon then exits at once
   *  (ms bind retry count = 1) and we try another. */
  private async bootMon(): Promise<void> {
    const monmap = path.join(this.dir, 'monmap');
    for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
      this.monPort = await freePort();
      writeFileSync(this.conf, cephConf({ fsid: this.fsid, dir: this.dir, monPort: this.monPort, objectstore: this.objectstore, memstoreBytes: this.memstoreBytes }));
      rmSync(path.join(this.dir, 'mon', 'mon.a'), { recursive: true, force: true });
      await this.tool('monmaptool', ['--create', '--clobber', '--fsid', this.fsid, '--addv', 'a', `[v2:127.0.0.1:${this.monPort}]`, monmap]);
      await this.tool('ceph-mon', ['-c', this.conf, '-i', 'a', '--mkfs', '--monmap', monmap]);
      this.mon = this.spawn('ceph-mon', 'ceph-mon', ['-c', this.conf, '-i', 'a', '-f']);
      this.writeState();
      const r = await waitListening(this.mon, this.monPort, 15_000);
      this.check();
      if (r === 'listening') {
        this.log(`ceph-mon up on 127.0.0.1:${this.monPort} (${this.elapsed()})`);
        return;
      }
      const monLog = path.join(this.dir, 'log', 'mon.a.log');
      if (r === 'timeout') throw new Error(`ceph-mon did not listen on ${this.monPort} within 15 s:\n${logTail(monLog)}`);
      if (r === 'exited' && !/unable to bind/.test(logTail(monLog, 5))) throw new Error(`ceph-mon exited during start:\n${logTail(monLog)}`);
      await stopDaemon(this.mon, { hard: true });
      this.log(`ceph-mon lost port ${this.monPort} to another process; picking another`);
    }
    throw new Error(`ceph-mon found no free port in ${PORT_ATTEMPTS} attempts`);
  }

  private async bootOsd(): Promise<void> {
    const uuid = randomUUID();
    this.check();
    this.osdId = Number((await this.tool('ceph', ['-c', this.conf, '--connect-timeout', '20', 'osd', 'new', uuid])).trim());
    this.check();
    mkdirSync(path.join(this.dir, 'osd', `osd.${this.osdId}`), { recursive: true });
    await this.tool('ceph-osd', ['-c', this.conf, '-i', String(this.osdId), '--mkfs', '--osd-uuid', uuid]);
    this.osd = this.spawn('ceph-osd', 'ceph-osd', ['-c', this.conf, '-i', String(this.osdId), '-f']);
    this.writeState();
    await this.waitOsdActive();
    this.log(`ceph-osd.${this.osdId} up (${this.objectstore}) (${this.elapsed()})`);
  }

  /** radosgw must not start before the osd is in the map: its first reads would find no osd
   *  for their PG and wait for the client's next 5 s objecter tick (seen in ~1 start of 5).
   *  The osd logs this line once the mon marked it up. */
  private async waitOsdActive(timeoutMs = 60_000): Promise<void> {
    const osdLog = path.join(this.dir, 'log', `osd.${this.osdId}.log`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.check();
      if (/state: booting -> active/.test(logTail(osdLog, 400))) return;
      if (!isRunning(this.osd)) throw new Error(`ceph-osd exited during start:\n${logTail(osdLog)}\n${logTail(this.logFile('ceph-osd'), 5)}`);
      if (Date.now() > deadline) throw new Error(`ceph-osd not up within ${timeoutMs / 1000} s:\n${logTail(osdLog)}`);
      await sleep(25);
    }
  }

  private startRgw(port: number): Daemon {
    return this.spawn('radosgw', 'radosgw', ['-c', this.conf, '-n', 'client.rgw', '-f', '--rgw-frontends', `beast endpoint=127.0.0.1:${port}`]);
  }

  /** radosgw listens only once it reached the osd and created its pools, so "our pid holds
   *  the port" means both the cluster and the gateway are up. */
  private async bootGateway(): Promise<void> {
    for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
      this.rgwPort = await freePort();
      this.gw = this.startRgw(this.rgwPort);
      this.writeState();
      const r = await this.waitGatewayListening();
      if (r === 'listening') {
        this.log(`radosgw listening on http://127.0.0.1:${this.rgwPort} (${this.elapsed()})`);
        return;
      }
      this.log(`radosgw lost port ${this.rgwPort} to another process; picking another`);
    }
    throw new Error(`radosgw found no free port in ${PORT_ATTEMPTS} attempts`);
  }

  /** 'listening', or 'port-taken' when radosgw exited on a bind failure; throws otherwise. */
  private async waitGatewayListening(): Promise<'listening' | 'port-taken'> {
    const gw = this.gw as Daemon;
    const r = await waitListening(gw, this.rgwPort, this.readyTimeoutMs);
    this.check();
    if (r === 'listening') return r;
    const rgwLog = path.join(this.dir, 'log', 'client.rgw.log');
    // After a failed bind radosgw exits, crashes on the way out (losing its last log lines)
    // or hangs: a stranger on the port, or the log line if it made it, says which case.
    if (r === 'taken' || (r === 'exited' && /failed to bind address/.test(logTail(rgwLog, 30)))) {
      await stopDaemon(gw, { hard: true });
      return 'port-taken';
    }
    const osdState = isRunning(this.osd) ? 'running' : 'dead';
    throw new Error(
      `radosgw ${r === 'exited' ? 'exited' : `did not listen within ${this.readyTimeoutMs / 1000} s`} (osd ${osdState}):\n${logTail(rgwLog)}\n${logTail(this.logFile('radosgw'), 5)}`,
    );
  }

  /** Fresh keys per start, generated by radosgw-admin itself so the secret never appears on a
   *  command line, in ceph.conf or in a file; it is read from the tool's stdout pipe. */
  private async createUser(): Promise<{ accessKeyId: string; secretAccessKey: string }> {
    this.check();
    const out = await this.tool('radosgw-admin', ['-c', this.conf, 'user', 'create', '--uid', RGW_USER, '--display-name', 'ftharness run']);
    const key = (JSON.parse(out) as { keys?: Array<{ access_key: string; secret_key: string }> }).keys?.[0];
    if (!key) throw new Error('radosgw-admin user create printed no keys');
    registerSecret(key.secret_key);
    this.log(`S3 user ${RGW_USER} created (${this.elapsed()})`);
    return { accessKeyId: key.access_key, secretAccessKey: key.secret_key };
  }

  /** Ready = an authenticated ListBuckets succeeds (not just an open port). */
  async waitS3(timeoutMs = 15_000): Promise<void> {
    const s3 = makeS3Client(this.conn as S3Connection, { maxAttempts: 1 });
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        this.check();
        try {
          await listBuckets(s3);
          return;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await sleep(50);
        }
      }
    } finally {
      s3.destroy();
    }
  }

  async stopGateway(opts: { hard?: boolean } = {}): Promise<void> {
    if (!this.gw || !isRunning(this.gw)) return;
    // radosgw closes its port at once on SIGTERM but then takes ~5 s to exit; the store is
    // already unavailable, so waiting longer than a moment buys nothing.
    await stopDaemon(this.gw, { hard: opts.hard, graceMs: 1_000 });
    this.writeState();
    this.log(`radosgw stopped (${opts.hard ? 'SIGKILL' : 'SIGTERM'})`);
  }

  async startGateway(): Promise<void> {
    if (isRunning(this.gw)) return;
    const t = performance.now();
    this.gw = this.startRgw(this.rgwPort);
    this.writeState();
    if ((await this.waitGatewayListening()) === 'port-taken') {
      throw new Error(`radosgw cannot come back: port ${this.rgwPort} was taken by another process while it was stopped`);
    }
    await this.waitS3();
    this.log(`radosgw back on ${this.conn?.endpoint} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  }

  /** Also ends short-lived tools (radosgw-admin, ceph) still running against this cluster. */
  private strays(): number[] {
    return pidsWithArg(this.conf);
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.cancelled = true;
    // SIGKILL at once: the data goes away with the dir, and memstore would otherwise spend
    // time writing its whole content to disk on a clean shutdown.
    const daemons = [this.gw, this.osd, this.mon].filter((d): d is Daemon => !!d);
    for (const d of daemons) signalGroup(d.pid, 'SIGKILL');
    for (const pid of this.strays()) signalGroup(pid, 'SIGKILL');
    const gone = await Promise.all(daemons.map((d) => waitExit(d, 10_000)));
    const survivors = daemons.filter((_, i) => !gone[i]).map((d) => `${d.name} ${d.pid}`);
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
    live.delete(this);
    if (survivors.length) throw new Error(`embedded store: ${survivors.join(', ')} still running after SIGKILL`);
    this.log(`embedded store stopped, ${this.dir} removed`);
  }

  /** Synchronous last resort for process exit. */
  killNow(): void {
    for (const d of [this.gw, this.osd, this.mon]) if (d) signalGroup(d.pid, 'SIGKILL');
    try {
      // Retries cover a daemon still writing a file while its SIGKILL lands.
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    } catch {
      /* exiting anyway; `ftharness clean` finds the state file */
    }
  }
}

export async function startEmbeddedRgw(opts: EmbeddedRgwOptions = {}): Promise<EmbeddedRgw> {
  const log = opts.log ?? (() => {});
  const missing = missingCephTools();
  if (missing.length) {
    throw new Error(`embedded store needs ${missing.join(', ')}: apt-get install --no-install-recommends ${CEPH_PACKAGES}`);
  }
  let dir: string;
  if (opts.dir) {
    dir = path.resolve(opts.dir);
    mkdirSync(dir, { recursive: true });
    if (readdirSync(dir).length > 0) throw new Error(`store dir ${dir} is not empty; give a fresh one`);
  } else {
    dir = mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX));
  }
  const cluster = new Cluster(dir, opts.objectstore ?? 'memstore', opts.memstoreBytes ?? 2 * 1024 ** 3, opts.readyTimeoutMs ?? 60_000, log);
  installExitHook();
  live.add(cluster);
  try {
    const version = cephVersion();
    await cluster.boot();
    const conn = cluster.conn as S3Connection;
    const startSeconds = Number(((performance.now() - cluster.t0) / 1000).toFixed(2));
    log(`embedded store ready at ${conn.endpoint} (${startSeconds.toFixed(1)} s)`);
    return {
      endpoint: conn.endpoint,
      region: conn.region,
      credentials: { accessKeyId: conn.accessKeyId, secretAccessKey: conn.secretAccessKey },
      get pids() {
        return { mon: cluster.mon?.pid ?? 0, osd: cluster.osd?.pid ?? 0, rgw: isRunning(cluster.gw) ? cluster.gw?.pid : undefined };
      },
      dir,
      ports: { mon: cluster.monPort, rgw: cluster.rgwPort },
      version: await version,
      objectstore: cluster.objectstore,
      startSeconds,
      conn,
      stopGateway: (o) => cluster.stopGateway(o),
      startGateway: () => cluster.startGateway(),
      stop: () => cluster.stop(),
    };
  } catch (err) {
    // A stop() during start kills the tool that was running; say that, not its exit status.
    const stopped = cluster.cancelled;
    await cluster.stop().catch(() => {});
    if (stopped) throw new Error(`embedded store in ${dir} was stopped while starting`, { cause: err });
    throw err;
  }
}

/** Kills daemons and removes dirs of embedded stores whose owning process is gone (for
 *  `ftharness clean`). Looks at rootDir and its direct subdirs; stores of a live owner, this
 *  process included, are left alone and reported as 'in-use'. */
export function cleanLeftoverStores(rootDir: string = os.tmpdir()): Promise<LeftoverResult[]> {
  return cleanLeftovers(rootDir, (dir) => [...live].some((c) => c.dir === dir));
}
