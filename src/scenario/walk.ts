// The static walk over a scenario's steps (before anything starts), as a SUT plugin sees it.
// The core (rules.ts) tracks each VM's power; a plugin's step walk() adds what it needs and what
// it changes, in its own state bags.
import type { ScenarioFile, VmFile } from './schema.js';

export type Path = (string | number)[];

export interface WalkVm {
  on: boolean;
  bootedAt?: number;
  /** the step that cut its power last */
  off?: number;
  /** a cut that comes by itself later (an AC loss whose hold-up ends); `waited` = ms of sleep since */
  pending?: { at: number; holdup: number; waited: number };
}

export interface WalkApi {
  /** index of the step being walked */
  readonly i: number;
  readonly scenario: ScenarioFile;
  /** the scenario file (relative paths in steps are relative to its directory) */
  readonly file: string;
  /** host files may be read (loadScenario); false for pure parsing of text */
  readonly readsFiles: boolean;
  vm(name: string): WalkVm;
  vmFile(name: string): VmFile;
  nvdimms(name: string): NonNullable<VmFile['nvdimms']>;
  /** a problem with this step's `field` (file and line are added by the loader) */
  bad(field: string | Path, message: string): void;
  /** "steps[3] (ac-loss)" */
  ref(j: number): string;
  /** the VM must be running here; says so (once per off period) and returns false if not */
  needOn(name: string, field?: string): boolean;
  /** the VM is off from this step on (its SUT state is gone) */
  cutNow(name: string): void;
  /** its power will be cut by itself after `holdup` ms (SUT state kept until then) */
  cutLater(name: string, holdup: number): void;
  /** every cut that was coming has happened (a step that waits for them) */
  settleCuts(): void;
  /** snapshot-pmem names → the step that took them */
  readonly snapshots: ReadonlyMap<string, number>;
  /** pmem-write patterns → where they went */
  readonly patterns: ReadonlyMap<string, { vm: string; nvdimm: number; at: number }>;
  /** this SUT's state over the whole scenario */
  readonly sut: Record<string, any>;
  /** this SUT's state on a VM, cleared when the VM boots or is cut */
  sutVm(name: string): Record<string, any>;
}
