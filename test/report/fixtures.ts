// Realistic RunResult fixtures built by code: several scenarios, faults with intervals,
// pass/fail/unknown/error, metrics with units following src/results/conventions.ts, hostile names.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { seededRandom } from '../../src/report/compare.js';
import { createRunDir, writeRunResult } from '../../src/results/store.js';
import type { CheckResult, Dimensions, FaultRecord, HistoryEvent, Metrics, RunResult, Verdict } from '../../src/results/types.js';

export const XSS_NAME = '<script>alert(1)</script>';
export const UNICODE_NAME = 'Störfall Ω — NVDIMM ✓';

/** Seeded PRNG so fixtures (and therefore assertions) are the same on every machine. */
export const prng = seededRandom;

/** Normal samples by Box–Muller. */
export function normal(rand: () => number, mu: number, sigma: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = 1 - rand(), v = rand();
    out.push(mu + sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
  }
  return out;
}

export const TCG: Dimensions = {
  accel: 'tcg', topology: 'emulated', host: 'lab-07', hostKernel: '6.1.0-28-amd64', qemu: '7.2.15', libvirt: '9.0.0',
  guestKernel: '6.1.0-28-amd64', gitRevision: 'a1b2c3d', store: 'ceph-rgw (embedded)',
};
export const KVM: Dimensions = { ...TCG, accel: 'kvm', topology: 'physical', host: 'lab-kvm-02' };

export interface RunSpec {
  scenario: string;
  runIndex: number;
  runs: number;
  verdict: Verdict;
  reason?: string;
  dims?: Partial<Dimensions>;
  startedAt: Date;
  faults?: Omit<FaultRecord, 'id'>[];
  metrics?: Metrics;
  checks?: CheckResult[];
  durationMs?: number;
  seed?: number;
}

/** A Jepsen-like history: harness boot, a client writing every 250 ms (failing while a fault
 *  is active), nemesis invoke/info at each fault's start and end. */
function history(spec: RunSpec, faults: FaultRecord[], duration: number, rand: () => number): HistoryEvent[] {
  const ev: HistoryEvent[] = [];
  const at = (t: number) => new Date(spec.startedAt.getTime() + t).toISOString();
  const push = (t: number, type: HistoryEvent['type'], process: string, f: string, value?: unknown) => ev.push({ t, time: at(t), type, process, f, ...(value === undefined ? {} : { value }) });
  push(0, 'invoke', 'harness', 'boot', { vm: 'sut-0' });
  push(1800, 'ok', 'harness', 'boot', { vm: 'sut-0', console: 'login: \u001b[1mready\u001b[0m <b>not html</b>' });
  push(1900, 'invoke', 'sut-0', 'agent-exec', { cmd: 'pmem-ha serve' });
  push(2100, 'ok', 'sut-0', 'agent-exec');
  for (let t = 2200; t < duration - 600; t += 250) {
    const during = faults.some((f) => t >= f.start && t < (f.end ?? duration));
    push(t, 'invoke', 'client-1', 'save', { key: `k${t}` });
    const lat = 20 + Math.floor(rand() * 60);
    push(t + lat, during ? (rand() < 0.5 ? 'fail' : 'info') : 'ok', 'client-1', 'save', during ? { error: 'ECONNRESET' } : undefined);
  }
  for (const f of faults) {
    push(f.start, 'invoke', 'nemesis', f.kind, f.params);
    push(f.start + 5, 'info', 'nemesis', f.kind, 'injected');
    if (f.end !== undefined) {
      push(f.end, 'invoke', 'nemesis', `heal-${f.kind}`);
      push(f.end + 40, 'info', 'nemesis', `heal-${f.kind}`, 'healed');
    }
  }
  if (spec.verdict === 'error') push(duration - 100, 'fail', 'harness', 'agent-exec', { error: 'guest agent not responding' });
  return ev.sort((a, b) => a.t - b.t);
}

export function makeRun(spec: RunSpec): RunResult {
  const rand = prng((spec.seed ?? 7) + spec.runIndex * 1000 + spec.startedAt.getTime() / 1000);
  const duration = spec.durationMs ?? 12_000;
  const faults: FaultRecord[] = (spec.faults ?? []).map((f, i) => ({ id: `f${i + 1}`, ...f }));
  const checks = spec.checks ?? [
    { name: 'journal-consistent', valid: true as const, message: 'journal replays to the backing file byte for byte', evidence: { journalEntries: 412, backingSha256: 'ab12…' } },
    spec.verdict === 'fail'
      ? { name: 'no-acked-write-lost', valid: false as const, message: 'acknowledged save k4200 missing after power cut', evidence: { key: 'k4200', ackedAt: 4230, found: false } }
      : { name: 'no-acked-write-lost', valid: true as const, message: 'all 37 acknowledged saves present' },
    ...(spec.verdict === 'unknown'
      ? [{ name: 'torn-save-recovered', valid: 'unknown' as const, message: UNKNOWN_MESSAGE, evidence: { cutAt: 4000, saveFinishedAt: 3870 } }]
      : []),
  ];
  const reason = spec.reason ?? {
    pass: 'all checks valid',
    fail: 'no-acked-write-lost: acknowledged save k4200 missing after power cut',
    unknown: `1 check(s) could not decide: torn-save-recovered: ${UNKNOWN_MESSAGE}`,
    error: 'harness: guest agent not responding after 30 s (libvirt domain crashed)',
  }[spec.verdict];
  const finished = new Date(spec.startedAt.getTime() + duration);
  return {
    schemaVersion: 1,
    scenario: { name: spec.scenario, file: `scenarios/${spec.scenario.replace(/[^a-z0-9]+/gi, '-')}.yaml`, description: `fixture for ${spec.scenario}` },
    runId: `${spec.startedAt.toISOString().replace(/[-:.]/g, '')}-${spec.runIndex}`,
    runIndex: spec.runIndex,
    runs: spec.runs,
    seed: spec.seed ?? 42 + spec.runIndex,
    startedAt: spec.startedAt.toISOString(),
    finishedAt: finished.toISOString(),
    durationMs: duration,
    verdict: spec.verdict,
    reason,
    checks: spec.verdict === 'error' ? [{ name: 'journal-consistent', valid: 'unknown', message: 'not checked: run aborted' }] : checks,
    metrics: spec.metrics ?? {},
    dimensions: { ...TCG, ...spec.dims } as Dimensions,
    history: history(spec, faults, duration, rand),
    faults,
    artefacts: { 'console.log': 'console.log', 'domain.xml': 'vm/domain.xml' },
  };
}

/** Why the fixture's unknown runs are not judged: the fault did not bite. */
export const UNKNOWN_MESSAGE = 'the power cut landed after the save had finished: the torn-save path was not exercised';

const POWER_CUT = (start: number, len: number): Omit<FaultRecord, 'id'> => ({ kind: 'power-cut', label: `power cut (hold-up ${len} ms)`, start, end: start + len, params: { holdupMs: len } });
const STORE_OUTAGE = (start: number, end?: number): Omit<FaultRecord, 'id'> => ({ kind: 'store-outage', label: 'S3 store unreachable', start, end });
const CORRUPTION = (start: number): Omit<FaultRecord, 'id'> => ({ kind: 'corruption', label: 'bit flip in chunk 3', start, end: start + 200 });

/** One night's suite at `night` (a UTC midnight + 2 h): what a nightly run would leave. */
export function suiteRuns(night: Date, opts: { pmemBroken?: boolean; pheapErroring?: boolean; saveMissed?: boolean; nightIndex?: number } = {}): RunResult[] {
  const t = (min: number) => new Date(night.getTime() + min * 60_000);
  const rand = prng(night.getTime() / 1000);
  const out: RunResult[] = [];
  const N = 4;
  for (let k = 1; k <= N; k++) {
    const verdict: Verdict = opts.pmemBroken ? 'fail' : k === 3 ? 'error' : 'pass';
    const sizes = [16, 64, 256, 1024];
    const metrics: Metrics = {
      rto_ms: { unit: 'ms', values: normal(rand, opts.pmemBroken ? 2400 : 1500, 200, 3), description: 'power restored → first successful save' },
      data_at_risk_bytes: { unit: 'bytes', values: normal(rand, opts.pmemBroken ? 96_000 : 8192, 2000, 3).map(Math.round) },
      'perf.cycles': { unit: 'unsupported', values: [], description: 'unsupported: TCG has no PMU' },
      'perf.task-clock': { unit: 'ms', values: normal(rand, 812, 40, 1) },
      save_throughput: { unit: 'MiB/s', values: normal(rand, 180, 12, 3) },
    };
    for (const s of sizes) {
      const min = normal(rand, 2 + s * 0.045, 0.3 + s * 0.002, 1)[0];
      metrics[`holdup_min_ms{pmem_size=${s}MiB,fill=0.5}`] = { unit: 'ms', values: [min] };
      // a sweep's probes: the longest first, then halving towards the minimum
      metrics[`holdup_probe_ms{pmem_size=${s}MiB,fill=0.5}`] = { unit: 'ms', values: [min * 3, min * 1.5, min * 0.75, min] };
      metrics[`holdup_probe_ok{pmem_size=${s}MiB,fill=0.5}`] = { unit: 'bool', values: [1, 1, 0, 1] };
    }
    out.push(makeRun({
      scenario: 'pmem-ha/power-cut', runIndex: k, runs: N, verdict, startedAt: t(k * 3),
      faults: [POWER_CUT(4000, 30 + k * 10), POWER_CUT(8000, 60)], metrics,
    }));
  }
  for (let k = 1; k <= 3; k++) {
    const verdict: Verdict = opts.pheapErroring && k === 3 ? 'error' : 'pass';
    out.push(makeRun({
      scenario: 'pheap corruption', runIndex: k, runs: 3, verdict, startedAt: t(20 + k * 2),
      faults: [CORRUPTION(3000), STORE_OUTAGE(6000, 9000)],
      metrics: {
        recovery_time: { unit: 's', values: normal(rand, 3.2, 0.4, 2) },
        rpo_bytes: { unit: 'KiB', values: [0, 4] },
        'perf.instructions': { unit: 'unsupported', values: [], description: 'unsupported: TCG has no PMU' },
      },
    }));
  }
  for (let k = 1; k <= 2; k++) {
    const ts = Array.from({ length: 40 }, (_, i) => i * 300);
    const dims = k === 2 ? KVM : TCG;
    out.push(makeRun({
      scenario: 'numa-balance', runIndex: k, runs: 2, verdict: 'pass', startedAt: t(30 + k), dims,
      metrics: {
        numa_local_fraction: { unit: 'fraction', values: ts.map((x, i) => Math.min(1, 0.45 + 0.5 * (1 - Math.exp(-i / 8)) + (rand() - 0.5) * 0.04)), t: ts },
        'perf.cycles': k === 2 ? { unit: 'count', values: normal(rand, 4.1e9, 1e8, 3).map(Math.round) } : { unit: 'unsupported', values: [], description: 'unsupported: TCG has no PMU' },
        'perf.cache-misses': k === 2 ? { unit: 'count', values: normal(rand, 2.3e6, 1e5, 3).map(Math.round) } : { unit: 'unsupported', values: [], description: 'unsupported: TCG has no PMU' },
      },
    }));
  }
  // The fault does not always bite: run 2 cuts power after the save finished (unknown); with
  // saveMissed every cut misses. Their RTO is still measured: the lab and harness worked.
  for (let k = 1; k <= 2; k++) {
    const verdict: Verdict = opts.saveMissed || k === 2 ? 'unknown' : 'pass';
    out.push(makeRun({
      scenario: 'pmem-ha/cut-mid-save', runIndex: k, runs: 2, verdict, startedAt: t(35 + k),
      faults: [POWER_CUT(4000, 50)],
      metrics: { rto_ms: { unit: 'ms', values: normal(rand, 1400, 150, 3) } },
    }));
  }
  out.push(makeRun({
    scenario: 'podvm store outage', runIndex: 1, runs: 1, verdict: 'error', startedAt: t(40),
    faults: [STORE_OUTAGE(5000)], reason: 'harness: testcontainers could not start minio (port 9000 in use)',
  }));
  out.push(makeRun({
    scenario: XSS_NAME, runIndex: 1, runs: 1, verdict: 'fail', startedAt: t(45),
    faults: [{ kind: '<b>evil-kind</b>', label: '<img src=x onerror=alert(3)>', start: 2000, end: 2500 }],
    reason: '<img src=x onerror=alert(2)> check failed',
    checks: [{ name: '<svg onload=alert(4)>', valid: false, message: 'guest said </script><script>alert(5)</script>', evidence: { console: '</pre><script>alert(6)</script>\u0007bell' } }],
    metrics: { rto_ms: { unit: 'ms', values: [900, 950, 1010] } },
  }));
  out.push(makeRun({ scenario: UNICODE_NAME, runIndex: 1, runs: 1, verdict: 'pass', startedAt: t(50), faults: [POWER_CUT(3000, 50)] }));
  return out;
}

export const NIGHT0 = new Date('2025-11-20T02:00:00Z');
export const nightAt = (i: number) => new Date(NIGHT0.getTime() + i * 86_400_000);

/** Writes runs through the results store, plus the artefact files they point to. */
export async function storeRuns(root: string, runs: readonly RunResult[]): Promise<string[]> {
  const dirs: string[] = [];
  for (const r of runs) {
    const dir = await createRunDir(root, r.scenario.name, r.runIndex, new Date(r.startedAt));
    await fs.mkdir(path.join(dir, 'vm'), { recursive: true });
    await fs.writeFile(path.join(dir, 'console.log'), `console of ${r.runId}\n`);
    await fs.writeFile(path.join(dir, 'vm', 'domain.xml'), '<domain/>\n');
    await writeRunResult(dir, r);
    dirs.push(dir);
  }
  return dirs;
}

/** Four nights: pmem-ha breaks on night 3 (index 2) and stays broken; pheap errors on the last;
 *  cut-mid-save's power cut misses the save on every run from night 3 on (unknown since night 2
 *  run 2, which missed too). */
export function fourNights(): RunResult[] {
  return [0, 1, 2, 3].flatMap((i) => suiteRuns(nightAt(i), { pmemBroken: i >= 2, pheapErroring: i === 3, saveMissed: i >= 2, nightIndex: i }));
}

const tmpDirs: string[] = [];
export async function tmpDir(prefix: string): Promise<string> {
  const d = await fs.mkdtemp(path.join((await import('node:os')).tmpdir(), `ftharness-${prefix}-`));
  tmpDirs.push(d);
  return d;
}
// Root-level hook (when loaded by mocha): remove what the tests wrote, unless asked to keep it
// for a look (FTHARNESS_KEEP_TMP=1).
if (typeof after === 'function') {
  after(async () => {
    if (process.env.FTHARNESS_KEEP_TMP) return;
    await Promise.all(tmpDirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
  });
}
