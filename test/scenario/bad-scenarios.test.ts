// The corpus of semantically broken scenarios (test/fixtures/bad-scenarios, one rule each): the
// real CLI refuses every one with exit 2 and a `file:line: field: reason` line matching the
// file's `# expect:` regex; `run` starts nothing for them. No VM is booted: the CLI refuses
// before anything starts.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, tmpDir } from '../helpers.js';

const DIR = 'test/fixtures/bad-scenarios';
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(DIR, f));

function expectOf(file: string): RegExp {
  const first = readFileSync(file, 'utf8').split('\n')[0];
  const m = /^# expect: (.+)$/.exec(first);
  assert.ok(m, `${file}: the first line must be "# expect: <regex>"`);
  return new RegExp(m[1]);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type Ran = { exitCode?: number; stdout: string; stderr: string };

/** One `validate` over the whole corpus (it reports every file's problems, each line prefixed
 *  with its file): a line per file, and no file reported ok. A few files also run alone below. */
async function validateAll(files: string[]): Promise<Map<string, Ran>> {
  const r = await cli(['validate', ...files]);
  const stderr = String(r.stderr).split('\n');
  return new Map(files.map((f) => [f, {
    exitCode: r.exitCode,
    stdout: String(r.stdout).split('\n').filter((l) => l === `ok ${f}`).join('\n'),
    stderr: stderr.filter((l) => l.startsWith(`${f}:`)).join('\n'),
  }]));
}

describe('broken scenarios are refused before anything starts', function () {
  this.timeout(180_000);
  let results: Map<string, Ran>;
  before(async () => { results = await validateAll(FILES); });

  it('the corpus has at least 25 files, each with an expectation', () => {
    assert.ok(FILES.length >= 25, `only ${FILES.length} files in ${DIR}`);
    for (const f of FILES) expectOf(f);
  });

  for (const f of FILES) {
    it(`validate ${f.slice(DIR.length + 1)}: exit 2, file:line: field: reason`, async () => {
      const want = expectOf(f);
      const r = results.get(f)!;
      assert.equal(r.exitCode, 2, `exit ${r.exitCode}\n${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stdout, /^ok /m);
      const lines = r.stderr.trim().split('\n');
      const located = new RegExp(`^${escape(f)}:(\\d+): (.*)$`);
      const hits = lines.map((l) => located.exec(l)).filter((m): m is RegExpExecArray => !!m && Number(m[1]) > 0 && want.test(m[2]));
      assert.ok(hits.length > 0, `no "${f}:LINE: …" line of stderr matches ${want}:\n${r.stderr}`);
      // one rule each: the file is broken in exactly one place
      assert.equal(lines.length, 1, `expected one problem:\n${r.stderr}`);
    });
  }

  it('every shipped scenario validates through the CLI (exit 0)', async () => {
    const files = readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).map((f) => join('scenarios', f));
    const r = await cli(['validate', ...files]);
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(r.stdout.split('\n').filter((l) => l.startsWith('ok ')).length, files.length);
  });

  for (const name of ['hmat-both-directions', 'boot-during-holdup']) {
    it(`validate ${name}.yaml alone: exit 2`, async () => {
      const f = join(DIR, `${name}.yaml`);
      const r = await cli(['validate', f]);
      assert.equal(r.exitCode, 2, r.all);
      assert.match(r.stderr, new RegExp(`^${escape(f)}:\\d+: ${expectOf(f).source.replace(/^\^/, '')}`, 'm'));
    });
  }

  for (const name of ['exec-after-power-cut', 'power-cut-at-other-phase', 'image-missing', 'link-no-way-back']) {
    it(`run ${name}.yaml: exit 2, "nothing was started", no results dir`, async () => {
      const out = join(tmpDir(), 'out');
      const f = join(DIR, `${name}.yaml`);
      const r = await cli(['run', f, '--out', out]);
      assert.equal(r.exitCode, 2, r.all);
      assert.match(r.stderr, /nothing was started/);
      assert.match(r.stderr, new RegExp(`^${escape(f)}:\\d+: ${expectOf(f).source.replace(/^\^/, '')}`, 'm'));
      assert.equal(existsSync(out), false, 'a results dir was created for an invalid scenario');
    });
  }
});
