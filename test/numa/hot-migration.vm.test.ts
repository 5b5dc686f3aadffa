// Hot-first migration on a real 2-node TCG guest, through the real CLI: every policy judged on the
// exact access counts of the TCG plugin. The scenario must pass with its time series, order of
// moved pages, perf table (hardware events marked unsupported) and t90 per policy in the results;
// the broken variant that moves the coldest pages first must be caught by the judges.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, domainNames, qemuProcessesOf, tmpDir } from '../helpers.js';
import type { RunResult } from '../../src/results/types.js';
import { BROKEN_ENV } from '../../src/shared/broken-sut.js';

async function run(file: string, env: Record<string, string> = {}): Promise<{ res: RunResult; dir: string; all: string }> {
  const r = await cli(['run', file, '--json', '--out', tmpDir('fth-numa-'), '--no-report', '--seed', '7'], { env });
  let summary: { runs: { dir: string }[] };
  try { summary = JSON.parse(r.stdout); } catch { assert.fail(`no JSON summary (exit ${r.exitCode}): ${r.all}`); }
  const dir = summary.runs[0].dir;
  const res = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult;
  assert.ok(!(await domainNames()).some((d) => d.includes(res.runId)), 'domain left behind');
  assert.deepEqual(await qemuProcessesOf(res.runId), [], 'qemu left behind');
  return { res, dir, all: r.all ?? '' };
}
const check = (res: RunResult, prefix: string) => {
  const c = res.checks.find((x) => x.name.startsWith(prefix));
  assert.ok(c, `no check "${prefix}…" in ${res.checks.map((x) => x.name).join(' | ')}`);
  return c;
};
const POLICIES = ['none', 'all-at-once', 'address', 'hot-first', 'autonuma'];

describe('numa hot-first migration on a real 2-node guest @vm', function () {
  this.timeout(900_000);

  it('numa-hot-migration: hot-first beats all-at-once (t90 ≤ 0.5×) and autonuma, moving the exact hottest pages first', async () => {
    const { res, dir, all } = await run('scenarios/numa-hot-migration.yaml');
    const figures = Object.fromEntries(POLICIES.map((p) => [p, res.metrics[`numa_t90_ms{policy=${p}}`]?.values[0] ?? null]));
    console.log(`      t90 ms by policy (tcg, exact counter): ${JSON.stringify(figures)}`);
    assert.equal(res.verdict, 'pass', `${res.reason}\n${all.slice(-2000)}`);
    for (const c of res.checks) assert.equal(c.valid, true, `${c.name}: ${c.message}`);
    assert.equal(res.dimensions.counter, 'tcg-plugin (exact)');
    assert.equal(res.dimensions.accel, 'tcg');
    assert.equal(res.dimensions.topology, 'emulated');
    for (const p of POLICIES) {
      const L = res.metrics[`numa_local_fraction{policy=${p}}`];
      assert.ok(L && L.values.length > 50 && L.t?.length === L.values.length && L.tFrom === 'the move', `locality series of ${p}`);
      assert.ok(`numa_t90_ms{policy=${p}}` in res.metrics, `t90 of ${p} (a value, or missing with the reason)`);
      // perf: software events measured, hardware ones marked unsupported (TCG has no PMU), never zero
      assert.ok(res.metrics[`perf.task-clock{policy=${p}}`]?.values[0] > 0, `perf task-clock of ${p}`);
      assert.equal(res.metrics[`perf.cycles{policy=${p}}`]?.unit, 'unsupported');
    }
    assert.equal(res.metrics['numa_t90_ms{policy=none}'].values.length, 0, 'no migration never gets local');
    assert.equal(res.metrics['numa_hot_pages_local_fraction{policy=none}'].values[0], 0);
    assert.ok(res.metrics['numa_hot_pages_local_fraction{policy=hot-first}'].values[0] > 0.99);
    assert.ok(res.metrics['vmstat.pgmigrate_success{policy=all-at-once}'].values[0] >= 16384 * 0.99);
    // the order of moved pages is kept with the run
    const st = JSON.parse(readFileSync(join(dir, 'tenant.numa-status.json'), 'utf8')) as { results: Record<string, { moved?: number[] }> };
    assert.equal(st.results['hot-first'].moved?.length, 16384);
    assert.match(readFileSync(join(dir, 'tenant.access-series.jsonl'), 'utf8').split('\n')[0], /"armed":true/);
  });

  it('@full the broken variant that moves the coldest pages first is caught (precision and t90 checks say false)', async () => {
    const { res, all } = await run('test/fixtures/numa/hot-migration-short.yaml', { [BROKEN_ENV]: 'numa:cold-first' });
    assert.equal(res.verdict, 'fail', `${res.reason}\n${all.slice(-2000)}`);
    assert.equal(check(res, 'hot-first moves the exact hottest pages first').valid, false);
    assert.equal(check(res, 'hot-first reaches 90 % local in ≤ 0.5 × all-at-once').valid, false);
    assert.equal(check(res, "each policy's outcome").valid, true, 'the moves themselves still happen');
    assert.equal(res.dimensions.brokenSut, 'numa:cold-first');
  });

  it('numa-host-hot-migration is skipped here (one host NUMA node), with the reason: verdict unknown, exit 3', async () => {
    const r = await cli(['run', 'scenarios/numa-host-hot-migration.yaml', '--json', '--out', tmpDir('fth-numa-'), '--no-report', '--seed', '7']);
    assert.equal(r.exitCode, 3, r.all);
    const res = JSON.parse(readFileSync(join((JSON.parse(r.stdout) as { runs: { dir: string }[] }).runs[0].dir, 'results.json'), 'utf8')) as RunResult;
    assert.equal(res.verdict, 'unknown');
    assert.match(res.reason, /skipped: this host has 1 NUMA node/);
    assert.ok(res.history.some((e) => e.f === 'skip'));
  });
});
