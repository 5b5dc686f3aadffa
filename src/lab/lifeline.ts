// A run stops when whoever started it stops: on SIGINT, SIGTERM, SIGHUP, or when its caller
// goes away without a signal reaching us. That last case is common: `npx` and `npm run` put
// `npm` and `sh -c` between the caller and node, and many CI runners and `timeout` signal only
// the process they started (npm), which dies and leaves sh and node running, orphaned.
//
// So besides the signals we watch the caller: our parent and, through every pass-through
// wrapper (npm/npx, `sh -c`), up to and including the first process that is not one. When any
// of them is gone (dead, a zombie, or its pid reused by another process) we stop as if
// signalled. Linux /proc only; elsewhere only the signals work.
import { readFileSync } from 'node:fs';

export type StopCause = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'parent-exit';

export interface ProcInfo { pid: number; ppid: number; comm: string; state: string; startTime: string; argv: string[] }

export function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: it ends at the last ')'.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const rest = stat.slice(close + 2).split(' ');
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return { pid, comm: stat.slice(open + 1, close), state: rest[0], ppid: Number(rest[1]), startTime: rest[19], argv };
  } catch {
    return undefined;
  }
}

/** npm/npx (any node running npm-cli.js, or titled "npm …") and `sh -c` only pass the run on. */
export function isWrapper(p: Pick<ProcInfo, 'comm' | 'argv'>): boolean {
  if (/^(npm|npx)( |$)/.test(p.comm)) return true;
  if (p.argv.some((a) => /(^|\/)(npm|npx)(-cli\.js)?$/.test(a)) && /node|npm|npx/.test(p.comm)) return true;
  return /^(sh|dash|bash|zsh|ash)$/.test(p.comm) && p.argv.includes('-c');
}

/** The processes whose end means our caller is gone: parent, through wrappers, to the caller. */
export function callerChain(pid = process.pid, read = readProc): ProcInfo[] {
  const chain: ProcInfo[] = [];
  let cur = read(pid);
  while (cur && cur.ppid > 1 && chain.length < 16) {
    const parent = read(cur.ppid);
    if (!parent) break;
    chain.push(parent);
    if (!isWrapper(parent)) break;
    cur = parent;
  }
  return chain;
}

/** Why the chain is broken, or undefined while every watched process is the one we saw. */
export function brokenLink(chain: ProcInfo[], self = process.pid, read = readProc): string | undefined {
  const me = read(self);
  if (me && chain[0] && me.ppid !== chain[0].pid) return `parent ${chain[0].pid} (${chain[0].comm}) is gone: now a child of ${me.ppid}`;
  for (const p of chain) {
    const now = read(p.pid);
    if (!now || now.startTime !== p.startTime) return `caller ${p.pid} (${p.comm}) is gone`;
    if (now.state === 'Z' || now.state === 'X') return `caller ${p.pid} (${p.comm}) has exited`;
  }
  return undefined;
}

export interface Lifeline {
  /** aborted with the StopCause as reason */
  signal: AbortSignal;
  cause(): StopCause | undefined;
  /** exit code for the cause: 128 + signal number (parent-exit counts as SIGHUP) */
  exitCode(): number;
  release(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const CODE: Record<StopCause, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, 'parent-exit': 129 };

/**
 * Installs the signal handlers and the caller watch. On the first cause, `signal` aborts and
 * `onStop` runs; if the graceful stop has not exited the process after `hardMs`, `onHardStop`
 * runs and the process exits anyway.
 */
export function holdLifeline(o: {
  onStop?: (cause: StopCause, detail: string) => void;
  onHardStop?: () => Promise<void>;
  hardMs?: number;
  pollMs?: number;
} = {}): Lifeline {
  const ac = new AbortController();
  let cause: StopCause | undefined;
  const stop = (c: StopCause, detail: string) => {
    if (cause) return;
    cause = c;
    clearInterval(watch);
    ac.abort(c);
    o.onStop?.(c, detail);
    const hard = setTimeout(() => {
      void Promise.resolve(o.onHardStop?.()).catch(() => undefined).finally(() => process.exit(CODE[c]));
    }, o.hardMs ?? 12_000);
    hard.unref();
  };
  const handlers = SIGNALS.map((s) => [s, () => stop(s, s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const chain = callerChain();
  const watch = setInterval(() => {
    const why = brokenLink(chain);
    if (why) stop('parent-exit', why);
  }, o.pollMs ?? 500);
  watch.unref();
  return {
    signal: ac.signal,
    cause: () => cause,
    exitCode: () => (cause ? CODE[cause] : 0),
    release: () => {
      clearInterval(watch);
      for (const [s, h] of handlers) process.off(s, h);
    },
  };
}
