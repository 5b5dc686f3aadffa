// Progress the runner reports while scenarios run. On a terminal: one line rewritten in place
// (scenario, run k of N, current step, elapsed), ticking every second so a long boot does not
// look hung. Elsewhere (CI logs, files): plain timestamped lines, one per event, because
// carriage returns make a mess of logs. Everything printed goes through redact().

import { redact } from '../shared/redact.js';
import type { Verdict } from '../results/types.js';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** force TTY or plain mode; default: stream.isTTY */
  tty?: boolean;
  now?: () => number;
  /** repaint interval on a TTY; 0 disables the timer (tests) */
  tickMs?: number;
}

const ICON: Record<Verdict, string> = { pass: '✓', fail: '✗', unknown: '?', error: '⚠' };

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
  return h ? `${h}:${mmss}` : mmss;
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly tickMs: number;
  private timer?: NodeJS.Timeout;
  private scenario = '';
  private runIndex = 0;
  private runs = 0;
  private current = '';
  private startedAt = 0;

  constructor(opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? !!this.stream.isTTY;
    this.now = opts.now ?? Date.now;
    this.tickMs = opts.tickMs ?? 1000;
  }

  start(scenario: string, runIndex: number, runs: number): void {
    this.stopTimer();
    this.scenario = redact(scenario);
    this.runIndex = runIndex;
    this.runs = runs;
    this.current = 'starting';
    this.startedAt = this.now();
    if (this.tty) {
      this.paint();
      if (this.tickMs > 0) {
        this.timer = setInterval(() => this.paint(), this.tickMs);
        this.timer.unref(); // never keep the process alive for a progress line
      }
    } else {
      this.log('start');
    }
  }

  step(name: string): void {
    this.current = redact(name);
    if (this.tty) this.paint();
    else this.log(`step ${this.current}`);
  }

  done(verdict: Verdict, reason?: string): void {
    this.stopTimer();
    const took = clock(this.now() - this.startedAt);
    const why = reason ? ` — ${redact(reason)}` : '';
    if (this.tty) this.stream.write(`\r\x1b[2K${ICON[verdict]} ${this.head()}  ${verdict} in ${took}${why}\n`);
    else this.log(`done ${verdict} in ${took}${why}`);
  }

  /** Stops repainting (e.g. on SIGINT) and leaves the cursor on a fresh line. */
  close(): void {
    if (this.timer && this.tty) this.stream.write('\n');
    this.stopTimer();
  }

  private head(): string {
    return `${this.scenario}  run ${this.runIndex}/${this.runs}`;
  }

  private paint(): void {
    // Elapsed first: when a narrow terminal cuts the line, it cuts the step name, not the clock.
    let line = `▶ ${clock(this.now() - this.startedAt)}  ${this.head()}  ${this.current}`;
    const cols = this.stream.columns ?? 0;
    if (cols > 10 && [...line].length > cols - 1) line = `${[...line].slice(0, cols - 2).join('')}…`;
    this.stream.write(`\r\x1b[2K${line}`);
  }

  private log(what: string): void {
    this.stream.write(`${new Date(this.now()).toISOString()} ${this.head()} ${what}\n`);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

export function createProgress(opts?: ProgressOptions): Progress {
  return new Progress(opts);
}
