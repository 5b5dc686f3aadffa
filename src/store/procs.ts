// Process plumbing for the daemons the store room starts: spawn detached with a death signal
// tied to us, stop by process group, tell who owns a listening port, find leftovers in /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Daemon {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<void>;
}

/** Full path of an executable found on PATH. */
export function onPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

const setpriv = onPath('setpriv');

/** Starts a daemon in its own session and process group (so a `timeout` or Ctrl-C aimed at our
 *  group does not hit it half-way, and stop() can kill it with everything it forks), with
 *  stdout/stderr appended to logFile, in cwd (where a crashing daemon leaves its core). Through
 *  setpriv --pdeathsig the kernel SIGKILLs it if our process dies without running any cleanup
 *  (kill -9, OOM). */
export function spawnDaemon(name: string, cmd: string, args: string[], logFile: string, cwd?: string): Daemon {
  const fd = openSync(logFile, 'a');
  const [file, argv] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, args];
  let child: ChildProcess;
  try {
    child = spawn(file, argv, { detached: true, cwd, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  // The store must not keep node alive on its own: an exit hook kills it when node leaves.
  child.unref();
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  if (child.pid === undefined) throw new Error(`could not start ${cmd}: not found or not executable`);
  return { name, pid: child.pid, child, exited };
}

export function isRunning(d: Daemon | undefined): boolean {
  return !!d && d.child.exitCode === null && d.child.signalCode === null;
}

/** Signals the whole process group of a daemon started by spawnDaemon (pgid = its pid). */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch {
      /* already gone, or not a group leader: try the pid itself */
    }
  }
}

/** Resolves true when the daemon exited within ms. The timer keeps node's loop alive while we
 *  wait, which the unref'd child alone would not. */
export async function waitExit(d: Daemon, ms: number): Promise<boolean> {
  if (!isRunning(d)) return true;
  const ac = new AbortController();
  const done = await Promise.race([d.exited.then(() => true), sleep(ms, false, { signal: ac.signal }).catch(() => false)]);
  ac.abort();
  return done;
}

/** SIGTERM (unless hard), then SIGKILL after graceMs; waits until it is gone. */
export async function stopDaemon(d: Daemon, opts: { hard?: boolean; graceMs?: number } = {}): Promise<void> {
  if (!isRunning(d)) return;
  if (!opts.hard) {
    signalGroup(d.pid, 'SIGTERM');
    if (await waitExit(d, opts.graceMs ?? 5_000)) return;
  }
  signalGroup(d.pid, 'SIGKILL');
  if (!(await waitExit(d, 10_000))) throw new Error(`${d.name} (pid ${d.pid}) survived SIGKILL for 10 s`);
}

/** A port that was free a moment ago (bind to 0, read, release). Callers retry on collision. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Socket inodes listening on 127.0.0.1:port (or any address) per /proc/net/tcp. */
function listenerInodes(port: number): Set<string> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // f[1] = local ADDR:PORT, f[3] = state (0A = LISTEN), f[9] = inode
      if (f.length > 9 && f[3] === '0A' && f[1].endsWith(`:${hexPort}`)) inodes.add(f[9]);
    }
  }
  return inodes;
}

/** Who listens on port: pid itself, another process, or nobody. One read of the socket table
 *  for both answers, so a socket appearing in between cannot be taken for a stranger's. A
 *  daemon that lost a port race must not be confused with the stranger who won it (clients
 *  would then talk to someone else's cluster). */
export function listenerOf(pid: number, port: number): 'ours' | 'other' | 'none' {
  const inodes = listenerInodes(port);
  if (inodes.size === 0) return 'none';
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    /* pid gone: any listener is someone else's */
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1])) return 'ours';
    } catch {
      /* fd closed meanwhile */
    }
  }
  return 'other';
}

/** Polls until the daemon listens on port ('listening'), dies ('exited'), someone else holds
 *  the port ('taken': the daemon may hang instead of exiting after a failed bind, radosgw
 *  does) or ms pass. */
export async function waitListening(d: Daemon, port: number, ms: number): Promise<'listening' | 'exited' | 'taken' | 'timeout'> {
  const deadline = Date.now() + ms;
  for (;;) {
    const who = listenerOf(d.pid, port);
    if (who === 'ours') return 'listening';
    if (who === 'other') return 'taken';
    if (!isRunning(d)) return 'exited';
    if (Date.now() > deadline) return 'timeout';
    await sleep(25);
  }
}

/** Live (not zombie) process? */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Kernel start time of pid (clock ticks since boot): with the pid it names one process for
 *  good, since pids get reused. */
export function pidStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Pids whose command line contains needle (e.g. a store's config path). */
export function pidsWithArg(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').some((a) => a.includes(needle))) out.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}
