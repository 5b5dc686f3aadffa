// The boundary between the harness and a system under test. A SUT is one folder (src/<sut>/)
// whose harness side (src/<sut>/plugin/) registers one SutPlugin, in one line of src/suts.ts.
// The runner and the scenario loader know SUTs only through this interface. The SUT's own code
// (what runs in the guests) imports nothing from the harness, only src/shared.
import type { TObject } from '@sinclair/typebox';
import type { CheckResult } from '../results/types.js';
import type { RunContext } from '../runner/context.js';
import type { WalkApi } from '../scenario/walk.js';
import type { SchedulableFault } from '../runner/schedule.js';
import type { Scenario, VmN } from '../scenario/load.js';
import type { VmSpec } from '../vm/spec.js';

/** One metric a SUT reports: unit and meaning, and why a run may have no sample of it
 *  (null: it depends on the run; the plugin says why when it records the gap). */
export interface MetricDef { unit: string; description: string; missing?: string | null }

/** A scenario step a SUT adds. `S` is the step as validated, `Slice` the SUT's per-run state. */
export interface StepDef<S = any, Slice = any> {
  /** Type.Object({ do: Type.Literal(name), … }, { additionalProperties: false, description }) */
  schema: TObject;
  /** fields naming VMs of the scenario, checked to exist by the core (default ['vm']) */
  vmFields?: readonly string[];
  /** the step defines VMs of its own at run time (the scenario's `vms` may then be empty) */
  createsVms?: boolean;
  /** the step talks to the object store: the scenario must say `store:` */
  store?: boolean;
  /** the static walk before anything starts: what the step needs, what it changes */
  walk?(w: WalkApi, step: S): void;
  run(ctx: RunContext, step: S, slice: Slice): Promise<void>;
  /** one line for progress displays (default: "do vm") */
  describe?(step: S): string;
}

/** A checker that can judge again from persisted evidence (`ftharness check <results-dir>`). */
export type Judge<E = any> = (evidence: E) => CheckResult;

export interface SutPlugin<Slice = any> {
  name: string;
  summary: string;
  steps: Record<string, StepDef<any, Slice>>;
  /** a fresh per-run slice of the run context (the SUT's own state) */
  slice?(): Slice;
  /** re-runnable checkers by name; a check names its checker as "<sut>/<name>" */
  checkers?: Record<string, Judge>;
  /** every metric the SUT's steps record */
  metrics?: Record<string, MetricDef>;
  /** guest-side programs: name → entry file, relative to the project root (src/… .ts) */
  guest?: Record<string, string>;
  /** fault kinds a generated schedule may draw for this SUT (src/runner/schedule.ts) */
  schedule?: readonly SchedulableFault[];
  /** adjust a VM's spec before it is defined, for what this SUT's steps need of QEMU itself
   *  (e.g. a TCG plugin in <qemu:commandline>); called for every VM a run plans */
  prepareVm?(p: PrepareVm): void;
}

export interface PrepareVm {
  scenario: Scenario;
  vm: VmN;
  spec: VmSpec;
  /** the run's scratch directory (removed at cleanup) and its results directory (kept) */
  workDir: string;
  resultsDir: string;
}
