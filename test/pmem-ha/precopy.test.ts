// Continuous pre-copy against a real Ceph RGW: chunks copied while AC is present are stored by
// content; the save at the notice uploads only the chunks changed since and names the rest by
// content (manifest version 2); the standby and the harness's own reader reassemble the region
// from both. The region files are read back here; no case trusts the agents' reports for data.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { saveRegion } from '../../src/pmem-ha/save.js';
import { restoreNewest } from '../../src/pmem-ha/restore.js';
import { casKey, casRoot, manifestKey } from '../../src/pmem-ha/layout.js';
import { parseManifest, sealManifest, serializeManifest, zeroChunkSha } from '../../src/pmem-ha/manifest.js';
import { Journal } from '../../src/pmem-ha/journal.js';
import { Precopy } from '../../src/pmem-ha/precopy.js';
import { readGeneration } from '../../src/pmem-ha/plugin/truth.js';
import { BUCKET, MiB, pattern, readRegion, useLab, waitFor, writeRegion, type Lab } from './helpers.js';

const SIZE = 8 * MiB;
const CHUNK = 1 * MiB;

describe('pmem-ha continuous pre-copy (real RGW)', function () {
  this.timeout(60000);
  let lab!: Lab;
  useLab((l) => (lab = l));

  const precopied = async (prefix: string, dev: string) => {
    const p = new Precopy({ store: lab.store, prefix, regionPath: dev, chunkSize: CHUNK, intervalMs: 50, rateMiBs: 1024 });
    p.start();
    await waitFor('two passes', () => p.status.passes >= 2);
    await p.pause();
    return p;
  };
  const restoreInto = async (prefix: string) => {
    const dev = writeRegion(lab.path('sb.pmem'), pattern(SIZE, CHUNK, 'standby-old'));
    const j = await Journal.open(writeRegion(lab.path('sb.meta'), Buffer.alloc(2 * MiB)));
    try {
      const r = await restoreNewest({ store: lab.store, prefix, regionPath: dev, journal: j });
      return { r, dev };
    } finally {
      await j.close();
    }
  };

  it('the save uploads only the chunks changed since the pre-copy; standby and harness reassemble the region', async () => {
    const prefix = lab.prefix();
    const dev = writeRegion(lab.path('p.pmem'), pattern(SIZE, CHUNK, 'base', [6]));
    const p = await precopied(prefix, dev);
    assert.equal(p.held.size, 7, 'seven non-zero chunks copied');
    assert.equal((await lab.store.list(casRoot(prefix))).keys.length, 7);
    // Two chunks change after the copy synced, and one becomes zero.
    const now = readRegion(dev);
    pattern(SIZE, CHUNK, 'dirty').copy(now, 2 * CHUNK, 2 * CHUNK, 4 * CHUNK);
    now.fill(0, 7 * CHUNK, 8 * CHUNK);
    writeFileSync(dev, now);
    const r = await saveRegion({ store: lab.store, prefix, regionPath: dev, chunkSize: CHUNK, precopied: p.held });
    assert.equal(r.outcome, 'committed', r.error);
    assert.equal(r.progress.chunksUploaded, 2);
    assert.equal(r.progress.bytesUploaded, 2 * CHUNK);
    assert.equal(r.progress.chunksPrecopied, 4);
    const m = parseManifest((await lab.store.get(manifestKey(prefix, r.generation)))!, r.generation);
    assert.equal(m.version, 2);
    assert.deepEqual(m.chunks.filter((c) => c.cas).map((c) => c.index), [0, 1, 4, 5]);
    const { r: rr, dev: sb } = await restoreInto(prefix);
    assert.equal(rr.restored, r.generation);
    assert.ok(readRegion(sb).equals(now), 'the standby holds the region as it was at the save');
    const truth = await readGeneration(lab.rgw.conn, BUCKET, prefix, r.generation);
    assert.equal(truth.intact, true, truth.problem);
    assert.ok(truth.content!.equals(now), 'the harness reassembles the same bytes');
  });

  it('a pre-copied chunk missing from the store: the standby refuses the generation and the harness sees it torn', async () => {
    const prefix = lab.prefix();
    const content = pattern(SIZE, CHUNK, 'gone');
    const dev = writeRegion(lab.path('p2.pmem'), content);
    const p = await precopied(prefix, dev);
    const r = await saveRegion({ store: lab.store, prefix, regionPath: dev, chunkSize: CHUNK, precopied: p.held });
    assert.equal(r.progress.chunksUploaded, 0, 'nothing changed: every chunk named by content');
    await lab.store.delete(casKey(prefix, p.held.get(3)!.sha256));
    const { r: rr } = await restoreInto(prefix);
    assert.equal(rr.restored, null);
    assert.match(rr.refusals[0].reason, /missing chunk 3 \(.*\/cas\//);
    const truth = await readGeneration(lab.rgw.conn, BUCKET, prefix, r.generation);
    assert.equal(truth.intact, false);
    assert.match(truth.problem ?? '', /chunk 3 missing/);
  });

  it('broken variant stale-precopy names changed chunks by their old content: the restored region is not the saved one', async () => {
    const prefix = lab.prefix();
    const dev = writeRegion(lab.path('p3.pmem'), pattern(SIZE, CHUNK, 'old'));
    const p = await precopied(prefix, dev);
    const changed = pattern(SIZE, CHUNK, 'new');
    writeFileSync(dev, changed);
    process.env.FTH_BROKEN_SUT = 'pmem-ha-primary:stale-precopy';
    try {
      const r = await saveRegion({ store: lab.store, prefix, regionPath: dev, chunkSize: CHUNK, precopied: p.held });
      assert.equal(r.progress.chunksUploaded, 0);
    } finally {
      delete process.env.FTH_BROKEN_SUT;
    }
    const { dev: sb } = await restoreInto(prefix);
    assert.ok(!readRegion(sb).equals(changed), 'what a checker comparing with the region at the save must catch');
  });

  it('a restarted pre-copy does not upload what the store already holds by content', async () => {
    const prefix = lab.prefix();
    const dev = writeRegion(lab.path('p4.pmem'), pattern(SIZE, CHUNK, 'again'));
    const first = await precopied(prefix, dev);
    assert.equal(first.status.bytesUploaded, 8 * CHUNK);
    const second = await precopied(prefix, dev);
    assert.equal(second.status.bytesUploaded, 0);
    assert.equal(second.held.size, 8);
  });

  it('manifest: cas only on non-zero chunks of a version 2 manifest', () => {
    const body = (version: number, cas: { zero: boolean }) => serializeManifest(sealManifest({
      format: 'ftharness.pmem-ha.manifest', version, generation: '001796300000000-0a0b0c0d', sourceId: 't', regionSize: CHUNK, chunkSize: CHUNK,
      chunks: [{ index: 0, sha256: cas.zero ? zeroChunkSha(CHUNK) : 'a'.repeat(64), zero: cas.zero, cas: true }],
      startedAt: 1, committedAt: 2,
    }));
    assert.throws(() => parseManifest(body(1, { zero: false })), /invalid cas flag/);
    assert.throws(() => parseManifest(body(2, { zero: true })), /zero|invalid cas flag/);
    assert.equal(parseManifest(body(2, { zero: false })).chunks[0].cas, true);
  });
});
