// Pipelined restore against a real Ceph RGW: the primary signals when its save begins, the
// standby fetches and verifies chunks while they land, and applies nothing before the manifest.
// Every case reads the standby's region itself; none trusts the agent's status for the data.

import assert from 'node:assert/strict';
import { saveRegion } from '../../src/pmem-ha/save.js';
import { memoryStage, Prefetcher } from '../../src/pmem-ha/restore.js';
import { chunkKey, nextGeneration } from '../../src/pmem-ha/layout.js';
import { sendCommitSignal, sendStartSignal } from '../../src/pmem-ha/signal.js';
import { StandbyAgent } from '../../src/pmem-ha/standby.js';
import { sha256Hex } from '../../src/pmem-ha/manifest.js';
import { holdPuts, MiB, pattern, readRegion, useLab, waitFor, writeRegion, type Lab } from './helpers.js';

const SIZE = 8 * MiB;
const CHUNK = 1 * MiB;

describe('pmem-ha pipelined restore (real RGW)', function () {
  this.timeout(60000);
  let lab!: Lab;
  useLab((l) => (lab = l));

  const standby = (prefix: string, initial: Buffer, dir: string) => {
    const dev = writeRegion(lab.path(`${dir}.pmem`), initial);
    const meta = writeRegion(lab.path(`${dir}.meta`), Buffer.alloc(2 * MiB));
    const agent = new StandbyAgent({ store: lab.store, prefix, regionPath: dev, metaPath: meta, controlDir: lab.path(dir), pollMs: 60000, listen: { host: '127.0.0.1', port: 0 } });
    return { dev, agent };
  };

  it('chunks are staged during the save and reused at the commit; the region is untouched until then', async () => {
    const prefix = lab.prefix();
    const content = pattern(SIZE, CHUNK, 'pipe', [2, 5]);
    const initial = pattern(SIZE, CHUNK, 'old');
    const s = standby(prefix, initial, 'sb1');
    await s.agent.start();
    try {
      const addr = { host: '127.0.0.1', port: s.agent.status.signalPort! };
      // The manifest waits until the test has looked at the standby mid-save.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const store = holdPuts(lab.store, (k) => k.endsWith('manifest.json'), gate);
      const saving = saveRegion({
        store, prefix, regionPath: writeRegion(lab.path('p1.pmem'), content), chunkSize: CHUNK,
        notifyStart: (info, o) => void sendStartSignal(addr, info, o),
        notify: (claim, o) => sendCommitSignal(addr, claim, o),
      });
      // 6 non-zero chunks are stored and staged, and the region still holds its old content.
      await waitFor('staged', () => s.agent.status.prefetch?.chunksStaged === 6, 20000);
      assert.equal(s.agent.status.prefetch?.end, null);
      assert.ok(readRegion(s.dev).equals(initial), 'nothing is applied before the manifest');
      assert.equal(s.agent.status.heldGeneration, null);
      release();
      const r = await saving;
      assert.equal(r.outcome, 'committed', r.error);
      await waitFor('held', () => s.agent.status.heldGeneration === r.generation, 20000);
      assert.ok(readRegion(s.dev).equals(content), 'the region is the saved content');
      assert.equal(s.agent.status.restore?.chunksReused, 6, 'every staged chunk matched the manifest');
      assert.equal(s.agent.status.prefetch?.end, 'handed-over');
    } finally {
      await s.agent.shutdown();
    }
  });

  it('a staged chunk the manifest does not name (replaced after the prefetch) is fetched again and verified', async () => {
    const prefix = lab.prefix();
    const content = pattern(SIZE, CHUNK, 'good');
    const generation = nextGeneration(null);
    // A bogus object under chunk 4 before the real save overwrites it.
    await lab.store.put(chunkKey(prefix, generation, 4), Buffer.alloc(CHUNK, 0x5a));
    const s = standby(prefix, pattern(SIZE, CHUNK, 'old2'), 'sb2');
    await s.agent.start();
    try {
      const addr = { host: '127.0.0.1', port: s.agent.status.signalPort! };
      await sendStartSignal(addr, { generation, regionSize: SIZE, chunkSize: CHUNK, chunksTotal: SIZE / CHUNK });
      await waitFor('bogus chunk staged', () => s.agent.status.prefetch?.chunksStaged === 1);
      const r = await saveRegion({ store: lab.store, prefix, regionPath: writeRegion(lab.path('p2.pmem'), content), chunkSize: CHUNK, generation, notify: (c, o) => sendCommitSignal(addr, c, o) });
      assert.equal(r.outcome, 'committed', r.error);
      await waitFor('held', () => s.agent.status.heldGeneration === r.generation, 20000);
      assert.ok(readRegion(s.dev).equals(content));
      // chunk 4 was staged with the bogus bytes: not reused
      assert.ok(s.agent.status.restore!.chunksReused < 8, `reused ${s.agent.status.restore!.chunksReused}`);
    } finally {
      await s.agent.shutdown();
    }
  });

  it('a torn save (no manifest): the prefetch goes stale and hands nothing over', async () => {
    const prefix = lab.prefix();
    const generation = nextGeneration(null);
    for (const i of [0, 1, 2]) await lab.store.put(chunkKey(prefix, generation, i), Buffer.alloc(CHUNK, i + 1));
    const stage = memoryStage();
    let manifestSeen = false;
    const p = new Prefetcher({ store: lab.store, prefix, generation, chunkSize: CHUNK, stage, pollMs: 50, staleMs: 500, onManifest: () => (manifestSeen = true) });
    await p.ended();
    assert.equal(p.end, 'stale');
    assert.equal(p.staged.size, 3);
    assert.equal(manifestSeen, false);
    assert.equal(await p.handOver(), undefined, 'a stale prefetch hands nothing over');
  });

  it('a chunk PUT with its precomputed sha256 as the payload hash: the server still checks it, and refuses a wrong one', async () => {
    const key = `${lab.prefix()}/probe`;
    const body = Buffer.alloc(4096, 7);
    await lab.store.put(key, body, { sha256: sha256Hex(body) });
    assert.ok((await lab.store.get(key))!.equals(body));
    await assert.rejects(lab.store.put(`${key}-2`, body, { sha256: sha256Hex(Buffer.alloc(4096, 8)) }), /sha256|mismatch|digest/i);
    assert.equal(await lab.store.get(`${key}-2`), null);
  });

  it('start signals are checked like commit signals: one signed with a key the standby does not have is refused, no prefetch', async () => {
    const prefix = lab.prefix();
    const s = standby(prefix, pattern(SIZE, CHUNK, 'old3'), 'sb3');
    await s.agent.start();
    try {
      const addr = { host: '127.0.0.1', port: s.agent.status.signalPort! };
      const sent = await sendStartSignal(addr, { generation: nextGeneration(null), regionSize: SIZE, chunkSize: CHUNK, chunksTotal: 8 }, { key: 'not-the-standby-key', deadline: Date.now() + 500 });
      assert.equal(sent.acked, false);
      assert.match(sent.detail, /not configured|refused/);
      assert.equal(s.agent.status.prefetch, null);
    } finally {
      await s.agent.shutdown();
    }
  });
});
