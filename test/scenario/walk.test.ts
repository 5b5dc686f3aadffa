// parseScenario's semantic rules that depend on step order: the static walk over the steps
// (which VM runs, which HA agent runs in it, pending hold-up cuts, AC cycles) and host files.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { parseScenario, ScenarioError } from '../../src/scenario/load.js';

const VMS = `
vms:
  - name: primary
    vcpus: 1
    memory: 512MiB
    numa: [{ cpus: [0], memory: 512MiB }]
    nvdimms: [{ size: 64MiB, node: 0 }, { size: 4MiB, node: 0 }]
    nics: [user, { link: standby }]
    code: true
  - name: standby
    vcpus: 1
    memory: 512MiB
    numa: [{ cpus: [0], memory: 512MiB }]
    nvdimms: [{ size: 64MiB, node: 0 }, { size: 4MiB, node: 0 }]
    nics: [user, { link: primary }]
    code: true
`;
/** An HA pair running `steps` (one flow mapping per line). */
const ha = (...steps: string[]) => `name: t\nstore: auto\n${VMS}steps:\n${steps.map((s) => `  - ${s}\n`).join('')}`;
const START = [
  '{ do: boot, vm: standby }',
  '{ do: boot, vm: primary }',
  '{ do: ha-agent, vm: standby, role: standby }',
  '{ do: ha-agent, vm: primary, role: primary, peer: standby }',
];

function problems(text: string, opts?: Parameters<typeof parseScenario>[2]): string[] {
  try {
    parseScenario(text, 'w.yaml', opts);
  } catch (e) {
    assert.ok(e instanceof ScenarioError, `expected ScenarioError, got ${e}`);
    return e.message.split('\n');
  }
  return [];
}
const ok = (text: string) => assert.deepEqual(problems(text), []);

describe('scenario static walk', () => {
  it('a cut VM can boot again, and then runs steps again', () => {
    ok(ha('{ do: boot, vm: primary }', '{ do: pmem-write, vm: primary, pattern: x, length: 4096 }', '{ do: power-cut, vm: primary }',
      '{ do: check-backing-file, vm: primary, pattern: x }', '{ do: boot, vm: primary }', '{ do: check-pmem, vm: primary, pattern: x }'));
  });

  it('reports a VM that is off once per off period, naming the step that cut it', () => {
    const p = problems(ha('{ do: boot, vm: primary }', '{ do: power-cut, vm: primary }',
      '{ do: exec, role: check, vm: primary, cmd: "true" }', '{ do: spawn, vm: primary, cmd: "sleep 9" }', '{ do: check-topology, vm: primary }'));
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0], /^w\.yaml:\d+: steps\[2\]\.vm: exec: VM "primary" is not running here: boot it first \(it was cut at steps\[1\] \(power-cut\)\)$/);
  });

  it('an AC cycle: ac-loss cut: false, ac-restore, then another ac-loss', () => {
    ok(ha(...START, '{ do: ac-loss, vm: primary, holdup: 60000, cut: false }', '{ do: ac-restore, vm: primary }',
      '{ do: wait-ha, vm: primary, until: save-ended }', '{ do: ac-loss, vm: primary, holdup: 40000 }',
      '{ do: wait-ha, vm: standby, until: holds-new }', '{ do: check-ha, primary: primary, standby: standby, expect: restored }'));
    // a second AC loss while the first is not restored
    const p = problems(ha(...START, '{ do: ac-loss, vm: primary, holdup: 60000, cut: false }', '{ do: ac-loss, vm: primary, holdup: 60000 }'));
    assert.match(p.join('\n'), /steps\[5\]\.vm: AC is already lost on "primary" since steps\[4\] \(ac-loss\) \(cut: false\): ac-restore it before another ac-loss/);
  });

  it('after an ac-loss that cuts, only power-cut-at, host-side steps and other VMs may follow', () => {
    const pause = START.map((s) => s.replace('peer: standby }', 'peer: standby, pauseAt: after-manifest }'));
    ok(ha(...pause, '{ do: ac-loss, vm: primary, holdup: 60000 }', '{ do: power-cut-at, vm: primary, phase: after-manifest }',
      '{ do: snapshot-pmem, vm: primary, as: p }', '{ do: host-check, cmd: "test -s ${backing:primary:0}" }', '{ do: wait-ha, vm: standby, until: holds-new }',
      '{ do: check-ha, primary: primary, standby: standby, expect: restored }'));
    // waiting for the save to end is fine: it ends within the hold-up, and its status is on the host
    ok(ha(...START, '{ do: ac-loss, vm: primary, holdup: 60000 }', '{ do: wait-ha, vm: primary, until: save-ended }'));
    for (const step of ['{ do: power-cut, vm: primary }', '{ do: pmem-write, vm: primary, pattern: y, length: 4096 }']) {
      const p = problems(ha(...START, '{ do: ac-loss, vm: primary, holdup: 60000 }', step));
      assert.equal(p.length, 1, p.join('\n'));
      assert.match(p[0], /steps\[5\]\.vm: [a-z-]+: VM "primary" is not running here: steps\[4\] \(ac-loss\) cuts its power when its 60000 ms hold-up ends/);
    }
  });

  it('booting after a hold-up cut needs the cut to have happened: check-ha or enough sleep', () => {
    const cut = [...START, '{ do: ac-loss, vm: primary, holdup: 5000 }'];
    ok(ha(...cut, '{ do: check-ha, primary: primary, standby: standby, expect: restored }', '{ do: boot, vm: primary }'));
    ok(ha(...cut, '{ do: sleep, ms: 3000 }', '{ do: sleep, ms: 2000 }', '{ do: boot, vm: primary }'));
    assert.match(problems(ha(...cut, '{ do: sleep, ms: 3000 }', '{ do: boot, vm: primary }')).join('\n'),
      /steps\[6\]\.vm: VM "primary" may still be running: steps\[4\] \(ac-loss\) cuts its power only when its 5000 ms hold-up ends, and only 3000 ms of sleep follow it/);
    // after check-ha the VM is off: a step on it names the ac-loss that cut it
    assert.match(problems(ha(...cut, '{ do: check-ha, primary: primary, standby: standby, expect: restored }', '{ do: exec, role: check, vm: primary, cmd: "true" }')).join('\n'),
      /steps\[6\]\.vm: exec: VM "primary" is not running here: boot it first \(it was cut at steps\[4\] \(ac-loss\)\)/);
  });

  it('a boot ends the agent: power-cut-at after a reboot has no agent to pause', () => {
    const p = problems(ha('{ do: boot, vm: standby }', '{ do: ha-agent, vm: standby, role: standby, pauseAt: before-restore-write }',
      '{ do: power-cut, vm: standby }', '{ do: boot, vm: standby }', '{ do: power-cut-at, vm: standby, phase: before-restore-write }'));
    assert.deepEqual(p.map((l) => l.replace(/^w\.yaml:\d+: /, '')),
      ['steps[4].vm: power-cut-at needs an HA agent in VM "standby" started with pauseAt: "before-restore-write" after its boot at steps[3] (boot), and none runs there']);
  });

  it('a standby may be cut at its own phase without an ac-loss on it (the primary saves)', () => {
    ok(ha('{ do: boot, vm: standby }', '{ do: boot, vm: primary }', '{ do: ha-agent, vm: standby, role: standby, pauseAt: "after-restore-chunks:2" }',
      '{ do: ha-agent, vm: primary, role: primary, peer: standby }', '{ do: ac-loss, vm: primary, holdup: 60000 }',
      '{ do: power-cut-at, vm: standby, phase: "after-restore-chunks:2" }', '{ do: boot, vm: standby }', '{ do: ha-agent, vm: standby, role: standby }',
      '{ do: wait-ha, vm: standby, until: settled, settle: 3000 }', '{ do: check-ha, primary: primary, standby: standby, expect: restored }'));
  });

  it('holdup-sweep needs both agents and leaves the primary off', () => {
    const sweep = '{ do: holdup-sweep, primary: primary, standby: standby, lo: 0, hi: 24000, resolution: 3000 }';
    ok(ha(...START, '{ do: pmem-write, vm: primary, pattern: x, length: 4096 }', sweep, '{ do: check-backing-file, vm: standby, pattern: x }'));
    assert.match(problems(ha(...START, sweep, '{ do: exec, role: check, vm: primary, cmd: "true" }')).join('\n'),
      /steps\[5\]\.vm: exec: VM "primary" is not running here: boot it first \(it was cut at steps\[4\] \(holdup-sweep\)\)/);
    assert.match(problems(ha(...START.map((s) => s.replace('role: standby }', 'role: standby, pauseAt: before-restore-write }')), sweep)).join('\n'),
      /steps\[4\]\.standby: the standby agent of steps\[2\] \(ha-agent\) pauses at "before-restore-write", so the probes would stop there/);
  });

  it('check-ha may judge against a snapshot instead of the standby agent; corrupt-chunk needs a save', () => {
    ok(ha('{ do: boot, vm: standby }', '{ do: snapshot-pmem, vm: standby, as: before }', '{ do: boot, vm: primary }',
      '{ do: ha-agent, vm: primary, role: primary, peer: standby }', '{ do: ac-loss, vm: primary, holdup: 30000 }',
      '{ do: corrupt-chunk, mode: delete }', '{ do: check-ha, primary: primary, standby: standby, expect: previous, previous: before }'));
    assert.match(problems(ha(...START, '{ do: corrupt-chunk, mode: bitflip }')).join('\n'),
      /steps\[4\]\.do: corrupt-chunk damages the newest committed generation, and nothing saves one before it/);
  });

  it('net-cut needs a NIC of the kind it names; all needs any NIC', () => {
    ok(ha(...START, '{ do: net-cut, vm: primary, nic: link }', '{ do: net-restore, vm: primary, nic: user }', '{ do: net-cut, vm: standby, nic: all }'));
    const noNics = ha('{ do: boot, vm: primary }', '{ do: net-cut, vm: primary, nic: all }')
      .replace('nics: [user, { link: standby }]', 'nics: []').replace('nics: [user, { link: primary }]', 'nics: []');
    assert.match(problems(noNics).join('\n'), /steps\[1\]\.nic: VM "primary" has no NICs \(nics: \[\]\)/);
  });

  it('reports every problem at once, in file order, each with its line', () => {
    const p = problems(ha('{ do: exec, role: check, vm: primary, cmd: "true" }', '{ do: boot, vm: standby }', '{ do: boot, vm: standby, timeout: 30 }',
      '{ do: ha-agent, vm: standby, role: standby, chunk: 1000 }', '{ do: ac-loss, vm: standby, holdup: 10 }')
      .replace('memory: 512MiB\n    numa: [{ cpus: [0], memory: 512MiB }]\n    nvdimms: [{ size: 64MiB, node: 0 }, { size: 4MiB, node: 0 }]\n    nics: [user, { link: primary }]',
        'memory: 512MiB\n    numa: [{ cpus: [0], memory: 512MiB }]\n    nvdimms: [{ size: 64MiB, node: 0, label: 1KiB }, { size: 4MiB, node: 0 }]\n    nics: [user, { link: primary }]'));
    const lines = p.map((l) => Number(/^w\.yaml:(\d+): /.exec(l)?.[1]));
    assert.ok(lines.every((n) => n > 0), p.join('\n'));
    assert.deepEqual(lines, [...lines].sort((a, b) => a - b));
    const text = p.join('\n');
    for (const re of [/vms\[1\]\.nvdimms\[0\]\.label: must be 0/, /steps\[0\]\.vm: exec: VM "primary" is not running/, /steps\[2\]\.vm: VM "standby" is already running/,
      /steps\[3\]\.chunk: must be a non-zero multiple of 4096/, /steps\[4\]\.vm: the HA agent in "standby" \(steps\[3\] \(ha-agent\)\) is a standby/]) assert.match(text, re);
    assert.equal(p.length, 5, text);
  });

  it('host-check placeholders name existing VMs and NVDIMMs', () => {
    ok(ha('{ do: host-check, cmd: "cmp ${backing:primary:1} ${backing:standby:0}; ls ${ctl:standby}" }'));
    const p = problems(ha('{ do: host-check, cmd: "ls ${ctl:nobody} ${backing:primary:7} ${backing:Primary}" }')).join('\n');
    assert.match(p, /steps\[0\]\.cmd: "\$\{ctl:nobody\}": no VM named "nobody"/);
    assert.match(p, /steps\[0\]\.cmd: "\$\{backing:primary:7\}": VM "primary" has no NVDIMM 7 \(it has NVDIMMs 0\.\.1\)/);
    assert.match(p, /steps\[0\]\.cmd: "\$\{backing:Primary\}" is not of the form \$\{backing:VM:N\}/);
  });

  it('HMAT: one latency and one bandwidth per initiator, target and type', () => {
    const text = `name: t
vms:
  - name: g
    vcpus: 2
    memory: 1GiB
    numa: [{ cpus: [0], memory: 512MiB }, { cpus: [1], memory: 512MiB }]
    hmat:
      - { initiator: 0, target: 1, type: access, latency: 120 }
      - { initiator: 0, target: 1, type: access, bandwidth: 2048 }
      - { initiator: 0, target: 1, type: access, latency: 150 }
steps:
  - { do: boot, vm: g }
`;
    assert.deepEqual(problems(text), ['w.yaml:10: vms[0].hmat[2].latency: duplicate latency for initiator 0 → target 1 (access): hmat[0] already gives it']);
  });

  it('image.disk: checked through the injected file check, relative to the scenario file; normalised to an absolute path', () => {
    const text = `name: t\nimage: { disk: images/lab.qcow2 }\nvms: [{ name: g, vcpus: 1, memory: 256MiB }]\nsteps: [{ do: boot, vm: g }]\n`;
    const asked: string[] = [];
    const s = parseScenario(text, '/lab/scen/t.yaml', { checkFile: (p) => { asked.push(p); return undefined; } });
    assert.deepEqual(asked, ['/lab/scen/images/lab.qcow2']);
    assert.equal(s.image?.disk, '/lab/scen/images/lab.qcow2');
    assert.equal(parseScenario(text, 'rel/t.yaml').image?.disk, resolve('rel/images/lab.qcow2'), 'no check without checkFile');
    assert.deepEqual(problems(text, { checkFile: () => 'is not readable (permission denied)' }),
      [`w.yaml:2: image.disk: image file ${resolve('images/lab.qcow2')} is not readable (permission denied) (a relative path is relative to the scenario file's directory): name an existing, readable qcow2/raw image`]);
  });

  it('bounds from the schema name unit and value; the seed stops at 2^31-1', () => {
    assert.deepEqual(problems(ha('{ do: boot, vm: primary, timeout: 3601 }', '{ do: sleep, ms: 600001 }').replace('store: auto\n', 'store: auto\nseed: 2147483648\n')), [
      'w.yaml:3: seed: must be at most 2147483647, got 2147483648',
      'w.yaml:21: steps[0].timeout: must be at most 3600 s, got 3601',
      'w.yaml:22: steps[1].ms: must be at most 600000 ms, got 600001',
    ]);
    ok(ha('{ do: boot, vm: primary, timeout: 3600 }', '{ do: sleep, ms: 600000 }').replace('store: auto\n', 'store: auto\nseed: 2147483647\n'));
  });
});
