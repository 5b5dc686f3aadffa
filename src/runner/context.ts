// What one run's steps share: the scenario, seed, lab, history, results dir, metrics, checks.
import type { GuestImage } from '../image/build.js';
import type { Lab } from '../lab/lab.js';
import type { Progress } from '../report/progress.js';
import type { CheckResult, FaultRecord, Metrics } from '../results/types.js';
import type { Scenario } from '../scenario/load.js';
import type { VmSpec } from '../vm/spec.js';
import type { StoreHandle } from '../store/config.js';
import type { Step, StepKind } from '../scenario/schema.js';
import type { History } from './history.js';

export interface WrittenPattern { vm: string; nvdimm: number; offset: number; bytes: Buffer; sha256: string }

export interface RunContext {
  scenario: Scenario;
  seed: number;
  lab: Lab;
  history: History;
  dir: string;
  image?: GuestImage;
  specs: Map<string, VmSpec>;
  metrics: Metrics;
  checks: CheckResult[];
  patterns: Map<string, WrittenPattern>;
  /** power-cut faults still open (VM off), closed by the next boot */
  openFaults: Map<string, FaultRecord>;
  progress?: Progress;
  guestKernel?: string;
  log: (line: string) => void;
  /** the run's object store, when the scenario has `store` */
  store?: RunStore;
  /** HA agents started in this run, by VM */
  ha: Map<string, { role: 'primary' | 'standby'; prefix: string }>;
  /** backing-file contents remembered by snapshot-pmem and by power cuts (key: name or "cut:<vm>") */
  snapshots: Map<string, Buffer>;
  /** background fault work (e.g. a store outage healing later) awaited before the run ends */
  pending: Promise<unknown>[];
}

export interface RunStore extends StoreHandle {
  bucket: string;
  /** the endpoint as guests reach it (host loopback becomes 10.0.2.2) */
  guestEndpoint: string;
}

export type StepExec<K extends StepKind> = (ctx: RunContext, step: Extract<Step, { do: K }>) => Promise<void>;
export type StepRegistry = { [K in StepKind]: StepExec<K> };

export function addMetric(ctx: RunContext, name: string, unit: string, value: number, description?: string): void {
  const m = (ctx.metrics[name] ??= { unit, values: [], ...(description ? { description } : {}) });
  m.values.push(value);
}

export function addCheck(ctx: RunContext, c: CheckResult): void {
  ctx.checks.push(c);
  ctx.history.add('info', 'checker', 'check', { name: c.name, valid: c.valid, message: c.message });
}
