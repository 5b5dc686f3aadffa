// The agent as the harness drives it: control.jsonl in, status.json and events.jsonl out.
// The CLI tests run the real agent.js as child processes (two "systems" talking over loopback);
// the in-process tests cover the AC-cycle policy, --pause-at reporting and the poll fallback.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hostProgram } from '../../src/sut/guest.js';
import { PrimaryAgent, type PrimaryStatus } from '../../src/pmem-ha/primary.js';
import { StandbyAgent } from '../../src/pmem-ha/standby.js';
import { parsePauseAt } from '../../src/pmem-ha/pause.js';
import { noQuiesce, pidFileQuiescer } from '../../src/pmem-ha/quiesce.js';
import { makeS3Store } from '../../src/pmem-ha/store.js';
import { loadManifest, listGenerations } from '../../src/pmem-ha/restore.js';
import { BUCKET, MiB, deadPort, holdPuts, keysUnder, pattern, readRegion, useLab, waitFor, writeRegion, type Lab } from './helpers.js';

const SIZE = 8 * MiB;
const CHUNK = 1 * MiB;
// The bundle the guests run (harness/build-guest.ts), so that the shipped file is what is tested.
const AGENT = hostProgram('pmem-ha', 'agent');

const control = (dir: string, ev: object): void => appendFileSync(`${dir}/control.jsonl`, JSON.stringify(ev) + '\n');
const status = <T = Record<string, any>>(dir: string): T => JSON.parse(readFileSync(`${dir}/status.json`, 'utf8')) as T;
const events = (dir: string): Array<Record<string, any>> =>
  existsSync(`${dir}/events.jsonl`) ? readFileSync(`${dir}/events.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
const procState = (pid: number): string => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
};

interface Proc {
  child: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
}
function run(cmd: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, exit };
}

/** A writer that keeps rewriting the first 2 MiB of the region (what quiesce must stop): pid goes to pidFile. */
function writer(region: string, pidFile: string): ChildProcess {
  const code = `
    const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(region)}, 'r+');
    fs.writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
    let n = 0; const b = Buffer.alloc(4096);
    setInterval(() => { for (let i = 0; i < 8; i++) { b.fill(++n & 0xff); fs.writeSync(fd, b, 0, b.length, ((n * 7919) % ${(2 * MiB) / 4096}) * 4096); } }, 1);`;
  return spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
}

describe('pmem-ha agent (real RGW)', function () {
  this.timeout(90000);
  let lab!: Lab;
  useLab((l) => (lab = l));
  const procs: ChildProcess[] = [];
  afterEach(() => {
    for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });

  const creds = (): Record<string, string> => ({ FTH_S3_ACCESS_KEY_ID: lab.rgw.credentials.accessKeyId, FTH_S3_SECRET_ACCESS_KEY: lab.rgw.credentials.secretAccessKey });
  const common = (dev: string, prefix: string, dir: string): string[] => ['--dev', dev, '--endpoint', lab.rgw.endpoint, '--bucket', BUCKET, '--prefix', prefix, '--control-dir', dir];

  it('CLI end to end: AC loss → quiesce → save → signal → standby restores; writers stay stopped until AC returns', async () => {
    const prefix = lab.prefix();
    const pdev = writeRegion(lab.path('p.pmem'), pattern(SIZE, CHUNK, 'e2e', [3, 4]));
    const sdev = writeRegion(lab.path('s.pmem'), pattern(SIZE, CHUNK, 'stale'));
    const smeta = writeRegion(lab.path('s.meta'), Buffer.alloc(2 * MiB));
    const pdir = lab.path('pctl');
    const sdir = lab.path('sctl');
    const pidFile = lab.path('writer.pid');
    const w = writer(pdev, pidFile);
    procs.push(w);
    await waitFor('writer pid', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '');

    const standby = run(process.execPath, [AGENT, 'standby', ...common(sdev, prefix, sdir), '--meta', smeta, '--listen', '127.0.0.1:0', '--poll-ms', '60000'], creds());
    procs.push(standby.child);
    const sst = await waitFor('standby watching', () => existsSync(`${sdir}/status.json`) && status(sdir).phase === 'watching' && status(sdir));
    const primary = run(
      process.execPath,
      [AGENT, 'primary', ...common(pdev, prefix, pdir), '--chunk-size', '1M', '--standby-addr', `127.0.0.1:${sst.signalPort}`, '--quiesce-pidfile', pidFile],
      creds(),
    );
    procs.push(primary.child);
    await waitFor('primary ready', () => existsSync(`${pdir}/status.json`) && status(pdir).phase === 'ready');

    control(pdir, { event: 'ac-loss', holdupMs: 30000, id: 'n1' });
    const pst = await waitFor('primary saved', () => {
      const s = status<PrimaryStatus>(pdir);
      return s.phase === 'saved' && s.save?.latestUpdatedAt ? s : undefined;
    });
    const save = pst.save!;
    assert.equal(save.outcome, 'committed');
    assert.equal(pst.writersStopped, true);
    assert.equal(procState(w.pid!), 'T', 'writer is SIGSTOPped while the committed generation is the final state');
    const order = [save.noticeAt, save.quiescedAt!, save.saveStartAt!, save.chunksDoneAt!, save.manifestCommittedAt!, save.signalSentAt!, save.signalAckedAt!];
    assert.deepEqual([...order].sort((a, b) => a - b), order, `timestamps in protocol order: ${order.join(', ')}`);
    assert.deepEqual([save.chunksTotal, save.chunksZero, save.chunksUploaded, save.bytesSkipped], [8, 2, 6, 2 * MiB]);

    const held = await waitFor('standby holds it', () => status(sdir).heldGeneration === save.generation && status(sdir));
    assert.equal(held.restore.trigger, 'signal', 'the signal, not the 60 s poll, triggered the restore');
    assert.equal(held.lastSignal.verified, true);
    assert.ok(readRegion(sdev).equals(readRegion(pdev)), 'standby PMEM equals the primary PMEM as frozen at the save');
    assert.ok(held.restore.endAt >= held.restore.startAt);
    const sev = events(sdir).map((e) => e.event);
    for (const e of ['signal-received', 'signal-verified', 'restore-start', 'restore-verified', 'journal', 'restore-end']) assert.ok(sev.includes(e), `standby event ${e}`);
    const pev = events(pdir);
    assert.ok(pev.some((e) => e.event === 'control' && e.id === 'n1'));
    assert.equal(pev.filter((e) => e.event === 'chunk').length, 8);

    // AC comes back: writers resume, the primary is armed again.
    control(pdir, { event: 'ac-restored' });
    await waitFor('primary ready again', () => status(pdir).phase === 'ready' && !status(pdir).writersStopped);
    await waitFor('writer running', () => procState(w.pid!) !== 'T');

    control(pdir, { event: 'shutdown' });
    control(sdir, { event: 'shutdown' });
    assert.equal(await primary.exit, 0);
    assert.equal(await standby.exit, 0);
    assert.equal(status(pdir).phase, 'stopped');
    const secret = lab.rgw.credentials.secretAccessKey;
    for (const text of [primary.out(), standby.out(), readFileSync(`${pdir}/events.jsonl`, 'utf8'), readFileSync(`${sdir}/status.json`, 'utf8')]) assert.ok(!text.includes(secret));
  });

  it('CLI wrong secret: the save fails with one clear line in status.json; the secret appears nowhere', async () => {
    const secret = 'NotTheSecret-Zz9-1234567890abcdef';
    const dir = lab.path('ctl');
    const dev = writeRegion(lab.path('p.pmem'), pattern(SIZE, CHUNK, 'ws'));
    const p = run(process.execPath, [AGENT, 'primary', ...common(dev, lab.prefix(), dir)], { ...creds(), FTH_S3_SECRET_ACCESS_KEY: secret });
    procs.push(p.child);
    await waitFor('ready', () => existsSync(`${dir}/status.json`) && status(dir).phase === 'ready');
    control(dir, { event: 'ac-loss', holdupMs: 20000 });
    const st = await waitFor('failed', () => status(dir).phase === 'failed' && status(dir), 10000);
    assert.match(st.lastError, /SignatureDoesNotMatch/);
    assert.ok(st.lastError.includes(lab.rgw.endpoint));
    assert.ok(!st.lastError.includes('\n'));
    assert.equal(st.save.dataAtRisk, true);
    control(dir, { event: 'shutdown' });
    assert.equal(await p.exit, 0);
    const everything = p.out() + readFileSync(`${dir}/status.json`, 'utf8') + readFileSync(`${dir}/events.jsonl`, 'utf8');
    assert.ok(!everything.includes(secret), 'secret leaked');
  });

  it('CLI start failure: dm-era tracking on a region that is no block device ends in status phase failed with the reason, exit 1, no wait for ready', async () => {
    const dir = lab.path('ctl-era');
    const dev = writeRegion(lab.path('p.pmem'), Buffer.alloc(MiB));
    const p = run(process.execPath, [AGENT, 'primary', ...common(dev, lab.prefix(), dir), '--precopy-ms', '1000', '--precopy-track', 'dm-era'], creds());
    procs.push(p.child);
    assert.equal(await p.exit, 1);
    assert.match(p.out(), /pmem-ha agent: dm-era tracking needs a block device under the region, and .*p\.pmem is not one/);
    const st = status(dir);
    assert.equal(st.phase, 'failed');
    assert.equal(st.readyAt, null);
    assert.match(st.lastError, /^start failed: dm-era tracking needs a block device/);
    // tracking without a pre-copy to track for is a usage error
    const u = run(process.execPath, [AGENT, 'primary', ...common(dev, lab.prefix(), lab.path('ctl-era2')), '--precopy-track', 'dm-era'], creds());
    assert.equal(await u.exit, 2);
    assert.match(u.out(), /--precopy-track dm-era needs --precopy-ms/);
  });

  it('CLI usage errors: missing credentials and a bad --pause-at exit 2 with one line', async () => {
    const dev = writeRegion(lab.path('p.pmem'), Buffer.alloc(MiB));
    const a = run(process.execPath, [AGENT, 'primary', ...common(dev, 'x', lab.path('c1'))], {});
    assert.equal(await a.exit, 2);
    assert.match(a.out(), /^pmem-ha agent: set FTH_S3_CREDENTIALS_FILE \(a JSON file\) or FTH_S3_ACCESS_KEY_ID and FTH_S3_SECRET_ACCESS_KEY/);
    const b = run(process.execPath, [AGENT, 'primary', ...common(dev, 'x', lab.path('c2')), '--pause-at', 'after-chunks'], creds());
    assert.equal(await b.exit, 2);
    assert.match(b.out(), /needs a chunk count/);
  });

  it('--pause-at after-chunks:2 is recorded in status.json with exactly 2 chunks stored, and shutdown still works', async () => {
    const prefix = lab.prefix();
    const dir = lab.path('ctl');
    const agent = new PrimaryAgent({ store: lab.store, prefix, regionPath: writeRegion(lab.path('p.pmem'), pattern(SIZE, CHUNK, 'pz')), chunkSize: CHUNK, controlDir: dir, quiescer: noQuiesce, pauseAt: parsePauseAt('after-chunks:2', 'primary') });
    await agent.start();
    control(dir, { event: 'ac-loss', holdupMs: 30000 });
    const st = await waitFor('paused', () => status<PrimaryStatus>(dir).phase === 'paused' && status<PrimaryStatus>(dir));
    assert.equal(st.pausedAt, 'after-chunks:2');
    assert.equal(st.save?.chunksUploaded, 2);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await keysUnder(lab.store, prefix)).length, 2);
    assert.ok(events(dir).some((e) => e.event === 'paused' && e.at === 'after-chunks:2'));
    control(dir, { event: 'shutdown' });
    await agent.stopped;
    assert.equal(status(dir).phase, 'stopped');
  });

  it('AC cycle mid-save: the save is abandoned (no manifest), writers resume, orphans are removed', async () => {
    const prefix = lab.prefix();
    const dir = lab.path('ctl');
    // Let two chunks through, then hold every further PUT until AC returns.
    let puts = 0;
    let release!: () => void;
    const slow = holdPuts(lab.store, () => ++puts > 2, new Promise<void>((r) => (release = r)));
    const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
    procs.push(sleeper);
    const pidFile = lab.path('pid');
    writeFileSync(pidFile, `${sleeper.pid}\n`);
    const agent = new PrimaryAgent({ store: slow, prefix, regionPath: writeRegion(lab.path('p.pmem'), pattern(SIZE, CHUNK, 'ac')), chunkSize: CHUNK, concurrency: 2, controlDir: dir, quiescer: pidFileQuiescer(pidFile) });
    await agent.start();
    try {
      control(dir, { event: 'ac-loss', holdupMs: 30000 });
      await waitFor('two chunks stored', () => (status<PrimaryStatus>(dir).save?.chunksUploaded ?? 0) >= 2);
      assert.equal(procState(sleeper.pid!), 'T');
      control(dir, { event: 'ac-restored' });
      const st = await waitFor('abandoned', () => status<PrimaryStatus>(dir).save?.outcome === 'abandoned' && status<PrimaryStatus>(dir));
      release();
      assert.equal(st.phase, 'ready');
      assert.equal(st.writersStopped, false);
      assert.notEqual(procState(sleeper.pid!), 'T');
      assert.ok(st.save!.acRestoredAt! >= st.save!.noticeAt && st.save!.resumedAt! >= st.save!.acRestoredAt!);
      assert.match(st.save!.error ?? '', /abandoned/);
      const gen = st.save!.generation!;
      assert.equal(await loadManifest(lab.store, prefix, gen), null);
      await waitFor('orphans deleted', () => events(dir).some((e) => e.event === 'orphans-deleted'));
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual((await keysUnder(lab.store, prefix)).filter((k) => !k.includes(gen) || k.endsWith('manifest.json')), []);
    } finally {
      release();
      await agent.shutdown();
    }
  });

  it('AC cycle when all chunks are stored: the save finishes (committed), then writers resume', async () => {
    const prefix = lab.prefix();
    const dir = lab.path('ctl');
    let releaseManifest!: () => void;
    const gated = holdPuts(lab.store, (k) => k.endsWith('manifest.json'), new Promise<void>((r) => (releaseManifest = r)));
    const agent = new PrimaryAgent({ store: gated, prefix, regionPath: writeRegion(lab.path('p.pmem'), pattern(SIZE, CHUNK, 'fin')), chunkSize: CHUNK, controlDir: dir, quiescer: noQuiesce });
    await agent.start();
    try {
      control(dir, { event: 'ac-loss', holdupMs: 30000 });
      await waitFor('committing', () => status(dir).phase === 'committing');
      control(dir, { event: 'ac-restored' });
      await waitFor('finishing decided', () => events(dir).some((e) => e.event === 'save-finishing'));
      releaseManifest();
      const st = await waitFor('ready after commit', () => status<PrimaryStatus>(dir).phase === 'ready' && status<PrimaryStatus>(dir).save?.outcome === 'committed' && status<PrimaryStatus>(dir));
      assert.equal(st.writersStopped, false);
      assert.equal(st.lastCommittedGeneration, st.save!.generation);
      assert.deepEqual(await listGenerations(lab.store, prefix), [st.save!.generation]);
      assert.ok(await loadManifest(lab.store, prefix, st.save!.generation!));
    } finally {
      releaseManifest();
      await agent.shutdown();
    }
  });

  it('lost signal: with no link to the standby, the store poll still converges', async () => {
    const prefix = lab.prefix();
    const pdir = lab.path('pctl');
    const sdir = lab.path('sctl');
    const pdev = writeRegion(lab.path('p.pmem'), pattern(SIZE, CHUNK, 'poll'));
    const sdev = writeRegion(lab.path('s.pmem'), Buffer.alloc(SIZE));
    const standby = new StandbyAgent({ store: lab.store, prefix, regionPath: sdev, metaPath: writeRegion(lab.path('m'), Buffer.alloc(MiB)), controlDir: sdir, pollMs: 200 });
    // The primary signals a port nobody listens on (cut link); it gives up at the hold-up end.
    const primary = new PrimaryAgent({ store: lab.store, prefix, regionPath: pdev, chunkSize: CHUNK, controlDir: pdir, quiescer: noQuiesce, standby: { host: '127.0.0.1', port: await deadPort() } });
    await standby.start();
    await primary.start();
    try {
      control(pdir, { event: 'ac-loss', holdupMs: 3000 });
      const st = await waitFor('standby holds it', () => standby.status.heldGeneration && standby.status, 20000);
      assert.equal(st.restore?.trigger, 'poll');
      assert.ok(readRegion(sdev).equals(readRegion(pdev)));
      // wait for the save's end, not for signalDetail: that is written before the outcome is
      const pst = await waitFor('save ended', () => status<PrimaryStatus>(pdir).save?.endAt && status<PrimaryStatus>(pdir));
      assert.equal(pst.save?.signalAckedAt, null);
      assert.match(pst.save?.signalDetail ?? '', /no ack before the deadline/);
      assert.equal(pst.save?.outcome, 'committed', 'a lost signal does not undo the commit');
    } finally {
      await primary.shutdown();
      await standby.shutdown();
    }
  });

  it('store unreachable at AC loss: the primary gives up at the hold-up end and records data at risk', async () => {
    const dir = lab.path('ctl');
    const down = makeS3Store({ ...lab.rgw.conn, endpoint: `http://127.0.0.1:${await deadPort()}`, bucket: BUCKET });
    const agent = new PrimaryAgent({ store: down, prefix: lab.prefix(), regionPath: writeRegion(lab.path('p.pmem'), pattern(SIZE, CHUNK, 'down')), chunkSize: CHUNK, controlDir: dir, quiescer: noQuiesce });
    await agent.start();
    try {
      control(dir, { event: 'ac-loss', holdupMs: 1200 });
      const st = await waitFor('failed', () => status<PrimaryStatus>(dir).phase === 'failed' && status<PrimaryStatus>(dir), 10000);
      assert.equal(st.save?.dataAtRisk, true);
      assert.match(st.lastError ?? '', /hold-up budget exhausted.*data at risk/);
      assert.ok(st.save!.endAt! - st.save!.noticeAt < 3000);
      assert.ok(events(dir).some((e) => e.event === 'retry'));
    } finally {
      await agent.shutdown();
    }
  });
});
