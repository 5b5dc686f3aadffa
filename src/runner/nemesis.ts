// The run's nemesis: every fault goes through here, so its interval is in the history and it is
// always healed or cleaned up. Faults are keyed (e.g. "power:primary", "net:standby:link") so
// that a later step — a boot, net-restore, ac-restore — can end the right one.
import type { Fault } from '../faults/fault.js';
import { faultParams } from '../faults/fault.js';
import type { FaultRecord } from '../results/types.js';
import type { RunContext } from './context.js';

export interface OpenFault {
  record: FaultRecord;
  key: string;
  heal?: () => Promise<void>;
  timer?: NodeJS.Timeout;
  /** resolves when the fault's interval closes (healed or ended) */
  closed: Promise<void>;
  close: () => void;
}

export class Nemesis {
  private readonly open = new Map<string, OpenFault>();
  /** background work the faults started (a cut at the end of a hold-up): awaited by `settle`. */
  private readonly background = new Set<Promise<unknown>>();

  constructor(private readonly ctx: RunContext) {}

  /** Inject `fault`; `healAfterMs` heals it by itself after that long (a store outage). */
  async inject<P extends object>(fault: Fault<P>, p: P, o: { key?: string; healAfterMs?: number } = {}): Promise<OpenFault> {
    const key = o.key ?? `${fault.kind}:${this.ctx.history.faults.length + 1}`;
    if (this.open.has(key)) await this.end(key);
    const record = this.ctx.history.faultStart(fault.kind, fault.label(p), faultParams(p));
    if (fault.colour) record.colour = fault.colour;
    let close = () => undefined as void;
    const closed = new Promise<void>((r) => { close = r; });
    const f: OpenFault = { record, key, closed, close };
    this.open.set(key, f);
    try {
      f.heal = await fault.inject(this.ctx, p, this.ctx.signal);
    } catch (e) {
      this.open.delete(key);
      this.ctx.history.faultEnd(record);
      close();
      throw e;
    }
    if (o.healAfterMs !== undefined && f.heal) {
      this.track(new Promise<void>((resolve, reject) => {
        f.timer = setTimeout(() => { this.heal(key).then(resolve, reject); }, o.healAfterMs);
        this.ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      }));
    }
    return f;
  }

  isOpen(key: string): boolean {
    return this.open.has(key);
  }

  get(key: string): OpenFault | undefined {
    return this.open.get(key);
  }

  /** Heal the fault (its heal runs) and close its interval. */
  async heal(key: string): Promise<void> {
    const f = this.open.get(key);
    if (!f) return;
    this.open.delete(key);
    clearTimeout(f.timer);
    try {
      await f.heal?.();
    } finally {
      this.ctx.history.faultEnd(f.record);
      f.close();
    }
  }

  /** Close the fault's interval without healing (something else ended it: a boot, a cut). */
  async end(key: string): Promise<void> {
    const f = this.open.get(key);
    if (!f) return;
    this.open.delete(key);
    clearTimeout(f.timer);
    this.ctx.history.faultEnd(f.record);
    f.close();
  }

  /** Background fault work that belongs to the run (awaited by settle(), cancelled by abort). */
  track<T>(p: Promise<T>): Promise<T> {
    this.background.add(p);
    p.catch(() => undefined).finally(() => this.background.delete(p));
    return p;
  }

  /** Wait until every background fault action (cuts at the end of hold-ups, heals) is done. */
  async settle(): Promise<void> {
    while (this.background.size) await Promise.all([...this.background]);
  }

  /** At the end of a run, whatever happened: heal every healable fault, newest first; faults
   *  without a heal (a VM left off) keep their open interval. Returns problems, never throws. */
  async healAll(timeoutMs = 10_000): Promise<string[]> {
    const problems: string[] = [];
    for (const f of [...this.open.values()].reverse()) {
      if (!f.heal) continue;
      const t = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`heal took longer than ${timeoutMs} ms`)), timeoutMs).unref());
      await Promise.race([this.heal(f.key), t]).catch((e: Error) => problems.push(`healing ${f.record.label}: ${e.message}`));
    }
    for (const p of this.background) p.catch(() => undefined);
    return problems;
  }
}
