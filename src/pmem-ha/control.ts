// The harness ↔ agent channel inside a guest. The harness can only write and read guest files
// (qemu-guest-agent file ops or exec), so everything is files in --control-dir:
//   control.jsonl  harness → agent, one JSON object per line (appended); the agent tails it
//   status.json    agent → harness, whole state, replaced atomically (write tmp, rename)
//   events.jsonl   agent → harness, one timestamped JSON object per line (append only)
// Lines already in control.jsonl when the agent starts are ignored (they belong to an earlier
// run); the harness should wait for status.json phase "ready"/"watching" before writing.
// Writes here are synchronous on purpose: they are small, on tmpfs, and must land in the order
// things happened, before a pause blocks or power is cut.

import { appendFileSync, existsSync, mkdirSync, openSync, readSync, closeSync, renameSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

export type ControlEvent =
  | { event: 'ac-loss'; holdupMs: number; id?: string }
  | { event: 'ac-restored'; id?: string }
  | { event: 'shutdown'; id?: string };

export function parseControlLine(line: string): ControlEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new Error('control line is not JSON');
  }
  const o = raw as { event?: unknown; holdupMs?: unknown; id?: unknown };
  const id = typeof o?.id === 'string' ? o.id : undefined;
  switch (o?.event) {
    case 'ac-loss':
      if (typeof o.holdupMs !== 'number' || !Number.isFinite(o.holdupMs) || o.holdupMs < 0) throw new Error('ac-loss needs holdupMs >= 0');
      return { event: 'ac-loss', holdupMs: o.holdupMs, id };
    case 'ac-restored':
    case 'shutdown':
      return { event: o.event, id };
    default:
      throw new Error(`unknown control event ${JSON.stringify(o?.event)}`);
  }
}

export const CONTROL_FILE = 'control.jsonl';
export const STATUS_FILE = 'status.json';
export const EVENTS_FILE = 'events.jsonl';

/** Tails <dir>/control.jsonl from its size at start(); inotify when it works, polling always. */
export class ControlWatcher {
  private offset = 0;
  private partial = '';
  private timer?: NodeJS.Timeout;
  private watcher?: FSWatcher;
  readonly path: string;

  constructor(
    dir: string,
    private readonly onEvent: (ev: ControlEvent) => void,
    private readonly onBadLine: (line: string, why: string) => void,
    private readonly pollMs = 50,
  ) {
    this.path = join(dir, CONTROL_FILE);
  }

  start(): void {
    if (!existsSync(this.path)) writeFileSync(this.path, '');
    this.offset = statSync(this.path).size;
    try {
      this.watcher = watch(this.path, () => this.drain());
      this.watcher.on('error', () => undefined);
    } catch {
      // no inotify (some shared filesystems): the poll below still works
    }
    this.timer = setInterval(() => this.drain(), this.pollMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.watcher?.close();
  }

  /** Read what was appended since last time and dispatch complete lines. */
  drain(): void {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return;
    }
    if (size < this.offset) {
      // Truncated or replaced by the harness: start over from its beginning.
      this.offset = 0;
      this.partial = '';
    }
    if (size === this.offset) return;
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.alloc(size - this.offset);
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      this.partial += buf.subarray(0, n).toString('utf8');
    } finally {
      closeSync(fd);
    }
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl).trim();
      this.partial = this.partial.slice(nl + 1);
      if (line === '') continue;
      let ev: ControlEvent;
      try {
        ev = parseControlLine(line);
      } catch (err) {
        this.onBadLine(line, (err as Error).message);
        continue;
      }
      this.onEvent(ev);
    }
  }
}

/** Replace `path` atomically: readers see the old or the new file, never half of one. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** status.json plus events.jsonl for one agent. */
export class AgentReporter<S extends object> {
  readonly statusPath: string;
  readonly eventsPath: string;
  private lastWrite = 0;
  private pending?: NodeJS.Timeout;

  constructor(
    dir: string,
    readonly status: S,
    private readonly role: string,
    private readonly throttleMs = 50,
    /** Also hand every event line to this (the agent prints them for the guest console). */
    private readonly echo?: (line: string) => void,
  ) {
    mkdirSync(dir, { recursive: true });
    this.statusPath = join(dir, STATUS_FILE);
    this.eventsPath = join(dir, EVENTS_FILE);
  }

  /** Merge `patch` into the status and write it now (phase changes, pauses, errors). */
  update(patch: Partial<S>): void {
    Object.assign(this.status, patch);
    this.flush();
  }

  /** Like update but coalesced to one write per throttle period (chunk progress). */
  progress(patch: Partial<S>): void {
    Object.assign(this.status, patch);
    const wait = this.lastWrite + this.throttleMs - Date.now();
    if (wait <= 0) this.flush();
    else this.pending ??= setTimeout(() => this.flush(), wait);
  }

  flush(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = undefined;
    this.lastWrite = Date.now();
    (this.status as { updatedAt?: number }).updatedAt = this.lastWrite;
    writeFileAtomic(this.statusPath, JSON.stringify(this.status, null, 1) + '\n');
  }

  event(event: string, data: Record<string, unknown> = {}): void {
    // t, role and event are ours: a detail field of the same name must not overwrite them.
    const { t: _t, role: _r, event: _e, ...details } = data;
    const line = JSON.stringify({ t: Date.now(), role: this.role, event, ...details });
    appendFileSync(this.eventsPath, line + '\n');
    this.echo?.(line);
  }
}
