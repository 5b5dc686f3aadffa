// Faults as values (Jepsen's nemesis idea): each kind says what it needs, how it is labelled and
// coloured on the timeline, how to inject it and how to heal it. The runner's Nemesis
// (src/runner/nemesis.ts) schedules them, records each one's interval in the history, and heals
// or cleans up every fault still open when the run ends — on success, failure, error and
// interrupt alike. Faults compose: several may be open at once, or follow one another.
import type { RunContext } from '../runner/context.js';

export type FaultNeed = 'vm' | 'store' | 'link';

export interface Fault<P = Record<string, unknown>> {
  /** stable name, used in results (FaultRecord.kind) and schedules */
  kind: string;
  /** CSS colour for the timeline (default: derived from the kind) */
  colour?: string;
  needs: readonly FaultNeed[];
  label(p: P): string;
  /**
   * Inject it now. Resolve with how to heal it, or undefined when it has nothing to heal (a
   * corruption, a power cut: the VM stays off until a boot ends the fault's interval).
   * `signal` aborts when the run stops: a fault that waits for something must give up then.
   */
  inject(ctx: RunContext, p: P, signal: AbortSignal): Promise<(() => Promise<void>) | undefined>;
}

/** Fault parameters as recorded in the history (only plain values). */
export function faultParams(p: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v)));
}
