// The run's history, Jepsen style: every operation is an invoke followed by ok|fail, faults and
// observations are info events. Times are ms since the run started.
import type { FaultRecord, HistoryEvent } from '../results/types.js';

export class History {
  readonly events: HistoryEvent[] = [];
  readonly faults: FaultRecord[] = [];
  readonly t0 = Date.now();

  now(): number {
    return Date.now() - this.t0;
  }

  add(type: HistoryEvent['type'], process: string, f: string, value?: unknown): HistoryEvent {
    const t = this.now();
    const e: HistoryEvent = { t, time: new Date(this.t0 + t).toISOString(), type, process, f, ...(value === undefined ? {} : { value }) };
    this.events.push(e);
    return e;
  }

  /** invoke now, then ok (with the result, or what `show` makes of it: handles that hold
   *  credentials must never be recorded whole) or fail. */
  async op<T>(process: string, f: string, value: unknown, fn: () => Promise<T>, show: (r: T) => unknown = (r) => r): Promise<T> {
    this.add('invoke', process, f, value);
    try {
      const r = await fn();
      this.add('ok', process, f, r === undefined ? undefined : show(r));
      return r;
    } catch (e) {
      this.add('fail', process, f, { error: (e as Error).message });
      throw e;
    }
  }

  /** A fault starts now; returns its record so the caller can close it when it heals. */
  faultStart(kind: string, label: string, params?: Record<string, unknown>): FaultRecord {
    const rec: FaultRecord = { id: `f${this.faults.length + 1}`, kind, label, start: this.now(), ...(params ? { params } : {}) };
    this.faults.push(rec);
    this.add('info', 'nemesis', kind, { fault: rec.id, phase: 'start', label, ...params });
    return rec;
  }

  faultEnd(rec: FaultRecord): void {
    rec.end = this.now();
    this.add('info', 'nemesis', rec.kind, { fault: rec.id, phase: 'end', label: rec.label });
  }
}
