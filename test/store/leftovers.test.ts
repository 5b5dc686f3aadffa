// What a crashed run leaves behind: the owner dies without cleanup (kill -9). Its daemons must
// die with it (pdeathsig) and `ftharness clean` (cleanLeftoverStores) must remove the rest,
// while leaving alone the store of an owner that is still alive.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { cleanLeftoverStores, STATE_FILE, startEmbeddedRgw, stopAllEmbeddedStores } from '../../src/store/rgw.js';
import { pidAlive, pidsWithArg } from '../../src/store/procs.js';

const configModule = fileURLToPath(new URL('../../src/store/config.js', import.meta.url));

async function waitUntil(what: string, ms: number, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting until ${what}`);
    await sleep(50);
  }
}

describe('leftover embedded stores', function () {
  this.timeout(120_000);
  let root: string;
  const children: ChildProcess[] = [];

  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'fth-leftovers-'));
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await cleanLeftoverStores(root);
    rmSync(root, { recursive: true, force: true });
  });

  it('daemons die with a kill -9 owner; clean skips live owners and removes dead ones', async () => {
    const dir = path.join(root, 'store1');
    // The owner: a node process that opens an embedded store and then just waits.
    const script = `
      import { openStore } from ${JSON.stringify(configModule)};
      const h = await openStore({ kind: 'embedded', dir: ${JSON.stringify(dir)} });
      console.log(JSON.stringify({ backend: h.backend, endpoint: h.conn.endpoint }));
      setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(owner);
    const [first] = (await once(owner.stdout!, 'data')) as [Buffer];
    const hello = JSON.parse(first.toString().trim().split('\n')[0]) as { backend: string; endpoint: string };
    assert.match(hello.backend, /^ceph-rgw \d+\.\d+\.\d+ \(embedded, memstore\)$/);
    assert.match(hello.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);

    const state = JSON.parse(readFileSync(path.join(dir, STATE_FILE), 'utf8'));
    assert.equal(state.ownerPid, owner.pid);
    const pids: number[] = [state.pids.mon, state.pids.osd, state.pids.rgw];
    assert.ok(pids.every(pidAlive), `daemons running: ${pids}`);

    const whileAlive = await cleanLeftoverStores(root);
    assert.deepEqual(whileAlive.map((r) => [r.dir, r.action]), [[dir, 'in-use']]);
    assert.ok(pids.every(pidAlive), 'a live owner keeps its store');

    owner.kill('SIGKILL');
    await waitUntil('the daemons died with their owner (setpriv --pdeathsig)', 10_000, () => !pids.some(pidAlive));
    assert.ok(existsSync(dir), 'nobody cleaned up: the dir is a leftover');

    const cleaned = await cleanLeftoverStores(root);
    assert.deepEqual(cleaned.map((r) => [r.dir, r.action]), [[dir, 'removed']]);
    assert.equal(existsSync(dir), false);
    assert.deepEqual(pidsWithArg(dir), []);
  });

  it('kills processes still running for a dead owner, and only those naming the store', async () => {
    const dir = path.join(root, 'store2');
    mkdirSync(dir);
    // A pid that surely is dead: a child that has exited.
    const gone = spawn('true');
    await once(gone, 'exit');
    writeFileSync(path.join(dir, STATE_FILE), JSON.stringify({ kind: 'ftharness-embedded-rgw', dir, ownerPid: gone.pid, ports: {}, pids: {}, createdAt: new Date().toISOString() }));
    // Stand-ins for daemons that outlived their owner: their command line names the store's
    // config, as ceph's daemons do. A bystander does not.
    const keep = ['-e', 'setInterval(() => {}, 1000)'];
    const stray = spawn(process.execPath, [...keep, '--', '-c', path.join(dir, 'ceph.conf')], { detached: true, stdio: 'ignore' });
    const bystander = spawn(process.execPath, [...keep, path.join(root, 'other.conf')], { stdio: 'ignore' });
    children.push(stray, bystander);
    await waitUntil('the stand-ins run', 5_000, () => pidsWithArg(dir).length === 1);

    const results = await cleanLeftoverStores(root);
    assert.deepEqual(results.map((r) => [r.dir, r.action, r.killed]), [[dir, 'removed', [stray.pid]]]);
    assert.equal(pidAlive(stray.pid!), false);
    assert.equal(pidAlive(bystander.pid!), true);
    assert.equal(existsSync(dir), false);
  });

  it('stopAllEmbeddedStores() during a start (SIGINT handler) leaves no process and no dir', async () => {
    const dir = path.join(root, 'store3');
    let stopping: Promise<void> | undefined;
    // Stop as soon as the mon is up: the osd and the gateway are still to come.
    const start = startEmbeddedRgw({ dir, log: (l) => { if (l.startsWith('ceph-mon up')) stopping ??= stopAllEmbeddedStores(); } });
    await assert.rejects(start, new RegExp(`embedded store in ${dir} was stopped while starting`));
    await stopping;
    assert.deepEqual(pidsWithArg(dir), []);
    assert.equal(existsSync(dir), false);
  });

  it('ignores dirs without a state file and returns nothing for a missing root', async () => {
    const plain = path.join(root, 'not-a-store');
    mkdirSync(plain);
    writeFileSync(path.join(plain, 'file'), 'x');
    assert.deepEqual(await cleanLeftoverStores(root), []);
    assert.ok(existsSync(path.join(plain, 'file')));
    assert.deepEqual(await cleanLeftoverStores(path.join(root, 'missing')), []);
  });
});
