// The HA checkers bite: deliberately broken variants of the SUT (FTH_BROKEN_SUT, src/util/
// broken-sut.ts) and a writer that is not quiesced must each give verdict fail, on real guests,
// with the failing row of judgeHa's table as the reason. A checker never shown to say false
// proves nothing.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, tmpDir } from '../helpers.js';
import type { RunResult } from '../../src/results/types.js';

async function mustFail(file: string, broken?: string): Promise<{ res: RunResult; row: number; message: string }> {
  const r = await cli(['run', file, '--json', '--out', tmpDir(), '--no-report', '--seed', '31'], { env: broken ? { FTH_BROKEN_SUT: broken } : {} });
  const summary = JSON.parse(r.stdout || '{}');
  assert.ok(summary.runs?.length, r.all);
  const res = JSON.parse(readFileSync(join(summary.runs[0].dir, 'results.json'), 'utf8')) as RunResult;
  assert.equal(res.verdict, 'fail', `${file}${broken ? ` with ${broken}` : ''}: ${res.verdict}: ${res.reason}`);
  assert.equal(r.exitCode, 1);
  assert.equal(res.dimensions.brokenSut, broken);
  const c = res.checks.find((x) => x.name.startsWith('standby holds') && x.valid === false)!;
  assert.ok(c, `no failed HA check: ${res.reason}`);
  return { res, row: (c.evidence as { row: number }).row, message: c.message };
}

describe('@vm the HA checkers say false on broken systems', function () {
  this.timeout(400_000);

  it('a writer that is not quiesced: no generation equals the PMEM at the cut (row 4)', async () => {
    const { row, message } = await mustFail('test/fixtures/pmem-ha-writer-no-quiesce.yaml');
    assert.equal(row, 4);
    assert.match(message, /no intact generation in the store equals the primary's PMEM at the cut/);
  });

  it('a standby that restores without verifying: the bit-flipped chunk is a silent mismatch (row 1)', async () => {
    const { row, message } = await mustFail('scenarios/pmem-ha-corrupt-chunk.yaml', 'pmem-ha-standby:skip-verify');
    assert.equal(row, 1);
    assert.match(message, /^SILENT MISMATCH/);
  });

  it('a pipelined standby that applies chunks before the commit: the torn save left bytes nobody committed (row 1)', async () => {
    const { res, row, message } = await mustFail('scenarios/pmem-ha-pipelined-cut-mid-save.yaml', 'pmem-ha-standby:apply-early');
    assert.equal(row, 1);
    assert.match(message, /^SILENT MISMATCH/);
    // the path under test ran: the standby had staged the torn save's chunks (its own report)
    const settled = res.history.filter((e) => e.f === 'settled').at(-1)?.value as { prefetch?: { chunksStaged: number } } | undefined;
    assert.equal(settled?.prefetch?.chunksStaged, 3);
  });

  it('a primary that names changed chunks by their pre-copied content: no generation equals the PMEM at the cut (row 4)', async () => {
    const { row, message } = await mustFail('scenarios/pmem-ha-precopy.yaml', 'pmem-ha-primary:stale-precopy');
    assert.equal(row, 4);
    assert.match(message, /no intact generation in the store equals the primary's PMEM at the cut/);
  });

  it('a writer that goes around the dm-era tracker (writes /dev/pmem0 itself): the save names stale copies, no generation equals the PMEM at the cut (row 4)', async () => {
    const { res, row, message } = await mustFail('test/fixtures/pmem-ha-precopy-era-bypass.yaml');
    assert.equal(row, 4);
    assert.match(message, /no intact generation in the store equals the primary's PMEM at the cut/);
    // the tracker saw nothing to read: the save took every chunk from what the pre-copy read
    assert.equal(res.metrics.bytes_read_at_save.values[0], 0);
  });

  it('a standby that ignores new generations: the intact newest generation was not restored (row 3)', async () => {
    const { row, message } = await mustFail('test/fixtures/pmem-ha-settled.yaml', 'pmem-ha-standby:ignore-new');
    assert.equal(row, 3);
    assert.match(message, /is intact and the newest in the store, but the standby holds its previous content: it ignored or lost it/);
  });

  it('ext4-DAX saved without freezing it: e2fsck finds errors and durable files are missing or changed on the standby', async () => {
    const { res } = await mustFail('test/fixtures/pmem-ha-ext4-dax-no-quiesce.yaml');
    const fs = res.checks.find((c) => c.name.includes('filesystem on its PMEM'))!;
    assert.equal(fs.valid, false, fs.message);
    const ev = fs.evidence as any;
    assert.ok(ev.e2fsckExit !== 0 || ev.missing > 0 || ev.wrongContent > 0, fs.message);
    assert.match(fs.message, /e2fsck -fn|durable files (missing|with other content)/);
  });
});
