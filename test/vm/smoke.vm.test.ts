// Real-VM integration tests of the foundation: the smoke scenario end to end through the CLI,
// concurrent runs, bad input starting nothing, clean after a crash (interrupts: interrupt.vm.test).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { cli, CLI, domainNames, ownershipOfPid, qemuProcessesOf, sleep, tmpDir } from '../helpers.js';
import type { RunResult } from '../../src/results/types.js';

describe('@vm foundation on real guests', function () {
  this.timeout(300_000);

  it('smoke.yaml passes two-sided and leaves nothing behind', async () => {
    const out = tmpDir();
    const r = await cli(['run', 'scenarios/smoke.yaml', '--json', '--out', out, '--seed', '7']);
    assert.equal(r.exitCode, 0, r.all);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.verdict, 'pass');
    const run = summary.runs[0];
    const res = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as RunResult;
    // Every check ran and held: topology (XML + QEMU + guest sysfs), backing file, guest read-back.
    const names = res.checks.map((c) => c.name);
    assert.ok(names.some((n) => n.startsWith('topology of guest')), names.join());
    assert.ok(names.some((n) => n.startsWith('backing file holds p1')), names.join());
    assert.ok(names.some((n) => n.startsWith('guest reads p1')), names.join());
    assert.ok(res.checks.every((c) => c.valid === true));
    const topo = res.checks.find((c) => c.name.startsWith('topology'))!.evidence as any;
    assert.equal(topo.guest.nodes.length, 2);
    // The guest kernel parsed the HMAT the scenario asked for.
    assert.ok(topo.guest.hmat.some((h: any) => h.kind === 'latency' && h.initiator === 0 && h.target === 1 && h.value === 120), JSON.stringify(topo.guest.hmat));
    assert.deepEqual(topo.guest.pmem, [{ dev: 'nvdimm0', bytes: 256 * 2 ** 20, node: 1, block: 'pmem0' }]);
    assert.equal(res.metrics.boot_to_agent_ms.values.length, 2);
    // The run used what the accelerator decision says (forced, cached or probed), in its XML too.
    const accel = JSON.parse((await cli(['accel', '--json'])).stdout);
    assert.equal(res.dimensions.accel, accel.accel);
    assert.equal(res.dimensions.cpuMode, accel.cpuMode);
    assert.equal(res.dimensions.accelReason, accel.reason);
    assert.ok(['forced', 'probed', 'cached'].includes(res.dimensions.accelChosen!), res.dimensions.accelChosen);
    const live = readFileSync(join(run.dir, 'guest.live.xml'), 'utf8');
    assert.match(live, new RegExp(`<domain type='${accel.accel === 'kvm' ? 'kvm' : 'qemu'}'`));
    assert.match(live, new RegExp(`<cpu mode='${accel.cpu.mode}'`));
    assert.equal(res.dimensions.topology, 'emulated');
    assert.match(res.dimensions.guestKernel ?? '', /^\d+\.\d+/);
    assert.ok(res.faults.some((f) => f.kind === 'power-cut' && f.end !== undefined));
    for (const a of ['guest.console.log', 'guest.domain.xml', 'guest.live.xml', 'guest.agent.jsonl', 'history.jsonl']) {
      assert.ok(existsSync(join(run.dir, a)), `artefact ${a}`);
    }
    assert.match(readFileSync(join(run.dir, 'guest.console.log'), 'utf8'), /fth-init: up/);
    assert.ok(!(await domainNames()).some((d) => d.includes(res.runId)), 'domain left behind');
    assert.deepEqual(await qemuProcessesOf(res.runId), []);
  });

  it('the backing-file checker can fail: a pattern overwritten in the guest gives verdict fail, exit 1', async () => {
    const dir = tmpDir();
    const f = join(dir, 'overwritten.yaml');
    writeFileSync(f, `
name: overwritten
vms:
  - name: g
    vcpus: 1
    memory: 384MiB
    numa: [{ cpus: [0], memory: 384MiB }]
    nvdimms: [{ size: 16MiB, node: 0 }]
steps:
  - { do: boot, vm: g }
  - { do: pmem-write, vm: g, pattern: a, length: 64KiB }
  - { do: exec, role: setup, vm: g, cmd: "dd if=/dev/urandom of=/dev/nvdimm0 bs=4096 count=1 oflag=direct conv=notrunc,fsync 2>/dev/null" }
  - { do: power-cut, vm: g }
  - { do: check-backing-file, vm: g, pattern: a }
`);
    const r = await cli(['run', f, '--json', '--out', join(dir, 'out'), '--no-report']);
    assert.equal(r.exitCode, 1, r.all);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.verdict, 'fail');
    const res = JSON.parse(readFileSync(join(summary.runs[0].dir, 'results.json'), 'utf8')) as RunResult;
    const c = res.checks.find((x) => x.name.startsWith('backing file'))!;
    assert.equal(c.valid, false);
    assert.ok((c.evidence as any).a.firstDifferenceAt < 4096, JSON.stringify(c.evidence));
    assert.match(res.reason, /differs at byte/);
  });

  it('NVDIMM K is /dev/nvdimmK in the guest, whatever /dev/pmemN the kernel gave it', async () => {
    const out = tmpDir();
    const r = await cli(['run', 'test/fixtures/multi-nvdimm.yaml', '--json', '--out', out, '--no-report']);
    assert.equal(r.exitCode, 0, r.all);
    const res = JSON.parse(readFileSync(join(JSON.parse(r.stdout).runs[0].dir, 'results.json'), 'utf8')) as RunResult;
    const pmem = (res.checks.find((c) => c.name.startsWith('topology'))!.evidence as any).guest.pmem;
    assert.deepEqual(pmem.map((p: any) => [p.dev, p.bytes / 2 ** 20, p.node]), [['nvdimm0', 8, 0], ['nvdimm1', 16, 1], ['nvdimm2', 4, 0], ['nvdimm3', 32, 1]]);
    // The pattern written to NVDIMM 2 is in NVDIMM 2's backing file (the check reads that file).
    assert.ok(res.checks.find((c) => c.name.startsWith('backing file'))!.valid);
  });

  it('two runs started at once do not collide', async () => {
    const out = tmpDir();
    const [a, b] = await Promise.all([0, 1].map(() => cli(['run', 'test/fixtures/tiny.yaml', '--json', '--out', out, '--no-report'])));
    assert.equal(a.exitCode, 0, a.all);
    assert.equal(b.exitCode, 0, b.all);
    const ra = JSON.parse(a.stdout).runs[0];
    const rb = JSON.parse(b.stdout).runs[0];
    assert.notEqual(ra.dir, rb.dir);
    const ida = JSON.parse(readFileSync(join(ra.dir, 'results.json'), 'utf8')).runId;
    const idb = JSON.parse(readFileSync(join(rb.dir, 'results.json'), 'utf8')).runId;
    assert.notEqual(ida, idb);
  });

  it('a malformed scenario exits 2 naming the field, and starts nothing', async () => {
    const dir = tmpDir();
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, readFileSync('scenarios/smoke.yaml', 'utf8').replace('vcpus: 2', 'vcpus: 2\n    maxMemory: 1100MiB'));
    const before = await domainNames();
    const r = await cli(['run', f, '--out', join(dir, 'out')]);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /bad\.yaml:\d+: vms\[0\]\.maxMemory: 1100MiB is less than memory 1024MiB \+ NVDIMMs 256MiB = 1280MiB/);
    assert.match(r.stderr, /nothing was started/);
    assert.deepEqual(await domainNames(), before);
    assert.equal(existsSync(join(dir, 'out')), false, 'no results dir for an invalid scenario');
  });

  it('ftharness clean removes the leftovers of a crashed (SIGKILLed) run', async () => {
    const out = tmpDir();
    const child = execa('node', [CLI, 'run', 'test/fixtures/tiny.yaml', '--out', out, '--no-report'], { reject: false });
    let own: { runId: string; domains: string[] } | undefined;
    for (let i = 0; i < 600 && !own?.domains.length; i++) { await sleep(100); own = ownershipOfPid(child.pid!); }
    assert.ok(own?.domains.length);
    for (let i = 0; i < 300 && !(await domainNames()).some((d) => d.includes(own!.runId)); i++) await sleep(100);
    child.kill('SIGKILL');
    await child;
    assert.ok((await domainNames()).some((d) => d.includes(own!.runId)), 'a SIGKILLed run leaves its domain');
    const c = await cli(['clean']);
    assert.equal(c.exitCode, 0, c.all);
    assert.match(c.stdout, new RegExp(`removed domain fth-${own.runId}`));
    assert.ok(!(await domainNames()).some((d) => d.includes(own!.runId)));
    assert.deepEqual(await qemuProcessesOf(own.runId), []);
    assert.equal(existsSync(`/var/tmp/ftharness/${own.runId}`), false);
  });
});
