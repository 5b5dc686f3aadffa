// A run stops when its caller stops: signals, and the caller going away behind wrappers (npm,
// sh -c) that do not pass signals on. Real processes, no VMs.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { brokenLink, callerChain, isWrapper, type ProcInfo } from '../../src/lab/lifeline.js';
import { sleep, tmpDir } from '../helpers.js';

const HOLDER = join(process.cwd(), 'dist', 'test', 'lab', 'lifeline-holder.js');
const proc = (pid: number, ppid: number, comm: string, argv: string[], startTime = '100'): ProcInfo => ({ pid, ppid, comm, argv, state: 'S', startTime });

async function until(f: string, re: RegExp, ms = 10_000): Promise<string> {
  for (let t = 0; t < ms; t += 50) {
    const text = existsSync(f) ? readFileSync(f, 'utf8') : '';
    if (re.test(text)) return text;
    await sleep(50);
  }
  throw new Error(`${f} never matched ${re}: ${existsSync(f) ? readFileSync(f, 'utf8') : '(missing)'}`);
}

describe('lifeline: stop when the caller stops', () => {
  it('knows the pass-through wrappers: npm/npx and sh -c, not a script shell, timeout or mocha', () => {
    assert.ok(isWrapper({ comm: 'npm exec ftharn', argv: ['npm exec ftharness run x.yaml'] }));
    assert.ok(isWrapper({ comm: 'npm run demo', argv: ['npm run demo'] }));
    assert.ok(isWrapper({ comm: 'node', argv: ['node', '/usr/lib/node_modules/npm/bin/npm-cli.js', 'test'] }));
    assert.ok(isWrapper({ comm: 'sh', argv: ['sh', '-c', 'bash harness/setup.sh && node dist/harness/demo.js'] }));
    assert.ok(!isWrapper({ comm: 'bash', argv: ['bash', '.ci/run'] }));
    assert.ok(!isWrapper({ comm: 'timeout', argv: ['timeout', '-s', 'TERM', '12', 'npx', 'ftharness'] }));
    assert.ok(!isWrapper({ comm: 'node', argv: ['node', '/work/main/node_modules/.bin/mocha'] }));
  });

  it('watches parent → wrappers → the first real caller, and notices when one is gone', () => {
    const table = new Map<number, ProcInfo>([
      [50, proc(50, 40, 'node', ['node', 'bin/ftharness.js', 'run'])],
      [40, proc(40, 30, 'sh', ['sh', '-c', 'ftharness run'])],
      [30, proc(30, 20, 'npm exec ftharn', ['npm exec ftharness run'])],
      [20, proc(20, 10, 'timeout', ['timeout', '12', 'npx', 'ftharness'])],
      [10, proc(10, 1, 'bash', ['bash'])],
    ]);
    const read = (pid: number) => table.get(pid);
    const chain = callerChain(50, read);
    assert.deepEqual(chain.map((p) => p.comm), ['sh', 'npm exec ftharn', 'timeout']);
    assert.equal(brokenLink(chain, 50, read), undefined);
    table.set(30, { ...table.get(30)!, state: 'Z' });
    assert.match(brokenLink(chain, 50, read)!, /caller 30 .* has exited/);
    table.delete(30);
    assert.match(brokenLink(chain, 50, read)!, /caller 30 .* is gone/);
    table.set(30, proc(30, 1, 'bash', ['bash'], '999')); // pid reused by a stranger
    assert.match(brokenLink(chain, 50, read)!, /is gone/);
    table.set(50, proc(50, 1, 'node', []));
    assert.match(brokenLink(chain, 50, read)!, /parent 40 \(sh\) is gone: now a child of 1/);
  });

  for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
    it(`${sig} stops it (exit ${code})`, async () => {
      const f = join(tmpDir(), 'holder.log');
      const child = execa('node', [HOLDER, f], { reject: false });
      await until(f, /^ready/m);
      child.kill(sig);
      const r = await child;
      assert.equal(r.exitCode, code);
      assert.match(readFileSync(f, 'utf8'), new RegExp(`stopped ${sig}`));
    });
  }

  it('its caller killed behind `sh -c` (which stays, orphaned) stops it within a second', async () => {
    const f = join(tmpDir(), 'holder.log');
    // caller (a plain node process) → sh -c → holder; `; :` keeps sh from exec'ing node.
    const caller = execa('node', ['-e', `require('child_process').spawn('sh', ['-c', 'node ${HOLDER} ${f}; :'], { stdio: 'ignore' }); setInterval(() => {}, 1000)`], { reject: false });
    const ready = await until(f, /^ready/m);
    assert.match(ready, new RegExp(`ready \\d+:sh ${caller.pid}:node`), ready);
    const t0 = Date.now();
    caller.kill('SIGKILL');
    await caller;
    const text = await until(f, /^stopped/m, 5000);
    assert.match(text, new RegExp(`stopped parent-exit caller ${caller.pid} \\(node\\) is gone`));
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  });
});
