// The HA agents' status files, read on the host side of each VM's writable control share: they
// survive power cuts and cost no agent round trip. They are the SUT's own report: used for timing
// metrics and to explain verdicts, never as ground truth (see checker.ts).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunContext } from '../../runner/context.js';
import { SutDeadline } from '../../runner/outcomes.js';
import { controlDir } from '../../runner/plan.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Status = Record<string, any>;

export async function readStatus(ctx: RunContext, vm: string): Promise<Status | undefined> {
  try {
    return JSON.parse(await readFile(join(controlDir(ctx.lab, vm), 'status.json'), 'utf8')) as Status;
  } catch {
    return undefined; // not written yet, or mid-rename
  }
}

export async function agentLogTail(ctx: RunContext, vm: string): Promise<string> {
  const log = await readFile(join(controlDir(ctx.lab, vm), 'agent.log'), 'utf8').catch(() => '');
  return log.trim().split('\n').slice(-5).join(' | ');
}

/** Poll the status file until `done` says so. The agent not getting there in time is the SUT
 *  missing a deadline (a failed check with its last status), not a harness error. */
export async function waitStatus(ctx: RunContext, vm: string, what: string, timeoutMs: number, done: (s: Status) => boolean, o: { cutIsDeadline?: boolean } = {}): Promise<Status> {
  const t0 = Date.now();
  let last: Status | undefined;
  while (Date.now() - t0 < timeoutMs) {
    ctx.signal.throwIfAborted();
    last = await readStatus(ctx, vm);
    if (last && done(last)) return last;
    if (!(await ctx.lab.vm(vm).isRunning())) {
      last = await readStatus(ctx, vm); // the status file is on the host: a last write may have landed
      if (last && done(last)) return last;
      // A save must end within its hold-up: the cut coming first is the SUT missing that deadline.
      if (o.cutIsDeadline) throw new SutDeadline(`HA agent on ${vm} reaches "${what}" before the power cut`, `${vm}: the power was cut (the hold-up ended) before the HA agent reached "${what}" (status phase ${last?.phase ?? 'none'})`, { lastStatus: last ?? null });
      throw new Error(`${vm} is powered off while waiting for ${what}`);
    }
    await sleep(100, undefined, { signal: ctx.signal });
  }
  const log = await agentLogTail(ctx, vm);
  throw new SutDeadline(`HA agent on ${vm} reaches "${what}" within ${timeoutMs / 1000} s`,
    `${vm}: HA agent did not reach "${what}" within ${timeoutMs / 1000} s (status phase ${last?.phase ?? 'none'}${last?.lastError ? `, last error: ${last.lastError}` : ''}; log: ${log})`,
    { lastStatus: last ?? null, agentLogTail: log, waitedMs: Date.now() - t0 });
}
