// Quiesce: stop the region's writers before the save reads it, resume them afterwards.
// There is no freeze for a raw PMEM device, so the agent offers two simple hooks:
//   - pid file(s): SIGSTOP every pid listed (one per line) and wait until the kernel reports each
//     as stopped ('T' in /proc/PID/stat), so no write syscall is still running; SIGCONT to resume.
//     Writes that already returned sit in the page cache of the same device we read, so the save
//     sees them.
//   - commands: `--quiesce-cmd` / `--resume-cmd`, run with /bin/sh -c; exit 0 = done.
// A writer that maps the device with DAX and keeps data in CPU caches is out of scope: it must
// flush before it can be stopped, so it would use the command hook.

import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { sleep } from './store.js';

export interface Quiescer {
  readonly describe: string;
  stop(): Promise<void>;
  resume(): Promise<void>;
}

export const noQuiesce: Quiescer = { describe: 'none', stop: async () => {}, resume: async () => {} };

async function readPids(pidFile: string): Promise<number[]> {
  const text = await readFile(pidFile, 'utf8');
  const pids = text.split(/\s+/).filter(Boolean).map(Number);
  if (pids.length === 0 || pids.some((p) => !Number.isSafeInteger(p) || p <= 1)) throw new Error(`pid file ${pidFile} holds no valid pid`);
  return pids;
}

async function processState(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parens: the state is the first field after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined; // gone
  }
}

export function pidFileQuiescer(pidFile: string, opts: { stopTimeoutMs?: number } = {}): Quiescer {
  let stopped: number[] = [];
  return {
    describe: `SIGSTOP pids in ${pidFile}`,
    async stop() {
      const pids = await readPids(pidFile);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGSTOP');
          stopped.push(pid);
        } catch (err) {
          // A writer that already exited writes nothing; anything else is a real problem.
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      }
      const until = Date.now() + (opts.stopTimeoutMs ?? 2000);
      for (const pid of stopped) {
        for (;;) {
          const st = await processState(pid);
          if (st === undefined || st === 'T' || st === 't' || st === 'Z' || st === 'X') break;
          if (Date.now() > until) throw new Error(`writer pid ${pid} did not stop within ${opts.stopTimeoutMs ?? 2000} ms (state ${st})`);
          await sleep(2);
        }
      }
    },
    async resume() {
      for (const pid of stopped) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // exited meanwhile
        }
      }
      stopped = [];
    },
  };
}

function sh(cmd: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', cmd], { timeout: timeoutMs }, (err, _out, stderr) => {
      if (err) reject(new Error(`quiesce command failed (${JSON.stringify(cmd)}): ${err.message.split('\n')[0]}${stderr ? `: ${String(stderr).trim().split('\n')[0]}` : ''}`));
      else resolve();
    });
  });
}

export function commandQuiescer(stopCmd: string, resumeCmd?: string, opts: { timeoutMs?: number } = {}): Quiescer {
  return {
    describe: `command ${JSON.stringify(stopCmd)}`,
    stop: () => sh(stopCmd, opts.timeoutMs ?? 5000),
    resume: async () => {
      if (resumeCmd) await sh(resumeCmd, opts.timeoutMs ?? 5000);
    },
  };
}
