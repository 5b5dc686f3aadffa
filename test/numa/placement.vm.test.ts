// Adaptive placement on a real 3-vCPU, 2-node TCG guest, through the real CLI: tenants arrive and
// are placed as the exhaustive oracle says (on the harness's own /proc and sysfs readings), each
// is local by the exact counters, and when the harness moves a tenant's memory away the
// controller makes it local again in time. The broken controller that never re-places is caught.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, domainNames, qemuProcessesOf, tmpDir } from '../helpers.js';
import type { RunResult } from '../../src/results/types.js';
import { BROKEN_ENV } from '../../src/shared/broken-sut.js';

async function run(env: Record<string, string> = {}): Promise<{ res: RunResult; all: string }> {
  const r = await cli(['run', 'scenarios/numa-placement.yaml', '--json', '--out', tmpDir('fth-numa-'), '--no-report', '--seed', '7'], { env });
  let summary: { runs: { dir: string }[] };
  try { summary = JSON.parse(r.stdout); } catch { assert.fail(`no JSON summary (exit ${r.exitCode}): ${r.all}`); }
  const res = JSON.parse(readFileSync(join(summary.runs[0].dir, 'results.json'), 'utf8')) as RunResult;
  assert.ok(!(await domainNames()).some((d) => d.includes(res.runId)), 'domain left behind');
  assert.deepEqual(await qemuProcessesOf(res.runId), [], 'qemu left behind');
  return { res, all: r.all ?? '' };
}
const check = (res: RunResult, prefix: string) => {
  const c = res.checks.find((x) => x.name.startsWith(prefix));
  assert.ok(c, `no check "${prefix}…" in ${res.checks.map((x) => x.name).join(' | ')}`);
  return c;
};

describe('numa placement on a real 2-node guest @vm', function () {
  this.timeout(600_000);

  it('numa-placement: oracle placement, local tenants, locality restored after the memory move', async () => {
    const { res, all } = await run();
    console.log(`      restore: ${check(res, 'the controller restores').message}`);
    assert.equal(res.verdict, 'pass', `${res.reason}\n${all.slice(-2000)}`);
    assert.equal(res.checks.length, 3);
    assert.match(check(res, 'tenants placed as the cost model').message, /placement a→0 b→1/);
    assert.ok(res.metrics.numa_restore_ms.values[0] >= 0);
    assert.ok(res.metrics.numa_move_ms.values[0] > 0);
    const iso = res.history.find((e) => e.f === 'isolate-tenant-cpus' && e.type === 'ok');
    assert.ok(iso && (iso.value as { processes: number }).processes > 0, 'user processes moved off the tenant vCPUs');
    assert.ok(res.metrics['numa_local_fraction{tenant=a}'].values.length > 50);
    assert.ok(res.history.some((e) => e.process === 'nemesis' && e.f === 'move-memory' && e.type === 'ok'));
    assert.equal(res.dimensions.counter, 'tcg-plugin (exact)');
  });

  it('@full the controller that never re-places is caught: the moved tenant stays remote', async () => {
    const { res, all } = await run({ [BROKEN_ENV]: 'numa:no-rebalance' });
    assert.equal(res.verdict, 'fail', `${res.reason}\n${all.slice(-2000)}`);
    assert.equal(check(res, 'the controller restores').valid, false);
    assert.equal(check(res, 'tenants placed as the cost model').valid, true, 'arrivals are still placed');
  });
});
