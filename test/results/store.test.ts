import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  createRunDir, loadRunResults, loadRunResultsWithProblems, scenarioDirName, writeRunResult,
} from '../../src/results/store.js';
import { registerSecret } from '../../src/shared/redact.js';
import { NIGHT0, UNICODE_NAME, XSS_NAME, makeRun, storeRuns, suiteRuns, tmpDir } from '../report/fixtures.js';

describe('results store', () => {
  describe('scenarioDirName', () => {
    const hostile = ['..', '.', '../../etc/passwd', 'a/../../b', '/abs/path', 'a\\b', '', ' ', '.hidden', 'latest', 'x\u0000y', 'con:aux', XSS_NAME];
    for (const name of hostile) {
      it(`maps ${JSON.stringify(name)} to one safe path component`, () => {
        const d = scenarioDirName(name);
        assert.ok(d.length > 0);
        assert.ok(!d.includes('/') && !d.includes('\\') && !d.includes('\u0000'), d);
        assert.notEqual(d, '.');
        assert.notEqual(d, '..');
        assert.ok(!d.startsWith('.'), `hidden or relative: ${d}`);
        assert.notEqual(d, 'latest', 'would collide with the latest symlink');
        assert.equal(path.basename(d), d);
        assert.equal(path.join('/root', d).startsWith('/root/'), true);
      });
    }
    it('keeps unicode readable and safe names unchanged', () => {
      assert.equal(scenarioDirName('pmem-ha.power-cut_v2'), 'pmem-ha.power-cut_v2');
      assert.equal(scenarioDirName('Störfall-Ω'), 'Störfall-Ω');
      assert.match(scenarioDirName(UNICODE_NAME), /^Störfall_Ω_—_NVDIMM_✓-[0-9a-f]{8}$/);
    });
    it('keeps distinct names distinct', () => {
      const names = ['a/b', 'a_b', 'a b', 'a\\b', 'a:b', '..a_b'];
      assert.equal(new Set(names.map(scenarioDirName)).size, names.length);
    });
    it('bounds the length in bytes', () => {
      const d = scenarioDirName('ж'.repeat(500));
      assert.ok(Buffer.byteLength(d) <= 130, String(Buffer.byteLength(d)));
    });
  });

  describe('createRunDir', () => {
    it('creates <root>/<scenario>/<timestamp>-run<k>/ and points latest links at it', async () => {
      const root = await tmpDir('store');
      const when = new Date('2025-11-27T23:57:00.123Z');
      const dir = await createRunDir(root, '../escape attempt', 2, when);
      assert.ok(dir.startsWith(root + path.sep), dir);
      assert.equal(path.basename(dir), '20251127T235700.123Z-run2');
      const scenarioDir = path.dirname(dir);
      assert.equal(path.dirname(scenarioDir), root, 'scenario dir sits directly under the root');
      assert.equal(await fs.realpath(path.join(scenarioDir, 'latest')), await fs.realpath(dir));
      assert.equal(await fs.realpath(path.join(root, 'latest')), await fs.realpath(dir));
      assert.ok(!path.isAbsolute(await fs.readlink(path.join(root, 'latest'))), 'relative link survives moving the root');

      const dir2 = await createRunDir(root, '../escape attempt', 2, when);
      assert.notEqual(dir2, dir, 'same millisecond: a second dir, not a shared one');
      assert.equal(await fs.realpath(path.join(root, 'latest')), await fs.realpath(dir2));
    });
  });

  describe('writeRunResult', () => {
    it('writes pretty results.json with secrets redacted everywhere', async () => {
      const secret = 'S3CR3T-key/with+chars"and\\slash';
      registerSecret(secret);
      const root = await tmpDir('secret');
      const run = makeRun({ scenario: 'secrets', runIndex: 1, runs: 1, verdict: 'fail', startedAt: NIGHT0, reason: `auth failed for ${secret}` });
      run.checks[0].evidence = { [`key:${secret}`]: secret, nested: [{ url: `http://u:${encodeURIComponent(secret)}@h` }] };
      run.history.push({ t: 1, time: run.startedAt, type: 'info', process: 'harness', f: 'env', value: { AWS_SECRET_ACCESS_KEY: secret } });
      const dir = await createRunDir(root, run.scenario.name, 1);
      const file = await writeRunResult(dir, run);
      const text = await fs.readFile(file, 'utf8');
      assert.ok(!text.includes(secret), 'raw secret leaked');
      assert.ok(!text.includes(JSON.stringify(secret).slice(1, -1)), 'JSON-escaped secret leaked');
      assert.ok(!text.includes(encodeURIComponent(secret)), 'URL-encoded secret leaked');
      assert.ok(text.includes('***'));
      assert.match(text, /^\{\n {2}"schemaVersion": 1,/, 'pretty-printed');
      assert.deepEqual((await fs.readdir(dir)).sort(), ['results.json'], 'no temp file left behind');
      assert.equal(run.reason.includes(secret), true, 'the caller\'s object is not mutated');
    });
  });

  describe('loadRunResults', () => {
    it('accepts run dirs, results.json files and roots, without counting latest twice', async () => {
      const root = await tmpDir('load');
      const runs = suiteRuns(NIGHT0);
      const dirs = await storeRuns(root, runs);
      const all = await loadRunResults(root);
      assert.equal(all.length, runs.length);
      assert.deepEqual(new Set(all.map((l) => l.result.runId)), new Set(runs.map((r) => r.runId)));
      const one = await loadRunResults(dirs[0]);
      assert.equal(one.length, 1);
      assert.equal(one[0].dir, await fs.realpath(dirs[0]));
      const viaFile = await loadRunResults(path.join(dirs[1], 'results.json'), dirs[1], path.join(root, 'latest'));
      assert.equal(viaFile.length, 2, 'file and dir of the same run dedupe; latest resolves to a real run');
      const names = all.map((l) => l.result.scenario.name);
      assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b)), 'sorted by scenario');
    });

    it('reports unreadable files as problems instead of failing the whole load', async () => {
      const root = await tmpDir('broken');
      await storeRuns(root, [makeRun({ scenario: 'ok', runIndex: 1, runs: 1, verdict: 'pass', startedAt: NIGHT0 })]);
      const bad = path.join(root, 'crashed', 'x-run1');
      await fs.mkdir(bad, { recursive: true });
      await fs.writeFile(path.join(bad, 'results.json'), '{"schemaVersion": 1, "scen');
      const wrongVersion = path.join(root, 'future', 'y-run1');
      await fs.mkdir(wrongVersion, { recursive: true });
      await fs.writeFile(path.join(wrongVersion, 'results.json'), JSON.stringify({ schemaVersion: 2 }));
      const { runs, problems } = await loadRunResultsWithProblems([root, path.join(root, 'missing')]);
      assert.equal(runs.length, 1);
      assert.equal(problems.length, 3);
      assert.ok(problems.some((p) => p.error.includes('schemaVersion 2')));
      assert.ok(problems.some((p) => p.file.endsWith('missing')));
    });
  });

  it('loads all four verdicts and reports any other as a problem', async () => {
    const root = await tmpDir('verdicts');
    const vs = ['pass', 'fail', 'unknown', 'error'] as const;
    await storeRuns(root, vs.map((verdict, i) => makeRun({ scenario: `v-${verdict}`, runIndex: 1, runs: 1, verdict, startedAt: new Date(NIGHT0.getTime() + i * 60_000) })));
    const odd = path.join(root, 'odd', 'z-run1');
    await fs.mkdir(odd, { recursive: true });
    await fs.writeFile(path.join(odd, 'results.json'), JSON.stringify({ ...makeRun({ scenario: 'odd', runIndex: 1, runs: 1, verdict: 'pass', startedAt: NIGHT0 }), verdict: 'inconclusive' }));
    const { runs, problems } = await loadRunResultsWithProblems([root]);
    assert.deepEqual(runs.map((l) => l.result.verdict).sort(), [...vs].sort());
    assert.equal(problems.length, 1);
    assert.match(problems[0].error, /bad verdict inconclusive/);
  });

  it('round-trips a stored run unchanged (apart from redaction)', async () => {
    const root = await tmpDir('rt');
    const run = suiteRuns(NIGHT0)[0];
    const [dir] = await storeRuns(root, [run]);
    const [back] = await loadRunResults(dir);
    assert.deepEqual(back.result, JSON.parse(JSON.stringify(run)));
  });
});
