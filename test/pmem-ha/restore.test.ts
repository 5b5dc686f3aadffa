// Restore side against a real Ceph RGW: every chunk is verified before the device is touched,
// damaged generations are refused with the reason, and the journal in the standby's own
// persistent memory makes an interrupted restore redo itself at the next boot.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { saveRegion, type SaveResult } from '../../src/pmem-ha/save.js';
import { fileStage, restoreNewest } from '../../src/pmem-ha/restore.js';
import { chunkKey, manifestKey } from '../../src/pmem-ha/layout.js';
import { Journal, SLOT_SIZE } from '../../src/pmem-ha/journal.js';
import { StandbyAgent, type StandbyStatus } from '../../src/pmem-ha/standby.js';
import { parsePauseAt } from '../../src/pmem-ha/pause.js';
import { MiB, pattern, readRegion, useLab, waitFor, writeRegion, type Lab } from './helpers.js';

const SIZE = 8 * MiB;
const CHUNK = 1 * MiB;

describe('pmem-ha restore (real RGW)', function () {
  this.timeout(60000);
  let lab!: Lab;
  useLab((l) => (lab = l));

  const save = async (prefix: string, seed: string, zeros: number[] = []): Promise<{ r: SaveResult; content: Buffer }> => {
    const content = pattern(SIZE, CHUNK, seed, zeros);
    const r = await saveRegion({ store: lab.store, prefix, regionPath: writeRegion(lab.path(`${seed}.pmem`), content), chunkSize: CHUNK });
    assert.equal(r.outcome, 'committed', r.error);
    return { r, content };
  };
  const standbyDevs = (initial: Buffer = pattern(SIZE, CHUNK, 'standby-old')): { dev: string; meta: string; initial: Buffer } => ({
    dev: writeRegion(lab.path('standby.pmem'), initial),
    meta: writeRegion(lab.path('standby.meta'), Buffer.alloc(2 * MiB)),
    initial,
  });
  const refuseCase = async (damage: (prefix: string, gen: string) => Promise<void>): Promise<{ reason: string; untouched: boolean; journalKind: string }> => {
    const prefix = lab.prefix();
    const { r } = await save(prefix, 'v');
    await damage(prefix, r.generation);
    const s = standbyDevs();
    const j = await Journal.open(s.meta);
    try {
      const rr = await restoreNewest({ store: lab.store, prefix, regionPath: s.dev, journal: j });
      assert.equal(rr.restored, null);
      assert.equal(rr.refusals.length, 1);
      assert.equal(rr.refusals[0].generation, r.generation);
      return { reason: rr.refusals[0].reason, untouched: readRegion(s.dev).equals(s.initial), journalKind: (await j.read()).kind };
    } finally {
      await j.close();
    }
  };

  it('a bit flip in a stored chunk is refused naming the chunk; the device and journal are not touched', async () => {
    const out = await refuseCase(async (prefix, gen) => {
      const key = chunkKey(prefix, gen, 3);
      const data = (await lab.store.get(key))!;
      data[12345] ^= 0x01;
      await lab.store.put(key, data);
    });
    assert.match(out.reason, /^checksum mismatch at chunk 3\b/);
    assert.ok(out.untouched);
    assert.equal(out.journalKind, 'blank');
  });

  it('a deleted chunk is refused naming the chunk', async () => {
    const out = await refuseCase((prefix, gen) => lab.store.delete(chunkKey(prefix, gen, 5)));
    assert.match(out.reason, /^missing chunk 5 /);
    assert.ok(out.untouched);
  });

  it('a manifest edited in the store (bad manifest checksum) is refused', async () => {
    const out = await refuseCase(async (prefix, gen) => {
      const key = manifestKey(prefix, gen);
      const m = JSON.parse(String(await lab.store.get(key)));
      m.chunks[0].sha256 = m.chunks[1].sha256;
      await lab.store.delete(key);
      await lab.store.put(key, Buffer.from(JSON.stringify(m)));
    });
    assert.match(out.reason, /^bad manifest checksum/);
    assert.ok(out.untouched);
  });

  it('a generation for a region of another size is refused before the journal is written', async () => {
    const prefix = lab.prefix();
    await save(prefix, 's');
    const dev = writeRegion(lab.path('small.pmem'), Buffer.alloc(4 * MiB));
    const j = await Journal.open(writeRegion(lab.path('m'), Buffer.alloc(MiB)));
    const rr = await restoreNewest({ store: lab.store, prefix, regionPath: dev, journal: j });
    assert.equal(rr.restored, null);
    assert.match(rr.refusals[0].reason, /region of 8388608 bytes, .* has 4194304/);
    assert.equal((await j.read()).kind, 'blank');
    await j.close();
  });

  it('a corrupt newest generation is refused and the newer-than-held older one is restored instead (file stage)', async () => {
    const prefix = lab.prefix();
    const older = await save(prefix, 'n1', [0, 7]);
    const newer = await save(prefix, 'n2');
    await lab.store.delete(chunkKey(prefix, newer.r.generation, 0));
    const s = standbyDevs();
    const j = await Journal.open(s.meta);
    const cache = new Map<string, string>();
    const rr = await restoreNewest({ store: lab.store, prefix, regionPath: s.dev, journal: j, refusedCache: cache, makeStage: (cs) => fileStage(lab.dir, cs) });
    assert.equal(rr.restored, older.r.generation);
    assert.deepEqual(rr.refusals.map((x) => x.generation), [newer.r.generation]);
    assert.ok(readRegion(s.dev).equals(older.content));
    const rec = await j.read();
    assert.ok(rec.kind === 'ok' && rec.record.state === 'done' && rec.record.heldGeneration === older.r.generation);
    // Nothing newer than held verifies now; the refusal is remembered, not refetched.
    const again = await restoreNewest({ store: lab.store, prefix, regionPath: s.dev, journal: j, refusedCache: cache, newerThan: older.r.generation });
    assert.equal(again.restored, null);
    assert.equal(again.refusals[0].reason, rr.refusals[0].reason);
    await j.close();
  });

  it('restore-redo: a restore stopped after k chunks is redone at the next boot and the journal says done', async () => {
    const prefix = lab.prefix();
    const g1 = await save(prefix, 'd1');
    const s = standbyDevs();
    let j = await Journal.open(s.meta);
    assert.equal((await restoreNewest({ store: lab.store, prefix, regionPath: s.dev, journal: j })).restored, g1.r.generation);
    const g2 = await save(prefix, 'd2', [6]);
    // "Power cut" after 3 chunks of g2 were written.
    await assert.rejects(
      restoreNewest({
        store: lab.store,
        prefix,
        regionPath: s.dev,
        journal: j,
        newerThan: g1.r.generation,
        afterChunkWritten: (n) => {
          if (n === 3) throw new Error('power cut');
        },
      }),
      /power cut/,
    );
    await j.close();
    const torn = readRegion(s.dev);
    assert.ok(torn.subarray(0, 3 * CHUNK).equals(g2.content.subarray(0, 3 * CHUNK)), 'first 3 chunks are g2');
    assert.ok(torn.subarray(3 * CHUNK).equals(g1.content.subarray(3 * CHUNK)), 'the rest is still g1');
    j = await Journal.open(s.meta);
    const mid = await j.read();
    assert.ok(mid.kind === 'ok' && mid.record.state === 'restoring' && mid.record.generation === g2.r.generation && mid.record.heldGeneration === null);
    await j.close();

    // Next boot: the standby agent finds `restoring` and redoes g2.
    const agent = new StandbyAgent({ store: lab.store, prefix, regionPath: s.dev, metaPath: s.meta, controlDir: lab.path('ctl'), pollMs: 60000 });
    await agent.start();
    try {
      const st = await waitFor('redo done', () => (agent.status.heldGeneration === g2.r.generation ? agent.status : undefined));
      assert.equal(st.restore?.trigger, 'boot-redo');
      assert.equal(st.journal.record?.state, 'done');
      assert.ok(readRegion(s.dev).equals(g2.content), 'region is g2 after the redo');
      const events = readFileSync(`${agent.reporter.eventsPath}`, 'utf8').trim().split('\n').map((l) => JSON.parse(l).event);
      assert.ok(events.includes('restore-redo') && events.includes('restore-end'));
    } finally {
      await agent.shutdown();
    }
    j = await Journal.open(s.meta);
    const end = await j.read();
    assert.ok(end.kind === 'ok' && end.record.state === 'done' && end.record.heldGeneration === g2.r.generation);
    await j.close();
  });

  it('standby --pause-at after-restore-chunks:2 blocks mid-restore with the journal saying restoring; the next boot finishes it', async () => {
    const prefix = lab.prefix();
    const g = await save(prefix, 'sp');
    const s = standbyDevs();
    const dir = lab.path('ctl');
    const first = new StandbyAgent({ store: lab.store, prefix, regionPath: s.dev, metaPath: s.meta, controlDir: dir, pollMs: 60000, pauseAt: parsePauseAt('after-restore-chunks:2', 'standby') });
    await first.start();
    try {
      const st = await waitFor('paused', () => first.status.phase === 'paused' && first.status);
      assert.equal(st.pausedAt, 'after-restore-chunks:2');
      assert.equal(st.restore?.chunksWritten, 2);
      assert.equal(st.journal.record?.state, 'restoring');
      assert.equal(st.heldGeneration, null, 'a half-written region holds no generation');
      const onDisk = JSON.parse(readFileSync(`${dir}/status.json`, 'utf8')) as StandbyStatus;
      assert.equal(onDisk.pausedAt, 'after-restore-chunks:2');
      const dev = readRegion(s.dev);
      assert.ok(dev.subarray(0, 2 * CHUNK).equals(g.content.subarray(0, 2 * CHUNK)));
      assert.ok(dev.subarray(2 * CHUNK).equals(s.initial.subarray(2 * CHUNK)));
    } finally {
      await first.shutdown(); // the harness would cut power here instead
    }
    const second = new StandbyAgent({ store: lab.store, prefix, regionPath: s.dev, metaPath: s.meta, controlDir: lab.path('ctl2'), pollMs: 60000 });
    await second.start();
    try {
      await waitFor('held', () => second.status.heldGeneration === g.r.generation);
      assert.equal(second.status.restore?.trigger, 'boot-redo');
      assert.ok(readRegion(s.dev).equals(g.content));
    } finally {
      await second.shutdown();
    }
  });

  it('a corrupted journal is detected at boot: nothing is claimed, and the newest generation is restored over everything', async () => {
    const prefix = lab.prefix();
    const g = await save(prefix, 'j1');
    const s = standbyDevs();
    // Both slots hold garbage: no way to know what the region holds.
    const meta = readFileSync(s.meta);
    meta.write('FTHAJRN1garbage', 0);
    meta.write('FTHAJRN1garbage', SLOT_SIZE);
    writeFileSync(s.meta, meta);
    const agent = new StandbyAgent({ store: lab.store, prefix, regionPath: s.dev, metaPath: s.meta, controlDir: lab.path('ctl'), pollMs: 60000 });
    const seen: StandbyStatus[] = [];
    await agent.start();
    try {
      seen.push(structuredClone(agent.status));
      assert.equal(seen[0].journal.kind, 'corrupt');
      assert.match(seen[0].lastError ?? '', /restore journal .* is corrupt/);
      await waitFor('restored', () => agent.status.heldGeneration === g.r.generation);
      assert.ok(readRegion(s.dev).equals(g.content));
      const events = readFileSync(agent.reporter.eventsPath, 'utf8');
      assert.match(events, /"event":"journal-corrupt"/);
    } finally {
      await agent.shutdown();
    }
  });
});
