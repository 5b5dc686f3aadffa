// Pure pieces of pmem-ha that need no object store: manifest sealing and validation, generation
// ids, --pause-at parsing, the two-slot restore journal, the signal wire format and server, the
// control-file tail.

import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sealManifest, parseManifest, serializeManifest, zeroChunkSha, sha256Hex, type ManifestBody } from '../../src/pmem-ha/manifest.js';
import { compareGenerations, isGenerationId, nextGeneration, generationTime, chunkKey, manifestKey, latestKey, generationFromKey, genRoot } from '../../src/pmem-ha/layout.js';
import { parsePauseAt, pauseLabel } from '../../src/pmem-ha/pause.js';
import { Journal, SLOT_SIZE, encodeSlot } from '../../src/pmem-ha/journal.js';
import { decodeCommit, encodeCommit, parseHostPort, sendCommitSignal, startSignalServer } from '../../src/pmem-ha/signal.js';
import { ControlWatcher, parseControlLine, type ControlEvent } from '../../src/pmem-ha/control.js';
import { isAllZero, runPool } from '../../src/pmem-ha/chunks.js';
import type { CommitClaim } from '../../src/pmem-ha/save.js';
import { waitFor } from './helpers.js';

function body(): ManifestBody {
  return {
    format: 'ftharness.pmem-ha.manifest',
    version: 1,
    generation: '000001700000000-0badcafe',
    sourceId: 'host:/dev/pmem0',
    regionSize: 2560,
    chunkSize: 1024,
    chunks: [
      { index: 0, sha256: sha256Hex('a'), zero: false },
      { index: 1, sha256: zeroChunkSha(1024), zero: true },
      { index: 2, sha256: zeroChunkSha(512), zero: true },
    ],
    startedAt: 1,
    committedAt: 2,
  };
}

describe('pmem-ha manifest', () => {
  it('round-trips and its checksum does not depend on key order', () => {
    const m = sealManifest(body());
    const parsed = parseManifest(serializeManifest(m), m.generation);
    assert.equal(parsed.manifestSha256, m.manifestSha256);
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(m).reverse()));
    assert.equal(parseManifest(reordered).manifestSha256, m.manifestSha256);
  });

  it('refuses a manifest whose content no longer matches its checksum', () => {
    const m = sealManifest(body());
    const tampered = { ...m, chunks: m.chunks.map((c) => (c.index === 0 ? { ...c, sha256: sha256Hex('b') } : c)) };
    assert.throws(() => parseManifest(JSON.stringify(tampered)), /bad manifest checksum/);
  });

  it('refuses inconsistent geometry, a lying zero flag, and a manifest under another generation key', () => {
    const short = sealManifest({ ...body(), chunks: body().chunks.slice(0, 2) });
    assert.throws(() => parseManifest(JSON.stringify(short)), /lists 2 chunks, geometry needs 3/);
    const lie = sealManifest({ ...body(), chunks: body().chunks.map((c) => (c.index === 0 ? { ...c, zero: true } : c)) });
    assert.throws(() => parseManifest(JSON.stringify(lie)), /chunk 0 is marked zero/);
    assert.throws(() => parseManifest(serializeManifest(sealManifest(body())), '000001700000001-00000000'), /stored under/);
    assert.throws(() => parseManifest('{"format":'), /not valid JSON/);
  });
});

describe('pmem-ha layout and generation ids', () => {
  it('orders ids by time, stays above the newest known id even when the clock is behind, and never repeats', () => {
    const a = nextGeneration(null, 1000);
    const b = nextGeneration(a, 5); // clock went backwards after a restart
    assert.ok(isGenerationId(a) && isGenerationId(b));
    assert.ok(compareGenerations(b, a) > 0, `${b} should sort after ${a}`);
    assert.equal(generationTime(b), 1001);
    const same = new Set(Array.from({ length: 200 }, () => nextGeneration(null, 42)));
    assert.equal(same.size, 200);
  });

  it('puts chunks, manifest and latest under the prefix', () => {
    const g = nextGeneration(null, 7);
    assert.equal(chunkKey('/p/q/', g, 3), `p/q/gen/${g}/chunk/3`);
    assert.equal(manifestKey('p', g), `p/gen/${g}/manifest.json`);
    assert.equal(latestKey('p'), 'p/latest');
    assert.equal(generationFromKey('p', `${genRoot('p')}${g}/`), g);
    assert.equal(generationFromKey('p', `${genRoot('p')}junk/`), undefined);
  });
});

describe('pmem-ha --pause-at', () => {
  it('parses every documented phase for its role and rejects the rest', () => {
    for (const p of ['before-first-chunk', 'before-manifest', 'after-manifest', 'after-signal']) assert.equal(pauseLabel(parsePauseAt(p, 'primary')), p);
    assert.deepEqual(parsePauseAt('after-chunks:3', 'primary'), { point: 'after-chunks', k: 3 });
    assert.deepEqual(parsePauseAt('after-restore-chunks:0', 'standby'), { point: 'after-restore-chunks', k: 0 });
    assert.throws(() => parsePauseAt('after-chunks', 'primary'), /needs a chunk count/);
    assert.throws(() => parsePauseAt('after-manifest', 'standby'), /not a standby phase/);
    assert.throws(() => parsePauseAt('before-manifest:2', 'primary'), /takes no count/);
  });
});

describe('pmem-ha restore journal', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'pmem-ha-journal-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const dev = (): string => {
    const p = join(dir, 'meta');
    writeFileSync(p, Buffer.alloc(64 * 1024));
    return p;
  };

  it('reads blank, then the newest of two alternating slots across reopen', async () => {
    const p = dev();
    let j = await Journal.open(p);
    assert.equal((await j.read()).kind, 'blank');
    await j.write({ state: 'restoring', generation: 'g1', manifestSha256: 'x', heldGeneration: null });
    await j.write({ state: 'done', generation: 'g1', manifestSha256: 'x', heldGeneration: 'g1' });
    await j.close();
    j = await Journal.open(p);
    const r = await j.read();
    assert.equal(r.kind, 'ok');
    assert.ok(r.kind === 'ok' && r.record.state === 'done' && r.record.heldGeneration === 'g1' && r.record.seq === 2);
    await j.write({ state: 'restoring', generation: 'g2', manifestSha256: 'y', heldGeneration: null });
    const r2 = await j.read();
    assert.ok(r2.kind === 'ok' && r2.record.seq === 3 && r2.record.state === 'restoring');
    await j.close();
  });

  it('falls back to the older slot when the newer one is torn, and reports corruption when both are bad', async () => {
    const p = dev();
    const j = await Journal.open(p);
    await j.write({ state: 'done', generation: 'g1', manifestSha256: 'x', heldGeneration: 'g1' }); // seq 1 → slot 1
    await j.write({ state: 'restoring', generation: 'g2', manifestSha256: 'y', heldGeneration: null }); // seq 2 → slot 0
    await j.close();
    const bytes = readFileSync(p);
    bytes[100] ^= 0xff; // tear slot 0 (the newer record)
    writeFileSync(p, bytes);
    const j2 = await Journal.open(p);
    const r = await j2.read();
    assert.ok(r.kind === 'ok' && r.record.generation === 'g1' && r.record.state === 'done');
    assert.match(r.problems.join(), /slot 0: checksum mismatch/);
    await j2.close();
    bytes[SLOT_SIZE + 60] ^= 0xff; // and slot 1
    writeFileSync(p, bytes);
    const j3 = await Journal.open(p);
    const bad = await j3.read();
    assert.equal(bad.kind, 'corrupt');
    assert.equal(bad.problems.length, 2);
    await j3.close();
  });

  it('rejects a device too small for two slots, and a payload that does not fit a slot', async () => {
    const p = join(dir, 'tiny');
    writeFileSync(p, Buffer.alloc(SLOT_SIZE));
    await assert.rejects(Journal.open(p), /needs at least 8192/);
    assert.throws(() => encodeSlot({ seq: 1, state: 'idle', generation: 'x'.repeat(5000), manifestSha256: null, heldGeneration: null, updatedAt: 0 }), /too large/);
  });
});

describe('pmem-ha signal', () => {
  const claim: CommitClaim = { generation: nextGeneration(), manifestKey: 'p/gen/x/manifest.json', manifestSha256: 'a'.repeat(64) };

  it('checks messages: plain sha256 without a key, HMAC with one, and rejects tampering or a mismatched key', () => {
    const plain = encodeCommit(claim).line;
    assert.equal(decodeCommit(plain).generation, claim.generation);
    const tampered = plain.replace(claim.generation, nextGeneration(claim.generation));
    assert.throws(() => decodeCommit(tampered), /checksum does not verify/);
    const signed = encodeCommit(claim, 'k1').line;
    assert.equal(decodeCommit(signed, 'k1').manifestSha256, claim.manifestSha256);
    assert.throws(() => decodeCommit(signed, 'k2'), /HMAC does not verify/);
    assert.throws(() => decodeCommit(plain, 'k1'), /not authenticated/);
    assert.deepEqual(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
    assert.throws(() => parseHostPort('nohost'), /not host:port/);
  });

  it('delivers a claim over loopback with an ack, and retries until the standby listens', async () => {
    const got: CommitClaim[] = [];
    // Take a free port, then close it so the first attempts are refused.
    const probe = await startSignalServer({ host: '127.0.0.1', port: 0 }, { onClaim: () => undefined });
    const port = probe.port;
    await probe.close();
    const sending = sendCommitSignal({ host: '127.0.0.1', port }, claim, { key: 's', deadline: Date.now() + 5000 });
    await new Promise((r) => setTimeout(r, 300));
    const server = await startSignalServer({ host: '127.0.0.1', port }, { key: 's', onClaim: (c) => got.push(c) });
    try {
      const r = await sending;
      assert.equal(r.acked, true);
      assert.ok(r.attempts >= 2, `expected retries, got ${r.attempts} attempt(s)`);
      assert.deepEqual(got, [claim]);
    } finally {
      await server.close();
    }
  });

  it('gives up at the deadline when nothing listens, and a key mismatch is a nack, not an ack', async () => {
    const probe = await startSignalServer({ host: '127.0.0.1', port: 0 }, { onClaim: () => undefined });
    const port = probe.port;
    await probe.close();
    const t0 = Date.now();
    const r = await sendCommitSignal({ host: '127.0.0.1', port }, claim, { deadline: Date.now() + 400 });
    assert.equal(r.acked, false);
    assert.ok(Date.now() - t0 < 2000);
    assert.match(r.detail, /ECONNREFUSED|deadline/);
    const rejected: string[] = [];
    const server = await startSignalServer({ host: '127.0.0.1', port: 0 }, { key: 'right', onClaim: () => assert.fail('must not accept'), onReject: (why) => rejected.push(why) });
    try {
      const r2 = await sendCommitSignal({ host: '127.0.0.1', port: server.port }, claim, { key: 'wrong', deadline: Date.now() + 400 });
      assert.equal(r2.acked, false);
      assert.match(r2.detail, /refused the signal: commit message HMAC does not verify/);
      assert.ok(rejected.length >= 1);
    } finally {
      await server.close();
    }
  });
});

describe('pmem-ha control file', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'pmem-ha-control-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('ignores lines from before start, dispatches appended events (also split writes), reports bad lines', async () => {
    writeFileSync(join(dir, 'control.jsonl'), '{"event":"shutdown"}\n');
    const events: ControlEvent[] = [];
    const bad: string[] = [];
    const w = new ControlWatcher(dir, (e) => events.push(e), (_l, why) => bad.push(why), 10);
    w.start();
    try {
      appendFileSync(join(dir, 'control.jsonl'), '{"event":"ac-loss","hold');
      appendFileSync(join(dir, 'control.jsonl'), 'upMs":250,"id":"n1"}\nnot json\n{"event":"ac-restored"}\n');
      await waitFor('two events', () => events.length === 2 && bad.length === 1);
      assert.deepEqual(events, [{ event: 'ac-loss', holdupMs: 250, id: 'n1' }, { event: 'ac-restored', id: undefined }]);
      assert.match(bad[0], /not JSON/);
    } finally {
      w.stop();
    }
    assert.throws(() => parseControlLine('{"event":"ac-loss"}'), /holdupMs/);
    assert.throws(() => parseControlLine('{"event":"reboot"}'), /unknown control event/);
  });
});

describe('pmem-ha chunk helpers', () => {
  it('detects zero chunks and the pool bounds concurrency and stops after the first failure', async () => {
    assert.equal(isAllZero(Buffer.alloc(3 * 1024 * 1024)), true);
    const b = Buffer.alloc(4096);
    b[4095] = 1;
    assert.equal(isAllZero(b), false);
    let inFlight = 0;
    let peak = 0;
    const started: number[] = [];
    await assert.rejects(
      runPool(20, 3, async (i) => {
        started.push(i);
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        if (i === 4) throw new Error('boom at 4');
      }),
      /boom at 4/,
    );
    assert.equal(peak, 3);
    assert.equal(inFlight, 0, 'in-flight workers settle before the pool rejects');
    assert.ok(started.length < 20, 'no new work after the failure');
  });
});
