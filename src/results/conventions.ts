// Metric-name conventions the reports understand. Scenarios, checkers and SUT probes emit
// metrics into RunResult.metrics under these names; the reports find RTO/RPO distributions,
// the PMEM hold-up curve, NUMA locality and perf counters by them. Anything else still shows
// up in the per-run metrics table and in A/B comparison, just without a dedicated chart.
//
// | role        | metric name(s)                                   | unit (any of)            | notes
// |-------------|--------------------------------------------------|--------------------------|------
// | RTO         | rto_ms, recovery_time_ms, recovery_time          | ns us ms s min           | one value per recovery (fault healed → service ok again)
// | RPO         | rpo_bytes, data_at_risk_bytes                    | B KiB MiB GiB (kB MB GB) | bytes acknowledged but lost / at risk, one value per fault
// | hold-up     | holdup_min_ms{pmem_size=64MiB}                   | ns us ms s               | minimal hold-up time that kept PMEM data intact, per PMEM size.
// |             |   or holdup_min_ms + dimensions.pmem_size        |                          |   size: QEMU syntax, bare number = bytes, K/M/G/T[iB] binary
// | NUMA        | numa_local_fraction                              | fraction (0..1) or %     | series; put sample times (ms since run start) in Metric.t
// | perf        | perf.<event> (e.g. perf.cycles, perf.cache-misses)| count, or any           | unsupported counter: unit "unsupported", values [], and
// |             |                                                  |                          |   description saying why (e.g. "unsupported: TCG has no PMU")
//
// Labels: a metric name may carry labels in Prometheus style, `name{key=value,key2=value2}`;
// each labelled name is its own metric (its own n/mean/min/max and A/B comparison).

import { bytesFactor, parseSize } from '../shared/size.js';
export { bytesFactor, parseSize };
import type { Metric, RunResult } from './types.js';

export type MetricRole = 'rto' | 'rpo' | 'holdup' | 'numa' | 'perf';

/** Canonical names per role (first one is what new code should emit). */
export const METRIC_NAMES: Readonly<Record<Exclude<MetricRole, 'perf'>, readonly string[]>> = {
  rto: ['rto_ms', 'recovery_time_ms', 'recovery_time'],
  rpo: ['rpo_bytes', 'data_at_risk_bytes'],
  holdup: ['holdup_min_ms'],
  numa: ['numa_local_fraction'],
};
export const PERF_PREFIX = 'perf.';
/** Label (or dimension) that carries the PMEM size of a hold-up measurement. */
export const PMEM_SIZE_LABEL = 'pmem_size';
export const UNSUPPORTED_UNIT = 'unsupported';

export interface ParsedMetricName {
  base: string;
  labels: Record<string, string>;
}

/** `holdup_min_ms{pmem_size=64MiB}` → {base: 'holdup_min_ms', labels: {pmem_size: '64MiB'}}. */
export function parseMetricName(name: string): ParsedMetricName {
  const m = /^([^{]*)\{(.*)\}$/.exec(name);
  if (!m) return { base: name, labels: {} };
  const labels: Record<string, string> = {};
  for (const part of m[2].split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { base: m[1], labels };
}

export function metricName(base: string, labels: Record<string, string | number> = {}): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return parts.length ? `${base}{${parts.join(',')}}` : base;
}

export function roleOf(name: string): MetricRole | undefined {
  const { base } = parseMetricName(name);
  if (base.startsWith(PERF_PREFIX)) return 'perf';
  for (const [role, names] of Object.entries(METRIC_NAMES)) {
    if (names.includes(base)) return role as MetricRole;
  }
  return undefined;
}

/** Unsupported counters are reported as such, never as zero (house rule). */
export function isUnsupported(m: Metric): boolean {
  return m.unit.trim().toLowerCase() === UNSUPPORTED_UNIT || /^\s*unsupported\b/i.test(m.description ?? '');
}

const TIME_TO_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, sec: 1000, min: 60000 };
/** Factor that turns a value in `unit` into ms, or undefined if it is not a time unit. */
export function msFactor(unit: string): number | undefined {
  return TIME_TO_MS[unit.trim()];
}
/** Values of a metric converted to the role's canonical unit (ms for time, bytes for sizes). */
export function canonicalValues(m: Metric, kind: 'time' | 'size'): number[] | undefined {
  const f = kind === 'time' ? msFactor(m.unit) : bytesFactor(m.unit);
  return f === undefined ? undefined : m.values.map((v) => v * f);
}

/** NUMA locality as a fraction 0..1, whether emitted as fraction or percent. */
export function fractionValues(m: Metric): number[] {
  const pct = m.unit.trim() === '%' || m.unit.trim().toLowerCase() === 'percent';
  return m.values.map((v) => (pct ? v / 100 : v));
}

export type Direction = 'lower' | 'higher';

/** Which way is better, by metric name first (the name knows more than the unit). */
const DIRECTION_BY_NAME: Record<string, Direction> = {
  rto_ms: 'lower', recovery_time_ms: 'lower', recovery_time: 'lower',
  rpo_bytes: 'lower', data_at_risk_bytes: 'lower',
  holdup_min_ms: 'lower',
  numa_local_fraction: 'higher',
};
/** ...then by unit. Sizes (bytes) are left out on purpose: lost bytes vs cache size disagree. */
const DIRECTION_BY_UNIT: Record<string, Direction> = {
  ns: 'lower', us: 'lower', 'µs': 'lower', ms: 'lower', s: 'lower', sec: 'lower', min: 'lower',
  'B/s': 'higher', 'KiB/s': 'higher', 'MiB/s': 'higher', 'GiB/s': 'higher', 'MB/s': 'higher', 'GB/s': 'higher',
  'ops/s': 'higher', 'op/s': 'higher', 'req/s': 'higher', IOPS: 'higher', iops: 'higher',
  errors: 'lower', retries: 'lower',
};

export function directionOf(name: string, unit: string): Direction | undefined {
  const { base } = parseMetricName(name);
  return DIRECTION_BY_NAME[base] ?? DIRECTION_BY_UNIT[unit.trim()];
}

/** PMEM size of a hold-up metric: from its label, else from the run's dimensions. */
export function pmemSizeOf(name: string, run: RunResult): number | undefined {
  const label = parseMetricName(name).labels[PMEM_SIZE_LABEL] ?? run.dimensions[PMEM_SIZE_LABEL];
  return label === undefined ? undefined : parseSize(label);
}
