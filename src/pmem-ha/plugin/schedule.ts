// The faults a generated schedule may draw for PMEM HA, and the save/restore phases they may
// start at (read from the agents' status files on the host). Their code loads when they fire.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunContext } from '../../runner/context.js';
import type { DrawnFault, SchedulableFault } from '../../runner/schedule.js';
import { haSlice } from './slice.js';
import { readStatus } from './status.js';

const primaryOf = (ctx: RunContext) => [...haSlice(ctx).agents].find(([, a]) => a.role === 'primary')?.[0];
const saveOf = async (ctx: RunContext, f: DrawnFault) => (await readStatus(ctx, f.vm ?? primaryOf(ctx) ?? ''))?.save;

/** Save phases of the primary, for faults that strike the save. */
const SAVE_PHASES: Record<string, (ctx: RunContext, f: DrawnFault) => Promise<boolean>> = {
  'save-started': async (ctx, f) => !!(await saveOf(ctx, f))?.saveStartAt,
  'half-uploaded': async (ctx, f) => { const s = await saveOf(ctx, f); return !!s && s.chunksTotal > 0 && s.chunksUploaded + s.chunksZero >= s.chunksTotal / 2; },
  'manifest-committed': async (ctx, f) => !!(await saveOf(ctx, f))?.manifestCommittedAt,
  signalled: async (ctx, f) => !!(await saveOf(ctx, f))?.signalSentAt,
};

export const HA_SCHEDULE: SchedulableFault[] = [
  {
    // The primary's power cut early, at a save phase or a time (the hold-up's own cut is off).
    kind: 'primary-cut', needsVm: true, phases: SAVE_PHASES,
    async fire(ctx, f) {
      const { acKey } = await import('./faults.js');
      const { powerCut } = await import('../../faults/power.js');
      await ctx.nemesis.end(acKey(f.vm!));
      if (await ctx.lab.vm(f.vm!).isRunning()) await powerCut(ctx, f.vm!, `scheduled power cut of ${f.vm} (${f.when ?? `${f.at} ms`})`);
    },
  },
  {
    // AC back before the hold-up ends: the save finishes or is abandoned, no cut comes.
    kind: 'ac-restore', needsVm: true, phases: SAVE_PHASES,
    async fire(ctx, f) {
      const { acKey } = await import('./faults.js');
      await ctx.nemesis.heal(acKey(f.vm!));
    },
  },
  {
    // The standby's power cut (at a time, or mid-restore), then booted again after `ms` with its
    // agent restarted: the journal must redo or keep the restore.
    kind: 'standby-cut', needsVm: true, heals: true,
    phases: {
      restoring: async (ctx, f) => (await readStatus(ctx, f.vm!))?.restore?.outcome === 'in-progress',
    },
    async fire(ctx, f) {
      const { powerCut } = await import('../../faults/power.js');
      const { bootVm } = await import('../../runner/boot.js');
      const { haAgent } = await import('./steps.js');
      if (!(await ctx.lab.vm(f.vm!).isRunning())) return;
      await powerCut(ctx, f.vm!, `scheduled power cut of the standby ${f.vm} (${f.when ?? `${f.at} ms`}), back after ${f.ms} ms`);
      await sleep(f.ms ?? 3000, undefined, { signal: ctx.signal });
      await bootVm(ctx, f.vm!);
      await haAgent(ctx, { do: 'ha-agent', vm: f.vm!, role: 'standby' });
    },
  },
  {
    // A bit flipped in the newest generation's last stored chunk (the last one a standby fetches).
    kind: 'chunk-corruption', phases: { 'manifest-committed': SAVE_PHASES['manifest-committed'] },
    async fire(ctx) {
      const { corruptChunkFault } = await import('./faults.js');
      const { listManifests } = await import('./truth.js');
      const { listObjects, makeS3Client } = await import('../../shared/s3.js');
      const prefix = [...haSlice(ctx).agents.values()][0]?.prefix;
      if (!prefix || !ctx.store) return;
      const [newest] = await listManifests(ctx.store, prefix);
      if (!newest) return;
      const s3 = makeS3Client(ctx.store.conn);
      const chunkPrefix = `${prefix}/gen/${newest.generation}/chunk/`;
      const chunks = (await listObjects(s3, ctx.store.bucket, { prefix: chunkPrefix }).finally(() => s3.destroy())).map((o) => Number(o.key.slice(chunkPrefix.length)));
      if (!chunks.length) return;
      await ctx.nemesis.inject(corruptChunkFault, { prefix, mode: 'bitflip', chunk: Math.max(...chunks) });
    },
  },
];
