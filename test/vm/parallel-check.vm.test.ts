// `parallel:` groups run their steps at once (seen in the history), and `ftharness check`
// judges a stored run again from its evidence alone: same verdict and exit code; evidence that
// says otherwise gives another verdict (the checker really re-runs).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../../src/results/types.js';
import { cli, tmpDir } from '../helpers.js';

async function runFile(file: string): Promise<{ res: RunResult; dir: string; exitCode?: number }> {
  const r = await cli(['run', file, '--json', '--out', tmpDir(), '--no-report']);
  const summary = JSON.parse(r.stdout || '{}');
  assert.ok(summary.runs?.length, r.all);
  const dir = summary.runs[0].dir as string;
  return { res: JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunResult, dir, exitCode: r.exitCode };
}

describe('@vm parallel groups and re-judging stored runs', function () {
  this.timeout(300_000);
  let run: Awaited<ReturnType<typeof runFile>>;
  before(async () => { run = await runFile('test/fixtures/parallel-boot.yaml'); });

  it('parallel: both boots are in flight at the same time', () => {
    assert.equal(run.res.verdict, 'pass', run.res.reason);
    const boots = ['a', 'b'].map((vm) => ({
      start: run.res.history.find((e) => e.process === vm && e.f === 'boot' && e.type === 'invoke')!.t,
      end: run.res.history.find((e) => e.process === vm && e.f === 'boot' && e.type === 'ok')!.t,
    }));
    assert.ok(boots[0].start < boots[1].end && boots[1].start < boots[0].end, `boots did not overlap: ${JSON.stringify(boots)}`);
  });

  it('ftharness check gives the run\'s verdict and exit code from the evidence alone', async () => {
    const c = await cli(['check', run.dir, '--json']);
    assert.equal(c.exitCode, 0, c.all);
    const out = JSON.parse(c.stdout);
    assert.equal(out.verdict, 'pass');
    assert.equal(out.runs[0].verdict, run.res.verdict);
    assert.ok(out.runs[0].checks.every((x: { checker?: string }) => x.checker === 'core/backing-file'));
  });

  it('evidence that shows a difference makes the re-judged verdict fail (exit 1)', async () => {
    const evDir = join(run.dir, 'evidence');
    const f = join(evDir, readdirSync(evDir).find((x) => x.includes('backing-file'))!);
    const ev = JSON.parse(readFileSync(f, 'utf8'));
    const first = Object.keys(ev.digest.blocks)[0];
    ev.digest.blocks[first][0] = '0000000000000000';
    ev.digest.sha256 = 'tampered';
    writeFileSync(f, JSON.stringify(ev));
    const c = await cli(['check', run.dir, '--json']);
    assert.equal(c.exitCode, 1, c.all);
    const out = JSON.parse(c.stdout);
    assert.equal(out.runs[0].verdict, 'fail');
    assert.equal(out.runs[0].was, 'pass');
    assert.match(out.runs[0].reason, /differs at byte/);
  });

  it('a failed run re-judges as fail', async () => {
    const failed = await runFile('test/fixtures/overwritten.yaml');
    assert.equal(failed.res.verdict, 'fail');
    const c = await cli(['check', failed.dir]);
    assert.equal(c.exitCode, 1, c.all);
    assert.match(c.stdout, /^FAIL/);
  });
});

describe('@vm generated schedules are recorded and replayed', function () {
  this.timeout(300_000);

  it('a drawn schedule fires, goes into results.json, and --replay fires the same one again', async () => {
    const out = tmpDir();
    const r = await cli(['run', 'test/fixtures/tiny-schedule.yaml', '--schedule', 'random', '--seed', '9', '--json', '--out', out, '--no-report']);
    assert.equal(r.exitCode, 0, r.all);
    const first = JSON.parse(r.stdout).runs[0];
    const res = JSON.parse(readFileSync(join(first.dir, 'results.json'), 'utf8')) as RunResult;
    assert.deepEqual(res.schedule!.faults.map((f) => f.kind).sort(), ['link-cut', 'store-outage']);
    assert.ok(res.schedule!.outcome!.every((o) => o.fired), JSON.stringify(res.schedule!.outcome));
    assert.ok(res.faults.some((f) => f.kind === 'store-outage' && f.end !== undefined) && res.faults.some((f) => f.kind === 'network-cut' && f.end !== undefined));
    const again = await cli(['run', 'test/fixtures/tiny-schedule.yaml', '--replay', first.dir, '--json', '--out', tmpDir(), '--no-report']);
    assert.equal(again.exitCode, 0, again.all);
    const second = JSON.parse(again.stdout).runs[0];
    assert.equal(second.seed, 9);
    assert.deepEqual(second.schedule.faults, res.schedule!.faults);
  });
});
