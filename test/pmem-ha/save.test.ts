// Save side against a real Ceph RGW: commit rules, zero-chunk skipping, If-None-Match races,
// every --pause-at phase, credential errors, and the hold-up budget with an unreachable store.

import assert from 'node:assert/strict';
import { saveRegion, deleteUncommitted, type CommitClaim, type SaveEvent } from '../../src/pmem-ha/save.js';
import { listGenerations, loadManifest, restoreNewest } from '../../src/pmem-ha/restore.js';
import { latestKey, manifestKey, nextGeneration, compareGenerations } from '../../src/pmem-ha/layout.js';
import { parsePauseAt } from '../../src/pmem-ha/pause.js';
import { makeS3Store } from '../../src/pmem-ha/store.js';
import { Journal } from '../../src/pmem-ha/journal.js';
import { BUCKET, MiB, deadPort, keysUnder, pattern, pauser, readRegion, useLab, writeRegion, type Lab } from './helpers.js';

const SIZE = 8 * MiB;
const CHUNK = 1 * MiB;

describe('pmem-ha save (real RGW)', function () {
  this.timeout(60000);
  let lab!: Lab;
  useLab((l) => (lab = l));

  const region = (seed: string, zeros: number[] = []): { path: string; content: Buffer } => {
    const content = pattern(SIZE, CHUNK, seed, zeros);
    return { path: writeRegion(lab.path(`${seed}.pmem`), content), content };
  };
  const journal = async (): Promise<Journal> => {
    const p = writeRegion(lab.path('meta'), Buffer.alloc(64 * 1024));
    return Journal.open(p);
  };

  it('commits a generation: non-zero chunks uploaded, zero chunks only recorded, manifest and latest written, restorable', async () => {
    const prefix = lab.prefix();
    const src = region('a', [1, 4, 5]);
    const events: SaveEvent['type'][] = [];
    const r = await saveRegion({ store: lab.store, prefix, regionPath: src.path, chunkSize: CHUNK, onEvent: (e) => events.push(e.type) });
    assert.equal(r.outcome, 'committed', r.error);
    assert.equal(r.dataAtRisk, false);
    assert.deepEqual(
      { uploaded: r.progress.chunksUploaded, zero: r.progress.chunksZero, bytesUploaded: r.progress.bytesUploaded, bytesSkipped: r.progress.bytesSkipped },
      { uploaded: 5, zero: 3, bytesUploaded: 5 * MiB, bytesSkipped: 3 * MiB },
    );
    const g = r.generation;
    assert.deepEqual(await keysUnder(lab.store, prefix), [
      ...[0, 2, 3, 6, 7].map((i) => `gen/${g}/chunk/${i}`).sort(),
      `gen/${g}/manifest.json`,
      'latest',
    ].sort());
    const m = await loadManifest(lab.store, prefix, g);
    assert.ok(m);
    assert.deepEqual(m.chunks.filter((c) => c.zero).map((c) => c.index), [1, 4, 5]);
    assert.equal(m.regionSize, SIZE);
    assert.ok(m.startedAt <= m.committedAt);
    const latest = JSON.parse(String(await lab.store.get(latestKey(prefix)))) as CommitClaim;
    assert.deepEqual({ generation: latest.generation, manifestSha256: latest.manifestSha256 }, { generation: g, manifestSha256: m.manifestSha256 });
    // Ordering: the manifest is committed only after the last chunk.
    assert.ok(events.lastIndexOf('chunk-done') < events.indexOf('manifest-committed'));
    // And the generation restores bit for bit into another region.
    const dst = writeRegion(lab.path('dst'), pattern(SIZE, CHUNK, 'old'));
    const j = await journal();
    const rr = await restoreNewest({ store: lab.store, prefix, regionPath: dst, journal: j });
    await j.close();
    assert.equal(rr.restored, g);
    assert.ok(readRegion(dst).equals(src.content), 'restored region equals the saved one (zero chunks zeroed too)');
  });

  it('without a manifest there is no generation: an interrupted save is skipped by restore', async () => {
    const prefix = lab.prefix();
    const src = region('b');
    const p = pauser();
    const saving = saveRegion({ store: lab.store, prefix, regionPath: src.path, chunkSize: CHUNK, pause: { at: parsePauseAt('before-manifest', 'primary'), wait: p.wait }, signal: p.signal });
    assert.equal(await p.reached, 'before-manifest');
    const keys = await keysUnder(lab.store, prefix);
    assert.equal(keys.filter((k) => k.includes('/chunk/')).length, 8);
    assert.ok(!keys.some((k) => k.endsWith('manifest.json')));
    p.release();
    const r = await saving;
    assert.equal(r.outcome, 'abandoned');
    const dstContent = pattern(SIZE, CHUNK, 'untouched');
    const dst = writeRegion(lab.path('dst'), dstContent);
    const j = await journal();
    const rr = await restoreNewest({ store: lab.store, prefix, regionPath: dst, journal: j });
    assert.equal(rr.restored, null);
    assert.deepEqual(rr.uncommitted, [r.generation]);
    assert.equal((await j.read()).kind, 'blank', 'journal untouched');
    await j.close();
    assert.ok(readRegion(dst).equals(dstContent), 'region untouched');
    // Orphans of an uncommitted generation can be cleaned; a committed one is refused.
    assert.deepEqual(await deleteUncommitted(lab.store, prefix, r.generation), { deleted: 8 });
    assert.deepEqual(await keysUnder(lab.store, prefix), []);
  });

  it('a second save creates a newer generation, even with the clock behind, and restore takes the newest', async () => {
    const prefix = lab.prefix();
    const first = await saveRegion({ store: lab.store, prefix, regionPath: region('c1').path, chunkSize: CHUNK });
    // A restarted primary whose clock is an hour behind seeds from the store's newest id.
    const future = nextGeneration(null, Date.now() + 3600_000);
    const firstAhead = await saveRegion({ store: lab.store, prefix, regionPath: region('c2').path, chunkSize: CHUNK, generation: future });
    const src3 = region('c3');
    const newest = (await listGenerations(lab.store, prefix))[0];
    const second = await saveRegion({ store: lab.store, prefix, regionPath: src3.path, chunkSize: CHUNK, newestKnown: newest });
    assert.equal(first.outcome, 'committed');
    assert.equal(firstAhead.outcome, 'committed');
    assert.equal(second.outcome, 'committed');
    assert.ok(compareGenerations(second.generation, firstAhead.generation) > 0);
    assert.deepEqual(await listGenerations(lab.store, prefix), [second.generation, firstAhead.generation, first.generation]);
    const dst = writeRegion(lab.path('dst'), Buffer.alloc(SIZE));
    const j = await journal();
    assert.equal((await restoreNewest({ store: lab.store, prefix, regionPath: dst, journal: j })).restored, second.generation);
    await j.close();
    assert.ok(readRegion(dst).equals(src3.content));
  });

  it('a racing manifest write is rejected by If-None-Match and the first manifest stays', async () => {
    const prefix = lab.prefix();
    const gen = nextGeneration();
    const a = await saveRegion({ store: lab.store, prefix, regionPath: region('r1').path, chunkSize: CHUNK, generation: gen });
    const b = await saveRegion({ store: lab.store, prefix, regionPath: region('r2').path, chunkSize: CHUNK, generation: gen });
    assert.equal(a.outcome, 'committed');
    assert.equal(b.outcome, 'failed');
    assert.match(b.error ?? '', /already has a manifest \(If-None-Match: \* refused the write\)/);
    const m = await loadManifest(lab.store, prefix, gen);
    assert.equal(m?.manifestSha256, a.manifest?.manifestSha256);
    // The raw store really enforces it (not just our wrapper).
    await assert.rejects(lab.store.put(manifestKey(prefix, gen), Buffer.from('{}'), { ifNoneMatch: true }), (e: Error & { status?: number }) => e.status === 412);
  });

  describe('--pause-at phases block at exactly that point', () => {
    const cases: Array<{ at: string; chunks: number; manifest: boolean; notified: boolean; outcome: string }> = [
      { at: 'before-first-chunk', chunks: 0, manifest: false, notified: false, outcome: 'abandoned' },
      { at: 'after-chunks:0', chunks: 0, manifest: false, notified: false, outcome: 'abandoned' },
      { at: 'after-chunks:3', chunks: 3, manifest: false, notified: false, outcome: 'abandoned' },
      { at: 'before-manifest', chunks: 7, manifest: false, notified: false, outcome: 'abandoned' },
      { at: 'after-manifest', chunks: 7, manifest: true, notified: false, outcome: 'committed' },
      { at: 'after-signal', chunks: 7, manifest: true, notified: true, outcome: 'committed' },
    ];
    for (const c of cases) {
      it(c.at, async () => {
        const prefix = lab.prefix();
        const p = pauser();
        let notified = 0;
        const saving = saveRegion({
          store: lab.store,
          prefix,
          regionPath: region(`p-${c.at}`, [2]).path,
          chunkSize: CHUNK,
          concurrency: 4,
          pause: { at: parsePauseAt(c.at, 'primary'), wait: p.wait },
          signal: p.signal,
          notify: async () => {
            notified++;
            return { acked: true, detail: 'test' };
          },
        });
        assert.equal(await p.reached, c.at);
        // Give any stray worker time to (wrongly) store more chunks before we look.
        await new Promise((r) => setTimeout(r, 300));
        const keys = await keysUnder(lab.store, prefix);
        assert.equal(keys.filter((k) => k.includes('/chunk/')).length, c.chunks, `chunk objects at ${c.at}: ${keys.join(', ')}`);
        assert.equal(keys.some((k) => k.endsWith('manifest.json')), c.manifest);
        assert.equal(notified, c.notified ? 1 : 0);
        assert.ok(!keys.includes('latest'), 'latest is written after the signal, so never at a pause');
        p.release();
        const r = await saving;
        assert.equal(r.outcome, c.outcome);
      });
    }
  });

  it('wrong secret: the save fails with one clear line naming the S3 code and endpoint, never the secret', async () => {
    const secret = 'WrongSecret-Do-Not-Print-0123456789';
    const bad = makeS3Store({ ...lab.rgw.conn, secretAccessKey: secret, bucket: BUCKET });
    const t0 = Date.now();
    const r = await saveRegion({ store: bad, prefix: lab.prefix(), regionPath: region('w').path, chunkSize: CHUNK, deadline: Date.now() + 10000 });
    assert.equal(r.outcome, 'failed');
    assert.ok(Date.now() - t0 < 5000, 'auth errors are not retried until the deadline');
    const err = r.error ?? '';
    assert.match(err, /SignatureDoesNotMatch/);
    assert.ok(err.includes(lab.rgw.endpoint), err);
    assert.ok(!err.includes(secret));
    assert.ok(!err.includes('\n'), 'one line');
    assert.equal(r.dataAtRisk, true);
  });

  it('store unreachable: retries with backoff until the hold-up budget, then gives up recording data at risk', async () => {
    const port = await deadPort();
    const down = makeS3Store({ ...lab.rgw.conn, endpoint: `http://127.0.0.1:${port}`, bucket: BUCKET });
    const retries: string[] = [];
    const t0 = Date.now();
    const r = await saveRegion({
      store: down,
      prefix: lab.prefix(),
      regionPath: region('u').path,
      chunkSize: CHUNK,
      deadline: Date.now() + 1500,
      onEvent: (e) => e.type === 'retry' && retries.push(e.error),
    });
    const took = Date.now() - t0;
    assert.equal(r.outcome, 'failed');
    assert.ok(took >= 1000 && took < 3500, `gave up after ${took} ms for a 1500 ms budget`);
    assert.ok(retries.length >= 3, `retried ${retries.length} times`);
    assert.match(retries[0], /ECONNREFUSED/);
    assert.match(r.error ?? '', /hold-up budget exhausted: 0 chunk\(s\) stored.*data at risk/);
    assert.equal(r.dataAtRisk, true);
  });

  it('store back within the budget: the save rides out a gateway outage and commits', async () => {
    const prefix = lab.prefix();
    const src = region('o');
    await lab.rgw.stopGateway();
    let retried = 0;
    const saving = saveRegion({ store: lab.store, prefix, regionPath: src.path, chunkSize: CHUNK, deadline: Date.now() + 40000, onEvent: (e) => void (e.type === 'retry' && retried++) });
    await new Promise((r) => setTimeout(r, 500));
    await lab.rgw.startGateway();
    const r = await saving;
    assert.equal(r.outcome, 'committed', r.error);
    assert.ok(retried > 0);
    assert.ok(await loadManifest(lab.store, prefix, r.generation));
  });

  it('abandon: aborting mid-upload writes no manifest and leaves only orphan chunks', async () => {
    const prefix = lab.prefix();
    const ctl = new AbortController();
    const r = await saveRegion({
      store: lab.store,
      prefix,
      regionPath: region('x').path,
      chunkSize: CHUNK,
      concurrency: 1,
      signal: ctl.signal,
      onEvent: (e) => {
        if (e.type === 'chunk-done' && e.progress.chunksUploaded === 2) ctl.abort(new Error('AC restored'));
      },
    });
    assert.equal(r.outcome, 'abandoned');
    assert.match(r.error ?? '', /abandoned \(AC restored\) after 2 chunk\(s\) stored; no manifest written/);
    const keys = await keysUnder(lab.store, prefix);
    assert.deepEqual(keys, [`gen/${r.generation}/chunk/0`, `gen/${r.generation}/chunk/1`]);
  });
});
