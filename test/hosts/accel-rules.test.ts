// The accelerator decision on recorded outcomes: what the canary saw on real hosts (this PVM
// host's aborts and hang are copied from a probe's evidence), and the env that forces a choice.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import {
  classifyAttempt, cpuLadder, decideAccel, nextRung, qemuErrorLine,
  type Attempt, type KvmFacts,
} from '../../src/hosts/accel-rules.js';
import { accelCacheKey, accelEnvProblems, resolveAccel } from '../../src/hosts/accel.js';
import { cpuModeLabel } from '../../src/vm/spec.js';
import { tmpDir } from '../helpers.js';

const libvirt = { ok: true, detail: 'kvm domains offered', modes: ['host-passthrough', 'maximum', 'host-model', 'custom'], hostModel: 'EPYC-Milan' };
const pvmHost: KvmFacts = { device: 'present', pvm: true, libvirt };
const plainHost: KvmFacts = { device: 'present', pvm: false, libvirt };
const MSR = 'internal error: qemu unexpectedly closed the monitor: 2026-12-02T00:13:51.327726Z qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n'
  + "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.";
const abort = (cpu: string): Attempt => ({ cpu, outcome: 'abort', ms: 1800, detail: qemuErrorLine(MSR) });
const hang = (cpu: string): Attempt => ({ cpu, outcome: 'hang', ms: 20_700, detail: 'QEMU running, not ready in 20 s' });
const ready = (cpu: string, ms = 1400): Attempt => ({ cpu, outcome: 'ready', ms, detail: `ready in ${ms} ms` });

/** Walk the ladder the way the probe does, answering each rung from a table of outcomes. */
function walk(facts: KvmFacts, outcomes: Record<string, (cpu: string) => Attempt>) {
  const ladder = cpuLadder(facts);
  const attempts: Attempt[] = [];
  for (let cpu = nextRung(ladder, attempts); cpu; cpu = nextRung(ladder, attempts)) {
    attempts.push(outcomes[cpuModeLabel(cpu)](cpuModeLabel(cpu)));
  }
  return { attempts, verdict: decideAccel(facts, ladder, attempts) };
}

describe('accelerator decision (recorded outcomes)', () => {
  it('ladder: host-passthrough, host-model, then the host model with arch-capabilities off', () => {
    assert.deepEqual(cpuLadder(plainHost), [
      { mode: 'host-passthrough' }, { mode: 'host-model' }, { mode: 'custom', model: 'EPYC-Milan', disable: ['arch-capabilities'] },
    ]);
    assert.deepEqual(cpuLadder({ ...plainHost, libvirt: { ...libvirt, modes: ['host-model'] } }), [{ mode: 'host-model' }]);
    assert.deepEqual(cpuLadder(plainHost, { mode: 'host-model' }), [{ mode: 'host-model' }], 'FTH_CPU_MODE is the only rung');
  });

  it('abort: QEMU exits (MSR 0x10a) → the next mode is tried', () => {
    const ladder = cpuLadder(plainHost);
    assert.deepEqual(nextRung(ladder, [abort('host-passthrough')]), { mode: 'host-model' });
    assert.equal(classifyAttempt({ startError: MSR }), 'abort');
    assert.equal(classifyAttempt({ stoppedBeforeReady: true }), 'abort');
    assert.equal(qemuErrorLine(MSR), 'failed to set MSR 0x10a to 0x69');
  });

  it('hang: QEMU runs, the guest is never ready → TCG, and no further mode is tried', () => {
    assert.equal(classifyAttempt({}), 'hang');
    const ladder = cpuLadder(plainHost);
    assert.equal(nextRung(ladder, [hang('host-passthrough')]), undefined);
    const v = decideAccel(plainHost, ladder, [hang('host-passthrough')]);
    assert.equal(v.accel, 'tcg');
    assert.deepEqual(v.cpu, { mode: 'maximum' });
    assert.match(v.reason, /^KVM cannot boot our guest \(host-passthrough: guest hung/);
  });

  it('this PVM host: two aborts then a hang → TCG, and the reason names PVM and what each mode did', () => {
    const { attempts, verdict } = walk(pvmHost, { 'host-passthrough': abort, 'host-model': abort, 'custom:EPYC-Milan,-arch-capabilities': hang });
    assert.deepEqual(attempts.map((a) => a.outcome), ['abort', 'abort', 'hang']);
    assert.equal(verdict.accel, 'tcg');
    assert.equal(verdict.reason, 'KVM device is nested PVM: stock kernels cannot boot under it (host-passthrough, host-model: QEMU aborted (failed to set MSR 0x10a to 0x69); custom:EPYC-Milan,-arch-capabilities: guest hung (QEMU running, not ready in 20 s))');
    assert.doesNotMatch(verdict.reason, /\n/, 'one line');
  });

  it('success: ready with host-passthrough → KVM with host-passthrough, nothing else tried', () => {
    const { attempts, verdict } = walk(plainHost, { 'host-passthrough': (c) => ready(c, 1200) });
    assert.equal(attempts.length, 1);
    assert.deepEqual(verdict, { accel: 'kvm', cpu: { mode: 'host-passthrough' }, reason: 'canary guest ready under KVM in 1.2 s with host-passthrough' });
  });

  it('success after aborts: the guest runs with the mode that passed', () => {
    const { verdict } = walk(plainHost, { 'host-passthrough': abort, 'host-model': abort, 'custom:EPYC-Milan,-arch-capabilities': ready });
    assert.equal(verdict.accel, 'kvm');
    assert.deepEqual(verdict.cpu, { mode: 'custom', model: 'EPYC-Milan', disable: ['arch-capabilities'] });
    assert.match(verdict.reason, /with custom:EPYC-Milan,-arch-capabilities \(host-passthrough, host-model: QEMU aborted/);
  });

  it('every mode aborts → TCG; not deciding before the ladder is done', () => {
    const { verdict } = walk(plainHost, { 'host-passthrough': abort, 'host-model': abort, 'custom:EPYC-Milan,-arch-capabilities': abort });
    assert.equal(verdict.accel, 'tcg');
    assert.match(verdict.reason, /^QEMU aborts under KVM in every CPU mode tried/);
    assert.throws(() => decideAccel(plainHost, cpuLadder(plainHost), [abort('host-passthrough')]), /not decided yet/);
  });

  it('no device, a device that cannot be opened, libvirt without KVM → TCG without a canary', () => {
    assert.deepEqual(decideAccel({ device: 'absent', pvm: false }, [], []), { accel: 'tcg', cpu: { mode: 'maximum' }, reason: 'no /dev/kvm' });
    assert.equal(decideAccel({ device: 'unopenable', deviceError: 'EACCES', pvm: false }, [], []).reason, '/dev/kvm cannot be opened (EACCES)');
    const noKvm: KvmFacts = { device: 'present', pvm: false, libvirt: { ok: false, detail: 'unsupported configuration: virttype kvm', modes: [] } };
    assert.match(decideAccel(noKvm, cpuLadder(noKvm), []).reason, /^libvirt cannot make KVM domains/);
  });
});

describe('accelerator decision (environment and cache)', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of ['FTH_ACCEL', 'FTH_CPU_MODE', 'FTH_STATE_DIR', 'FTH_CANARY_TIMEOUT_MS']) {
      if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
    }
  });

  it('forced: FTH_ACCEL=tcg decides without looking at the host', async () => {
    process.env.FTH_ACCEL = 'tcg';
    const d = await resolveAccel({ fresh: true });
    assert.equal(d.accel, 'tcg');
    assert.equal(d.how, 'forced');
    assert.equal(d.cpuMode, 'maximum');
    assert.equal(d.reason, 'forced by FTH_ACCEL=tcg');
  });

  it('forced: FTH_ACCEL=kvm uses FTH_CPU_MODE, else the mode the cached probe passed', async () => {
    process.env.FTH_STATE_DIR = tmpDir();
    process.env.FTH_ACCEL = 'kvm';
    process.env.FTH_CPU_MODE = 'host-model';
    let d = await resolveAccel({ fresh: true });
    assert.deepEqual([d.accel, d.how, d.cpuMode], ['kvm', 'forced', 'host-model']);
    delete process.env.FTH_CPU_MODE;
    const { key, file } = await accelCacheKey();
    mkdirSync(join(process.env.FTH_STATE_DIR, 'accel'), { recursive: true });
    writeFileSync(file, JSON.stringify({ accel: 'kvm', cpu: { mode: 'custom', model: 'EPYC', disable: ['arch-capabilities'] }, cpuMode: 'custom:EPYC,-arch-capabilities', how: 'probed', reason: 'canary ready', decidedAt: '', key }));
    d = await resolveAccel({ fresh: true });
    assert.deepEqual([d.accel, d.how, d.cpuMode], ['kvm', 'forced', 'custom:EPYC,-arch-capabilities']);
    assert.match(d.reason, /the mode the last probe passed/);
  });

  it('cached: a verdict stored under this host\'s key is used as is, and says so', async function () {
    let openable = false;
    try { closeSync(openSync('/dev/kvm', 'r+')); openable = true; } catch { /* no device */ }
    if (!openable) this.skip(); // without a device there is nothing to cache: TCG at once
    process.env.FTH_STATE_DIR = tmpDir();
    const { key, file } = await accelCacheKey();
    mkdirSync(join(process.env.FTH_STATE_DIR, 'accel'), { recursive: true });
    writeFileSync(file, JSON.stringify({ accel: 'tcg', cpu: { mode: 'maximum' }, cpuMode: 'maximum', how: 'probed', reason: 'planted verdict', decidedAt: '', key }));
    const d = await resolveAccel({ fresh: true });
    assert.ok(existsSync(file));
    assert.equal(d.how, 'cached');
    assert.equal(d.reason, 'planted verdict');
  });

  it('bad settings are named before anything starts', () => {
    assert.deepEqual(accelEnvProblems({ FTH_ACCEL: 'hvf' }), ['FTH_ACCEL must be kvm or tcg, not "hvf"']);
    assert.match(accelEnvProblems({ FTH_CPU_MODE: 'fast' })[0], /^FTH_CPU_MODE must be/);
    assert.match(accelEnvProblems({ FTH_CANARY_TIMEOUT_MS: '5' })[0], /^FTH_CANARY_TIMEOUT_MS/);
    assert.deepEqual(accelEnvProblems({ FTH_ACCEL: 'kvm', FTH_CPU_MODE: 'custom:EPYC,-arch-capabilities' }), []);
  });
});
