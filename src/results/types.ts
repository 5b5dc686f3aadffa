// The results.json contract. Everything that reads or writes results (runner, checkers,
// reports, compare, trend) goes through these types; bump schemaVersion on breaking change.

/** pass = every invariant held; fail = an invariant was violated or the SUT missed a deadline;
 *  unknown = nothing was violated, but a checker could not decide (e.g. the fault did not bite,
 *  so the scenario's question was not asked); error = the harness or the infrastructure broke,
 *  so nothing can be said about the system under test. Never mixed up. */
export type Verdict = 'pass' | 'fail' | 'unknown' | 'error';

/** Like Firecracker's metrics.json: a named series with a unit; one value per sample. */
export interface Metric {
  unit: string;
  values: number[];
  description?: string;
  /** Optional: ms since run start of each value, same length as `values`, for series sampled
   *  over time (e.g. numa_local_fraction). Reports use the sample index when absent. */
  t?: number[];
  /** what `t` counts from when not the run start, e.g. "the move" (series of several phases
   *  aligned at their own origin, drawn on one chart) */
  tFrom?: string;
  /** Set when `values` is empty on purpose: why this run has no sample (the phase the metric
   *  measures did not happen, e.g. no restore after a refused save). Never a zero stand-in. */
  missing?: string;
}
export type Metrics = Record<string, Metric>;

/** How every figure in a run was obtained. */
export interface Dimensions {
  accel: 'tcg' | 'kvm';
  /** the guest CPU mode, e.g. "maximum" (TCG), "host-passthrough" */
  cpuMode?: string;
  /** how accel was chosen: forced (FTH_ACCEL), probed (this run decided it) or cached (an
   *  earlier canary probe on this host, same kernel, CPU, QEMU, libvirt and image) */
  accelChosen?: 'forced' | 'probed' | 'cached';
  /** one line: why this accelerator */
  accelReason?: string;
  /** emulated = guest NUMA cells are QEMU's inventions; physical = every cell of every VM bound to its own host node (numa[].hostNode; NVDIMMs stay file-backed). */
  topology: 'emulated' | 'physical';
  host: string;
  hostKernel: string;
  qemu: string;
  libvirt: string;
  guestKernel?: string;
  gitRevision?: string;
  /** Which object store served the run, e.g. "ceph-rgw (embedded)", "s3 (external)". */
  store?: string;
  [extra: string]: string | undefined;
}

/** One entry of the run's history, Jepsen style. Faults are events too (process "nemesis"). */
export interface HistoryEvent {
  /** ms since run start */
  t: number;
  /** wall clock, ISO 8601 */
  time: string;
  type: 'invoke' | 'ok' | 'fail' | 'info';
  /** who acted: "harness", "nemesis", a VM name, a SUT role */
  process: string;
  /** the operation, e.g. "boot", "agent-exec", "power-cut", "save" */
  f: string;
  value?: unknown;
}

/** A fault as drawn in reports: what, when, how long. end is undefined if it never healed. */
export interface FaultRecord {
  id: string;
  kind: string;
  label: string;
  start: number;
  end?: number;
  params?: Record<string, unknown>;
  /** timeline colour the fault kind asked for (default: derived from the kind) */
  colour?: string;
}

/** Result of one checker: valid true|false|'unknown' with the evidence it read. */
export interface CheckResult {
  name: string;
  valid: true | false | 'unknown';
  message: string;
  evidence?: Record<string, unknown>;
  /** the checker and its persisted input (relative to the run dir): `ftharness check` re-judges */
  judge?: { checker: string; input: string };
}

export interface RunResult {
  schemaVersion: 1;
  scenario: { name: string; file: string; description?: string };
  runId: string;
  /** 1-based index of this run within `runs` */
  runIndex: number;
  runs: number;
  seed: number;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  verdict: Verdict;
  /** One line: why this verdict (the first failed check, the error, or the first check that
   *  could not decide). */
  reason: string;
  /** the harness error (or interrupt) that ended the run, if any: re-judging keeps it */
  error?: string;
  /** the generated fault schedule this run fired (replay it with `ftharness run --replay <dir>`) */
  schedule?: { seed: number; window: number; faults: { kind: string; vm?: string; at?: number; when?: string; ms?: number }[]; outcome?: { kind: string; fired: boolean; at?: number; note?: string }[] };
  checks: CheckResult[];
  metrics: Metrics;
  dimensions: Dimensions;
  history: HistoryEvent[];
  faults: FaultRecord[];
  /** artefact name -> path relative to the run's results dir (console.log, domain XML, ...) */
  artefacts: Record<string, string>;
}
