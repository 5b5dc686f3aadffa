// What the primary and standby agents share: the status.json header, the control-file tail,
// the --pause-at wait (recorded, then blocked until shutdown), and an idempotent shutdown.

import { AgentReporter, ControlWatcher, type ControlEvent } from './control.js';
import { blockUntilAborted, type PauseAt, type PauseControl } from './pause.js';

export const STATUS_SCHEMA = 'ftharness.pmem-ha.status/1';

/** Fields every status.json has, whatever the role. */
export interface StatusCommon {
  schema: typeof STATUS_SCHEMA;
  role: 'primary' | 'standby';
  pid: number;
  /** Wall-clock ms: the process's start (Node's time origin), then the agent's construction
   *  (Node bootstrap, bundle load and argument parsing lie between them). */
  processStartedAt: number;
  agentStartedAt: number;
  /** When it first was ready (primary) or watching (standby), else null. */
  readyAt: number | null;
  updatedAt: number;
  phase: string;
  /** The --pause-at label the agent is blocked at, else null. */
  pausedAt: string | null;
  /** Last failure, one secret-free line; null when none (or cleared by a later success). */
  lastError: string | null;
}

export type ActionEvent = Exclude<ControlEvent, { event: 'shutdown' }>;

export abstract class AgentBase<S extends StatusCommon> {
  readonly reporter: AgentReporter<S>;
  private readonly watcher: ControlWatcher;
  /** Aborted at shutdown: ends pauses, in-flight requests and retries. */
  protected readonly shutdownCtl = new AbortController();
  private stopping?: Promise<void>;
  private stoppedResolve!: () => void;
  /** Resolves once shutdown has finished. */
  readonly stopped = new Promise<void>((r) => (this.stoppedResolve = r));

  constructor(controlDir: string, role: S['role'], initial: Omit<S, keyof StatusCommon>, echo?: (line: string) => void) {
    const now = Date.now();
    const header: StatusCommon = { schema: STATUS_SCHEMA, role, pid: process.pid, processStartedAt: Math.round(performance.timeOrigin), agentStartedAt: now, readyAt: null, updatedAt: now, phase: 'starting', pausedAt: null, lastError: null };
    this.reporter = new AgentReporter<S>(controlDir, { ...header, ...initial } as unknown as S, role, 50, echo);
    this.watcher = new ControlWatcher(
      controlDir,
      (ev) => this.handle(ev),
      (line, why) => this.reporter.event('control-rejected', { line: line.slice(0, 200), why }),
    );
  }

  get status(): S {
    return this.reporter.status;
  }

  /** Begin reading control.jsonl (lines written before this call are ignored). */
  protected startControl(): void {
    this.watcher.start();
  }

  /** start() threw: say so in the status (phase failed, the reason), so whoever waits for ready
   *  stops waiting. */
  startFailed(err: unknown): void {
    this.reporter.update({ phase: 'failed', lastError: `start failed: ${err instanceof Error ? err.message : String(err)}` } as Partial<S>);
    this.reporter.event('start-failed', { error: err instanceof Error ? err.message : String(err) });
  }

  /** One control event (from control.jsonl, or directly from tests). */
  handle(ev: ControlEvent): void {
    if (this.shutdownCtl.signal.aborted) return;
    const { event, ...details } = ev;
    this.reporter.event('control', { control: event, ...details });
    if (ev.event === 'shutdown') void this.shutdown();
    else this.onAction(ev);
  }

  protected abstract onAction(ev: ActionEvent): void;
  /** Role-specific teardown; runs after the shutdown signal was aborted. */
  protected abstract onShutdown(): Promise<void>;

  /** The --pause-at control: records phase "paused" + pausedAt, then blocks until shutdown. */
  protected pauseControl(at: PauseAt | undefined, details: () => Record<string, unknown> = () => ({})): PauseControl | undefined {
    if (!at) return undefined;
    return {
      at,
      wait: blockUntilAborted(this.shutdownCtl.signal, (label) => {
        this.reporter.update({ phase: 'paused', pausedAt: label } as Partial<S>);
        this.reporter.event('paused', { at: label, ...details() });
      }),
    };
  }

  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      this.shutdownCtl.abort(new Error('shutdown'));
      this.watcher.stop();
      await this.onShutdown();
      this.reporter.update({ phase: 'stopped' } as Partial<S>);
      this.reporter.event('agent-stop', {});
      this.stoppedResolve();
    })();
    return this.stopping;
  }
}
