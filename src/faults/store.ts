// Object-store faults: the gateway the harness runs itself stops answering, then comes back.
import type { RunContext, RunStore } from '../runner/context.js';
import type { Fault } from './fault.js';

export function storeOf(ctx: RunContext): RunStore {
  if (!ctx.store) throw new Error('this step needs an object store: add `store: auto` to the scenario');
  return ctx.store;
}

export const storeOutageFault: Fault<{ ms: number }> = {
  kind: 'store-outage',
  colour: '#ef6c00',
  needs: ['store'],
  label: (p) => `object store down ${p.ms} ms`,
  async inject(ctx) {
    const store = storeOf(ctx);
    if (!store.gateway) throw new Error(`store-outage needs a store the harness runs itself; ${store.backend} is not`);
    await store.gateway.stop();
    return () => ctx.history.op('nemesis', 'store-restart', undefined, () => store.gateway!.start());
  },
};

/** The gateway down now, back after `ms` (healed by the nemesis, also if the run stops early);
 *  resolves when it is back. */
export async function storeOutage(ctx: RunContext, ms: number): Promise<void> {
  const f = await ctx.nemesis.inject(storeOutageFault, { ms }, { key: 'store-outage', healAfterMs: ms });
  await f.closed;
}
