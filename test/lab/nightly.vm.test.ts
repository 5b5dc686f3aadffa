// `ftharness nightly` on a small suite, two nights on real guests: results, report, JUnit with
// names stable across nights (the seed, derived from the date, in properties), the host's trend,
// and the second night compared with the first (the last good one). Bad suites start nothing.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { cli, tmpDir } from '../helpers.js';

describe('ftharness nightly @vm', function () {
  this.timeout(600_000);
  const dir = tmpDir('fth-nightly-');
  const reports = join(dir, 'reports');
  const suite = join(dir, 'suite.yaml');
  writeFileSync(suite, `name: tiny-nightly\nscenarios: [${resolve('test/fixtures/tiny.yaml')}]\nruns: 1\nseed: date\n`);
  const caseOf = (xml: string) => /<testcase name="([^"]+)"/.exec(xml)?.[1];

  it('runs a night, then a second one compared with the first; JUnit names stay the same, the seed moves to properties', async () => {
    const a = await cli(['nightly', '--suite', suite, '--reports', reports, '--date', '2026-11-30', '--json']);
    assert.equal(a.exitCode, 0, a.all);
    const n1 = JSON.parse(a.stdout);
    assert.equal(n1.seed, 20261130);
    assert.equal(n1.seedFrom, 'date');
    assert.equal(n1.verdict, 'pass');
    assert.equal(n1.baseline, undefined);
    const night1 = join(reports, hostname(), '2026-11-30');
    for (const f of ['night.json', 'index.html', 'junit.xml']) assert.ok(existsSync(join(night1, f)), f);
    assert.ok(existsSync(join(reports, hostname(), 'trend.html')));
    const x1 = readFileSync(join(night1, 'junit.xml'), 'utf8');
    assert.match(x1, /<property name="seed" value="20261130"\/>/);

    const b = await cli(['nightly', '--suite', suite, '--reports', reports, '--date', '2026-12-01', '--json']);
    assert.equal(b.exitCode, 0, b.all);
    const n2 = JSON.parse(b.stdout);
    assert.equal(n2.seed, 20261201);
    assert.equal(n2.baseline.date, '2026-11-30');
    assert.deepEqual(n2.regressions, []);
    const night2 = join(reports, hostname(), '2026-12-01');
    assert.ok(existsSync(join(night2, 'compare.txt')));
    const x2 = readFileSync(join(night2, 'junit.xml'), 'utf8');
    assert.equal(caseOf(x2), caseOf(x1));
    assert.doesNotMatch(caseOf(x2)!, /seed/);
    assert.match(readFileSync(join(reports, hostname(), 'trend.html'), 'utf8'), /tiny/);

    const again = await cli(['nightly', '--suite', suite, '--reports', reports, '--date', '2026-12-01']);
    assert.equal(again.exitCode, 2);
    assert.match(again.stderr, /already holds the night of 2026-12-01/);
  });

  it('a bad suite exits 2 naming the field, and starts nothing', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: x\nscenarios: [nope.yaml]\nruns: 0\nbaseline: yesterday\n');
    const r = await cli(['nightly', '--suite', bad, '--reports', join(dir, 'r2')]);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /bad\.yaml: runs: must be >= 1/);
    assert.ok(!existsSync(join(dir, 'r2')));
  });
});
