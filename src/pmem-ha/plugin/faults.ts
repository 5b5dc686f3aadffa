// PMEM HA's faults, as values the nemesis schedules (src/faults/fault.ts): the AC-loss notice
// with its hold-up and the cut when it ends, and damage to a stored chunk.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Fault } from '../../faults/fault.js';
import { powerCut } from '../../faults/power.js';
import { storeOf } from '../../faults/store.js';
import type { RunContext } from '../../runner/context.js';
import { deleteObject, getObject, listObjects, makeS3Client, putObject } from '../../shared/s3.js';
import { primaryMetrics } from './metrics.js';
import { haSlice } from './slice.js';
import { readStatus } from './status.js';
import { listManifests, readGeneration } from './truth.js';

/** A control event for the agent, through qemu-guest-agent into its control file. */
export async function sendControl(ctx: RunContext, vm: string, event: Record<string, unknown>): Promise<void> {
  const line = `${JSON.stringify(event)}\n`;
  await ctx.history.op('nemesis', 'control', { vm, ...event }, () => ctx.lab.vm(vm).agent.writeFile('/run/fthctl/control.jsonl', line, 'a'));
}

/** cut: true = when the hold-up ends; 'save-end' = when the primary's save has ended, or the
 *  hold-up, whichever comes first; false = no cut (an AC cycle). */
export interface AcLossParams { vm: string; holdupMs: number; cut: boolean | 'save-end'; why?: string }

/** Resolves when the save started by this notice has ended (the status file on the host side). */
async function saveEnded(ctx: RunContext, vm: string, before: unknown, signal: AbortSignal): Promise<void> {
  for (;;) {
    const st = await readStatus(ctx, vm);
    if (st?.save?.endAt && st.save.noticeAt !== before) return;
    await sleep(100, undefined, { signal });
  }
}
export const acKey = (vm: string) => `ac:${vm}`;

/**
 * AC loss: the notice now, and — unless it is an AC cycle (cut: false) — the power cut when the
 * hold-up ends, whatever the run does meanwhile: the power supply does not wait for anyone.
 * Healing it is AC coming back (ac-restore) before the cut.
 */
export const acLossFault: Fault<AcLossParams> = {
  kind: 'ac-loss',
  colour: '#c62828',
  needs: ['vm'],
  label: (p) => p.why ?? `AC loss on ${p.vm}, hold-up ${p.holdupMs} ms${p.cut === 'save-end' ? ', cut at the save end' : p.cut ? '' : ' (AC cycle)'}`,
  async inject(ctx, p, signal) {
    const rec = ctx.history.faults.at(-1)!;
    haSlice(ctx).noticeAt = Date.now();
    const saveBefore = (await readStatus(ctx, p.vm))?.save?.noticeAt;
    await sendControl(ctx, p.vm, { event: 'ac-loss', holdupMs: p.holdupMs, id: rec.id });
    if (p.cut) {
      ctx.nemesis.track((async () => {
        const early = new AbortController();
        const onAbort = () => early.abort();
        signal.addEventListener('abort', onAbort, { once: true });
        let why = `at the end of the ${p.holdupMs} ms hold-up`;
        try {
          // Both settle quietly when aborted: the loser of the race is aborted in finally.
          const holdup = sleep(p.holdupMs, undefined, { signal: early.signal }).catch(() => undefined);
          const ended = p.cut === 'save-end'
            ? saveEnded(ctx, p.vm, saveBefore, early.signal).then(() => { why = `when its save ended (${Date.now() - haSlice(ctx).noticeAt!} ms into the ${p.holdupMs} ms hold-up)`; }, () => undefined)
            : new Promise<void>(() => undefined);
          await Promise.race([holdup, ended]);
        } finally {
          early.abort();
          signal.removeEventListener('abort', onAbort);
        }
        signal.throwIfAborted();
        // AC came back, or a cut at a phase came first: that fault is over, no cut now.
        if (ctx.nemesis.get(acKey(p.vm))?.record !== rec) return;
        await ctx.nemesis.end(acKey(p.vm));
        await powerCut(ctx, p.vm, `power cut of ${p.vm} ${why}`);
        const st = await readStatus(ctx, p.vm);
        if (st) primaryMetrics(ctx, st);
      })());
    }
    return async () => { await sendControl(ctx, p.vm, { event: 'ac-restored' }); };
  },
};

export interface CorruptParams { prefix: string; mode: 'bitflip' | 'delete'; chunk?: number }

/** Damage one stored chunk of the newest committed generation. What the harness read of the
 *  generation just before is kept: a standby that restored it while it was intact did right. */
export const corruptChunkFault: Fault<CorruptParams> = {
  kind: 'chunk-corruption',
  colour: '#6d4c41',
  needs: ['store'],
  label: (p) => `stored chunk ${p.chunk ?? '(first)'}: ${p.mode}`,
  async inject(ctx, p) {
    const store = storeOf(ctx);
    const [newest] = await listManifests(store, p.prefix);
    if (!newest) throw new Error('corrupt-chunk: no committed generation in the store yet');
    const before = await readGeneration(store.conn, store.bucket, p.prefix, newest.generation);
    if (before.intact) haSlice(ctx).seenIntact.set(newest.generation, before.digest!);
    const s3 = makeS3Client(store.conn);
    try {
      const chunkPrefix = `${p.prefix}/gen/${newest.generation}/chunk/`;
      const chunks = (await listObjects(s3, store.bucket, { prefix: chunkPrefix })).map((o) => Number(o.key.slice(chunkPrefix.length))).sort((a, b) => a - b);
      const target = p.chunk ?? chunks[0];
      if (target === undefined || !chunks.includes(target)) throw new Error(`corrupt-chunk: generation ${newest.generation} has no stored chunk ${p.chunk ?? ''} (stored: ${chunks.join(',')})`);
      const key = `${chunkPrefix}${target}`;
      let detail: Record<string, unknown> = { key, generation: newest.generation, chunk: target, mode: p.mode };
      if (p.mode === 'delete') {
        await deleteObject(s3, store.bucket, key);
      } else {
        const body = await getObject(s3, store.bucket, key);
        const bit = body.length * 4 + 3; // a bit in the middle of the chunk
        body[bit >> 3] ^= 1 << (bit & 7);
        await putObject(s3, store.bucket, key, body);
        detail = { ...detail, flippedBit: bit, sha256After: createHash('sha256').update(body).digest('hex') };
      }
      ctx.history.add('info', 'nemesis', 'corrupt-chunk', detail);
    } finally {
      s3.destroy();
    }
    return undefined;
  },
};
