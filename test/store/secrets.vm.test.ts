// No secret anywhere: a PMEM HA run against an external store (a real Ceph RGW started here and
// handed to ftharness as FTH_S3_*, as a lab's MinIO would be), then every artefact it wrote,
// its stdout/stderr, the JUnit file, and — sampled all through the run — the command line and
// environment of every process on the machine, searched for the secret access key, the access
// key id, and every 8-character piece of either.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type EmbeddedRgw, startEmbeddedRgw } from '../../src/store/rgw.js';
import { CLI, cli, tmpDir } from '../helpers.js';

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) return [];
    return e.isDirectory() ? filesUnder(p) : [p];
  });
}

/** Where `text` contains the secret or one of its 8-character pieces, as "piece@offset". */
function leaks(text: string, secrets: string[]): string[] {
  const out: string[] = [];
  for (const s of secrets) {
    for (let i = 0; i + 8 <= s.length; i++) {
      const piece = s.slice(i, i + 8);
      const at = text.indexOf(piece);
      if (at >= 0) out.push(`piece ${i}@${at}`);
    }
  }
  return out;
}

/** Reads every process's cmdline and environ, except those allowed to hold the secret: the
 *  ftharness process, and its children between fork and exec (the same image, the same
 *  command line, its environment block still the parent's). */
function scanProcs(secrets: string[], allowed: Set<number>, allowedCmdline: string): string[] {
  const found: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || allowed.has(Number(d))) continue;
    try { if (readFileSync(`/proc/${d}/cmdline`, 'latin1') === allowedCmdline) continue; } catch { continue; }
    for (const f of ['cmdline', 'environ']) {
      try {
        const text = readFileSync(`/proc/${d}/${f}`, 'latin1');
        const hit = leaks(text, secrets);
        if (hit.length) found.push(`pid ${d} (${readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0').join(' ').slice(0, 120)}) ${f}: ${hit.slice(0, 3).join(', ')}`);
      } catch { /* gone */ }
    }
  }
  return found;
}

describe('@vm no secret anywhere', function () {
  this.timeout(400_000);
  let rgw: EmbeddedRgw;
  before(async () => { rgw = await startEmbeddedRgw({}); });
  after(async () => { await rgw?.stop(); });

  it('an external-store HA run leaks the key to no artefact, output, argv or environment', async () => {
    const { accessKeyId, secretAccessKey } = rgw.credentials;
    const secrets = [secretAccessKey, accessKeyId];
    const out = tmpDir();
    const junit = join(out, 'junit.xml');
    const env = { FTH_S3_ENDPOINT: rgw.conn.endpoint, FTH_S3_ACCESS_KEY_ID: accessKeyId, FTH_S3_SECRET_ACCESS_KEY: secretAccessKey };
    const args = ['run', 'scenarios/pmem-ha-basic.yaml', '--json', '--out', out, '--seed', '5'];
    const child = cli(args, { env });
    // The CLI was handed the secret in its environment by its caller (that is the interface); no
    // process it starts may inherit or receive it.
    const allowed = new Set([process.pid, child.pid!]);
    const cliCmdline = ['node', CLI, ...args].map((a) => `${a}\0`).join('');
    const seen: string[] = [];
    let samples = 0;
    const sampler = setInterval(() => { samples++; seen.push(...scanProcs(secrets, allowed, cliCmdline)); }, 100);
    const r = await child;
    clearInterval(sampler);
    assert.equal(r.exitCode, 0, r.all);
    const summary = JSON.parse(r.stdout);
    assert.match(summary.runs[0].dimensions.store, /external/);
    const rep = await cli(['report', out, '--out', join(out, 'again.html'), '--junit', junit]);
    assert.equal(rep.exitCode, 0, rep.all);

    assert.ok(samples > 100, `process table sampled ${samples} times`);
    assert.deepEqual([...new Set(seen)], [], 'a process other than ftharness held the secret');
    const files = filesUnder(out);
    for (const want of ['results.json', 'history.jsonl', 'report.html', 'index.html', 'junit.xml', 'primary.console.log', 'standby.agent.jsonl', 'primary.live.xml']) {
      assert.ok(files.some((f) => f.endsWith(want)), `artefact ${want} was written and scanned`);
    }
    for (const f of files) {
      if (statSync(f).size > 64 * 2 ** 20) continue;
      assert.deepEqual(leaks(readFileSync(f, 'latin1'), secrets), [], f);
    }
    assert.deepEqual(leaks(r.stdout, secrets), [], 'stdout');
    assert.deepEqual(leaks(r.stderr, secrets), [], 'stderr');
    assert.deepEqual(leaks(rep.all ?? '', secrets), [], 'report command output');
  });
});
