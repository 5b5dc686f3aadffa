// What one run's steps share: the scenario, seed, lab, history, results dir, metrics, checks,
// the nemesis (every fault), ground truth taken at power cuts, and one slice per SUT.
import type { GuestImage } from '../image/build.js';
import type { Lab } from '../lab/lab.js';
import type { Progress } from '../report/progress.js';
import type { CheckResult, Metrics } from '../results/types.js';
import type { Scenario } from '../scenario/load.js';
import type { StoreHandle } from '../store/config.js';
import type { SutPlugin } from '../sut/api.js';
import type { Accel, CpuMode, VmSpec } from '../vm/spec.js';
import type { Evidence } from './evidence.js';
import type { History } from './history.js';
import type { Nemesis } from './nemesis.js';
import type { Schedule } from './schedule.js';

export interface WrittenPattern { vm: string; nvdimm: number; offset: number; bytes: Buffer; sha256: string }

export interface RunContext {
  scenario: Scenario;
  seed: number;
  lab: Lab;
  history: History;
  dir: string;
  image?: GuestImage;
  specs: Map<string, VmSpec>;
  /** how guests run (for VMs a step defines itself) */
  host: { accel: Accel; cpu: CpuMode };
  metrics: Metrics;
  checks: CheckResult[];
  patterns: Map<string, WrittenPattern>;
  /** NVDIMM backing-file contents right after each VM's last power cut, by "vm:nvdimm" */
  cuts: Map<string, Buffer>;
  /** contents remembered by snapshot-pmem, by name */
  snapshots: Map<string, Buffer>;
  nemesis: Nemesis;
  /** judge inputs persisted in the results dir, for `ftharness check` */
  evidence: Evidence;
  /** aborts when the run must stop (signal, caller gone, deadline) */
  signal: AbortSignal;
  progress?: Progress;
  guestKernel?: string;
  log: (line: string) => void;
  /** the run's object store, when the scenario has `store` */
  store?: RunStore;
  /** each SUT's own per-run state (SutPlugin.slice) */
  slices: Map<string, unknown>;
  /** dimensions a step adds to the run's (e.g. counter: how its access counts were obtained) */
  dimensions: Record<string, string>;
  /** the fault schedule drawn for this run (fired by the `schedule` step) */
  schedule?: Schedule;
}

export interface RunStore extends StoreHandle {
  bucket: string;
  /** the endpoint as guests reach it (host loopback becomes 10.0.2.2) */
  guestEndpoint: string;
}

/** A SUT's slice of the run context, created on first use. */
export function sliceOf<T>(ctx: RunContext, sut: SutPlugin<T>): T {
  if (!ctx.slices.has(sut.name)) ctx.slices.set(sut.name, sut.slice?.());
  return ctx.slices.get(sut.name) as T;
}

export function addMetric(ctx: RunContext, name: string, unit: string, value: number, description?: string): void {
  const m = (ctx.metrics[name] ??= { unit, values: [], ...(description ? { description } : {}) });
  m.values.push(value);
}

export function addCheck(ctx: RunContext, c: CheckResult): void {
  ctx.checks.push(c);
  ctx.history.add('info', 'checker', 'check', { name: c.name, valid: c.valid, message: c.message });
}
