// The real accelerator probe on this host: canary boots under KVM when a device is there. The
// test asserts what the probe decided and that the verdict follows from its own evidence by the
// rules (accel-rules.test covers the rules); it never asserts a verdict of its own.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { decideAccel } from '../../src/hosts/accel-rules.js';
import { accelCacheKey, type AccelDecision } from '../../src/hosts/accel.js';
import { parseCpuMode } from '../../src/vm/spec.js';
import { cli, domainNames } from '../helpers.js';

describe('@vm accelerator probe on this host', function () {
  this.timeout(240_000);

  it('`accel --probe` decides from canary boots, caches the verdict with its evidence, leaves nothing', async () => {
    // Unforced whatever the caller set: this test is about the probe.
    const r = await cli(['accel', '--probe', '--json'], { env: { FTH_ACCEL: '' } });
    assert.equal(r.exitCode, 0, r.all);
    const d = JSON.parse(r.stdout) as AccelDecision;
    assert.equal(d.how, 'probed');
    const ev = d.evidence!;
    if (ev.facts.device === 'present' && ev.facts.libvirt?.ok && ev.ladder.length) {
      // Canaries ran: every mode before the last aborted (that is what sends the probe on).
      assert.ok(ev.attempts.length >= 1);
      assert.ok(ev.attempts.slice(0, -1).every((a) => a.outcome === 'abort'), JSON.stringify(ev.attempts));
      assert.deepEqual(ev.attempts.map((a) => a.cpu), ev.ladder.slice(0, ev.attempts.length));
      for (const a of ev.attempts) assert.ok(a.ms > 0 && a.detail, JSON.stringify(a));
      if (ev.attempts.at(-1)!.outcome === 'hang') assert.ok(ev.attempts.at(-1)!.ms >= ev.boundMs);
    }
    const again = decideAccel(ev.facts, ev.ladder.map((l) => parseCpuMode(l)!), ev.attempts);
    assert.deepEqual({ accel: d.accel, cpu: d.cpu, reason: d.reason }, again);
    assert.doesNotMatch(d.reason, /\n/);
    if (ev.facts.pvm && d.accel === 'tcg') assert.match(d.reason, /^KVM device is nested PVM/);
    // No canary is left behind.
    assert.deepEqual((await domainNames()).filter((n) => n.includes('canary')), []);
    assert.equal((await execa('pgrep', ['-af', 'qemu-system.*canary'], { reject: false })).stdout.trim(), '');
    // Cached under this host's key; later decisions say "cached" and agree.
    const { key, file } = await accelCacheKey();
    if (d.key) {
      assert.equal(d.key, key);
      assert.ok(existsSync(file));
      assert.equal(JSON.parse(readFileSync(file, 'utf8')).reason, d.reason);
      const c = JSON.parse((await cli(['accel', '--json'], { env: { FTH_ACCEL: '' } })).stdout) as AccelDecision;
      assert.deepEqual([c.how, c.accel, c.cpuMode, c.reason], ['cached', d.accel, d.cpuMode, d.reason]);
    }
    // doctor shows the same decision and why.
    const doc = JSON.parse((await cli(['doctor', '--json'], { env: { FTH_ACCEL: '' } })).stdout);
    assert.equal(doc.accel.accel, d.accel);
    assert.ok(doc.checks.find((c: { name: string }) => c.name === 'accel').detail.includes(d.reason));
  });
});
