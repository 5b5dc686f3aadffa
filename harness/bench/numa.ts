// npm run bench:numa [-- --scenario scenarios/numa-hot-migration.yaml] [--seed N] [--json]: run the
// hot-migration scenario once and print, from that one run, the ratios the NUMA issue asks for:
// time to 90 % local accesses of hot-first over all-at-once and over automatic NUMA balancing, the
// local accesses served in the first 2 s, the precision of hot-first's first moves, and the access
// counter's own cost (the tenant's pace unarmed ÷ armed). Every line names how it was obtained.
import '../../src/util/warnings.js';
import { parseArgs } from 'node:util';
import { benchRun } from '../session.js';

const { values } = parseArgs({ options: { scenario: { type: 'string', default: 'scenarios/numa-hot-migration.yaml' }, json: { type: 'boolean' }, seed: { type: 'string', default: '5' } } });
const out = await benchRun(values.scenario!, Number(values.seed), '/var/tmp/ftharness/bench-numa');
const r = out.result;
const d = r.dimensions;
const tag = `[accel ${d.accel} (${d.accelChosen ?? '?'}), cpu ${d.cpuMode ?? '?'}, ${d.topology} topology, counter ${d.counter ?? 'none'}]`;
const v = (name: string) => r.metrics[name]?.values[0];
const t90 = (p: string) => v(`numa_t90_ms{policy=${p}}`);
const ratio = (a?: number, b?: number) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
const served = (p: string) => v(`numa_local_accesses_2s{policy=${p}}`);
const lines: [string, number | undefined, string][] = [
  ['ratio t90 hot-first/all-at-once', ratio(t90('hot-first'), t90('all-at-once')), `${t90('hot-first') ?? 'never'} ms / ${t90('all-at-once') ?? 'never'} ms; the claim: ≤ 0.5`],
  ['ratio t90 hot-first/autonuma', ratio(t90('hot-first'), t90('autonuma')), `${t90('hot-first') ?? 'never'} ms / ${t90('autonuma') ?? 'never'} ms; balancing migrates on the first remote access's fault, so what it serves is local at once`],
  ['ratio t90 hot-first/address', ratio(t90('hot-first'), t90('address')), `${t90('hot-first') ?? 'never'} ms / ${t90('address') ?? 'never'} ms`],
  ['ratio local-accesses-2s hot-first/autonuma', ratio(served('hot-first'), served('autonuma')), `${served('hot-first')} / ${served('autonuma')} exact local accesses in the first 2 s after the move`],
  ['ratio local-accesses-2s hot-first/all-at-once', ratio(served('hot-first'), served('all-at-once')), `${served('hot-first')} / ${served('all-at-once')}`],
  ['ratio counter slowdown unarmed/armed', v('numa_counter_slowdown'), `${Math.round(v('numa_tenant_ops_per_s{counter=unarmed}') ?? 0)} / ${Math.round(v('numa_tenant_ops_per_s{counter=armed}') ?? 0)} tenant ops/s on an idle vCPU (guest clock)`],
];
const precision = r.checks.find((c) => c.name.startsWith('hot-first moves the exact hottest pages first'))?.message;
if (values.json) {
  console.log(JSON.stringify({ scenario: r.scenario.name, verdict: r.verdict, dimensions: d, ratios: Object.fromEntries(lines.map(([k, x]) => [k, x ?? null])), precision, dir: out.dir }, null, 2));
} else {
  console.log(`${r.scenario.name}: ${r.verdict} (${r.reason}) ${tag}`);
  // "ratio … <number>" first on each line, for scripts; "n/a" when a side never got there
  for (const [k, x, why] of lines) console.log(`${k} ${x === undefined ? 'n/a' : x.toFixed(3)}  (${why}) ${tag}`);
  if (precision) console.log(`precision ${precision} ${tag}`);
  console.log('one run; times are emulated (TCG): compare the ratios, not the milliseconds. No latency or throughput difference between guest nodes is physical here.');
}
process.exit(r.verdict === 'pass' ? 0 : r.verdict === 'fail' ? 1 : 2);
