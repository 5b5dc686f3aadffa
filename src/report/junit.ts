// JUnit XML for CI dashboards: one testsuite per scenario, one testcase per run.
// fail (invariant violated) → <failure>, error (harness/infra) → <error>: CI tools keep the
// two apart the same way we do. unknown (nothing violated, but a checker could not decide) →
// <skipped message="not judged: …">: JUnit has no "inconclusive", and skipped is the one
// outcome CI tools (Jenkins, GitLab, GitHub annotations, Azure) show as neither pass nor
// failure. A testcase without a child would be read as a pass, which an unknown run is not;
// <failure> or <error> would claim a violation or a broken harness that did not happen. The
// skipped counts sit on the suites and the root, so tests − failures − errors − skipped is
// the pass count (readers that derive passes that way never fold unknown into pass). Escaping and XML-1.0-invalid characters (guest consoles emit
// control bytes) are left to xmlbuilder2, with invalid characters replaced rather than fatal.

import { create } from 'xmlbuilder2';
import type { RunResult } from '../results/types.js';
import { countVerdicts } from './model.js';

const secs = (ms: number) => (Math.max(ms, 0) / 1000).toFixed(3);
const MAX_EVIDENCE = 4000;

function failureText(r: RunResult): string {
  const lines = r.checks.filter((c) => c.valid !== true).map((c) => {
    let ev = '';
    if (c.evidence !== undefined) {
      ev = JSON.stringify(c.evidence, null, 2) ?? '';
      if (ev.length > MAX_EVIDENCE) ev = `${ev.slice(0, MAX_EVIDENCE)}…`;
      ev = `\n  evidence: ${ev.replace(/\n/g, '\n  ')}`;
    }
    return `[${c.valid === false ? 'violated' : 'unknown'}] ${c.name}: ${c.message}${ev}`;
  });
  return [r.reason, ...lines].join('\n');
}

/** Stable across nights (a CI's test history keys on it): what changes per night — the seed,
 *  the run id — goes into the testcase's properties. */
function caseName(r: RunResult): string {
  return `run ${r.runIndex}/${r.runs} [${r.dimensions.accel}·${r.dimensions.topology}]`;
}

export function renderJunit(results: readonly RunResult[], opts: { name?: string } = {}): string {
  const byScenario = new Map<string, RunResult[]>();
  for (const r of results) byScenario.set(r.scenario.name, [...(byScenario.get(r.scenario.name) ?? []), r]);
  const total = countVerdicts(results);
  const doc = create({ version: '1.0', encoding: 'UTF-8', invalidCharReplacement: '\uFFFD' });
  const root = doc.ele('testsuites', {
    name: opts.name ?? 'ftharness',
    tests: String(results.length), failures: String(total.fail), errors: String(total.error), skipped: String(total.unknown),
    time: secs(results.reduce((s, r) => s + r.durationMs, 0)),
  });
  for (const [scenario, runs] of [...byScenario].sort(([a], [b]) => a.localeCompare(b))) {
    // by run index first: shards merged in any order list the same cases in the same order
    runs.sort((a, b) => a.runIndex - b.runIndex || a.startedAt.localeCompare(b.startedAt));
    const c = countVerdicts(runs);
    const suite = root.ele('testsuite', {
      name: scenario, tests: String(runs.length), failures: String(c.fail), errors: String(c.error), skipped: String(c.unknown),
      time: secs(runs.reduce((s, r) => s + r.durationMs, 0)), timestamp: runs[0].startedAt, hostname: runs[0].dimensions.host,
    });
    const props = suite.ele('properties');
    props.ele('property', { name: 'scenario.file', value: runs[0].scenario.file });
    for (const key of ['accel', 'cpuMode', 'accelChosen', 'topology', 'qemu', 'libvirt', 'hostKernel', 'guestKernel', 'gitRevision']) {
      const vals = [...new Set(runs.map((r) => r.dimensions[key]).filter((v): v is string => v !== undefined))];
      if (vals.length) props.ele('property', { name: key, value: vals.join(', ') });
    }
    for (const r of runs) {
      const tc = suite.ele('testcase', { name: caseName(r), classname: scenario, time: secs(r.durationMs), timestamp: r.startedAt });
      const tp = tc.ele('properties');
      tp.ele('property', { name: 'seed', value: String(r.seed) });
      tp.ele('property', { name: 'runId', value: r.runId });
      switch (r.verdict) {
        case 'pass': break; // a bare testcase
        case 'fail': tc.ele('failure', { message: r.reason, type: 'invariant-violated' }).txt(failureText(r)); break;
        case 'error': tc.ele('error', { message: r.reason, type: 'harness-error' }).txt(r.reason); break;
        case 'unknown': tc.ele('skipped', { message: `not judged: ${r.reason}` }).txt(failureText(r)); break;
        default: { const v: never = r.verdict; throw new Error(`junit: unhandled verdict ${String(v)}`); }
      }
      const out = [`runId=${r.runId}`, ...Object.entries(r.artefacts).map(([k, p]) => `artefact ${k}: ${p}`)];
      tc.ele('system-out').txt(out.join('\n'));
    }
  }
  return doc.end({ prettyPrint: true });
}
