// npm run bench:scenario [-- --scenario scenarios/pmem-ha-basic.yaml] [--json]: run one scenario
// for real and print where its wall time went, from its history: store start, each boot, each
// agent start, the hold-up, the SUT's save / signal / restore (its own timings, guest clock), the
// checks and the teardown, and the harness overhead (wall time in which neither a guest nor the
// SUT was working or being waited for). Every line names the accelerator.
import '../../src/util/warnings.js';
import { parseArgs } from 'node:util';
import { phaseBreakdown } from '../../src/report/phases.js';
import { benchRun } from '../session.js';

const { values } = parseArgs({ options: { scenario: { type: 'string', default: 'scenarios/pmem-ha-basic.yaml' }, json: { type: 'boolean' }, seed: { type: 'string', default: '3' } } });
const out = await benchRun(values.scenario!, Number(values.seed), '/var/tmp/ftharness/bench-scenario');
const r = out.result;
const b = phaseBreakdown(r);
const tag = `[accel ${r.dimensions.accel} ${r.dimensions.accelChosen ?? ''}, cpu ${r.dimensions.cpuMode ?? '?'}, ${r.dimensions.topology} topology]`;
const m = (name: string) => r.metrics[name]?.values[0];
const sut = Object.fromEntries(['notice_to_save_start_ms', 'save_duration_ms', 'commit_to_signal_ms', 'restore_duration_ms', 'rto_ms'].map((k) => [k, m(k)]).filter(([, v]) => v !== undefined));
if (values.json) {
  console.log(JSON.stringify({ scenario: r.scenario.name, verdict: r.verdict, dimensions: r.dimensions, ...b, sut, dir: out.dir }, null, 2));
} else {
  const s = (ms: number) => `${(ms / 1000).toFixed(1).padStart(6)} s`;
  console.log(`${r.scenario.name}: ${r.verdict} (${r.reason}) ${tag}`);
  for (const p of b.phases) console.log(`  ${p.kind.padEnd(7)} ${s(p.end - p.start)}  at ${s(p.start)}  ${p.name}  ${tag}`);
  // An agent start split on the guest clock (the rest of its span is the spawn and the poll).
  for (const e of r.history.filter((x) => x.f === 'ha-agent-ready')) {
    const g = (e.value as { guestMs?: { loadMs: number; initMs: number } | null }).guestMs;
    if (!g) continue;
    console.log(`  sut     ${s(g.loadMs)}  agent start ${e.process}: process start to agent constructed (Node bootstrap, bundle load, argument parsing; guest clock)  ${tag}`);
    console.log(`  sut     ${s(g.initMs)}  agent start ${e.process}: constructed to ready (first store listing, control tail; guest clock)  ${tag}`);
  }
  for (const [k, v] of Object.entries(sut)) console.log(`  sut     ${s(v as number)}  ${k} (the SUT's own timing)  ${tag}`);
  console.log(`${r.scenario.name} wall ${(b.wallMs / 1000).toFixed(1)} s ${tag}`);
  console.log(`harness overhead ${b.overheadPct.toFixed(1)} % (${(b.overheadMs / 1000).toFixed(1)} s of the wall with no guest or SUT work) ${tag}`);
}
process.exit(r.verdict === 'pass' ? 0 : r.verdict === 'fail' ? 1 : 2);
