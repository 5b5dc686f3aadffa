import assert from 'node:assert/strict';
import { parseDomainXml, renderDomainXml } from '../../src/vm/xml.js';
import { cpuModeLabel, parseCpuMode, specProblems, type CpuMode, type VmSpec } from '../../src/vm/spec.js';

const base = (): VmSpec => ({
  name: 'fth-test-guest', vcpus: 2, memoryMiB: 1024, accel: 'tcg',
  numa: {
    cells: [
      { id: 0, cpus: [0], memoryMiB: 512, distances: { 0: 10, 1: 21 } },
      { id: 1, cpus: [1], memoryMiB: 512, distances: { 0: 21, 1: 10 } },
    ],
    hmat: [{ initiator: 0, target: 1, type: 'access', latencyNs: 120, bandwidthMiBs: 2048 }],
  },
  nvdimms: [{ sizeMiB: 256, backingFile: '/var/tmp/x/pm&<0>.img', node: 1, labelSizeKiB: 128 }],
  nics: [{ kind: 'user' }, { kind: 'udp', localPort: 40001, remotePort: 40002 }],
  shares: [{ tag: 'fthimage', hostDir: '/img/tools', readonly: true }],
  boot: { kind: 'kernel', kernel: '/img/vmlinux', initrd: '/img/initrd.img', cmdline: 'console=ttyS0 fth.net=eth0,10.0.2.15/24' },
  consoleLog: '/r/console.log',
});
const parse = (xml: string) => parseDomainXml(xml);
const arr = (v: any) => (Array.isArray(v) ? v : [v]);

describe('domain XML rendering', () => {
  it('renders NUMA cells with cpus, memory and SLIT distances', () => {
    const d = parse(renderDomainXml(base())).domain;
    const cells = arr(d.cpu.numa.cell);
    assert.equal(cells.length, 2);
    assert.equal(cells[1]['@cpus'], '1');
    assert.equal(cells[1]['@memory'], String(512 * 1024));
    assert.deepEqual(arr(cells[0].distances.sibling).map((s: any) => [s['@id'], s['@value']]), [['0', '10'], ['1', '21']]);
  });
  it('binds cells to host nodes: vCPUs pinned to the node\'s CPUs, memory strict on the node; nothing when unbound', () => {
    const b = base();
    b.numa!.cells[0].host = { node: 1, cpus: '8-15' };
    b.numa!.cells[1].host = { node: 0, cpus: '0-7' };
    const d = parse(renderDomainXml(b)).domain;
    assert.deepEqual(arr(d.cputune.vcpupin).map((p: any) => [p['@vcpu'], p['@cpuset']]), [['0', '8-15'], ['1', '0-7']]);
    assert.deepEqual(arr(d.numatune.memnode).map((m: any) => [m['@cellid'], m['@mode'], m['@nodeset']]), [['0', 'strict', '1'], ['1', 'strict', '0']]);
    const plain = parse(renderDomainXml(base())).domain;
    assert.equal(plain.cputune, undefined);
    assert.equal(plain.numatune, undefined);
    // a remote libvirt's host CPUs are unknown here: memory bound, vCPUs not pinned
    const remote = base();
    remote.numa!.cells[0].host = { node: 1 };
    remote.numa!.cells[1].host = { node: 0 };
    const r = parse(renderDomainXml(remote)).domain;
    assert.equal(r.cputune, undefined);
    assert.equal(arr(r.numatune.memnode).length, 2);
  });
  it('renders HMAT latency and bandwidth as interconnects', () => {
    const d = parse(renderDomainXml(base())).domain;
    assert.equal(d.cpu.numa.interconnects.latency['@value'], '120');
    assert.equal(d.cpu.numa.interconnects.bandwidth['@unit'], 'MiB');
  });
  it('renders an NVDIMM with shared access, node, label and maxMemory slots, escaping the path', () => {
    const xml = renderDomainXml(base());
    assert.match(xml, /pm&amp;&lt;0&gt;\.img/);
    const d = parse(xml).domain;
    assert.equal(d.features.acpi !== undefined, true, 'NVDIMMs need ACPI');
    assert.equal(d.maxMemory['@slots'], '16');
    assert.equal(d.maxMemory['#'], String((1024 + 256) * 1024));
    const m = d.devices.memory;
    assert.equal(m['@model'], 'nvdimm');
    assert.equal(m['@access'], 'shared');
    assert.equal(m.source.path, '/var/tmp/x/pm&<0>.img');
    assert.equal(m.target.node, '1');
    assert.equal(m.target.size['#'], String(256 * 1024));
    assert.equal(m.target.label.size['#'], '128');
  });
  it('renders maxMemory from maxMemoryMiB when given, memory + NVDIMMs by default', () => {
    const given = parse(renderDomainXml({ ...base(), maxMemoryMiB: 4096 })).domain;
    assert.equal(given.maxMemory['#'], String(4096 * 1024));
    assert.equal(given.maxMemory['@unit'], 'KiB');
    assert.equal(given.maxMemory['@slots'], '16');
    assert.equal(given.memory['#'], String(1024 * 1024), 'RAM itself is unchanged');
    assert.equal(parse(renderDomainXml(base())).domain.maxMemory['#'], String((1024 + 256) * 1024));
    // no NVDIMMs: no <maxMemory> unless hot-plug room is asked for
    assert.equal(parse(renderDomainXml({ ...base(), nvdimms: [] })).domain.maxMemory, undefined);
    assert.equal(parse(renderDomainXml({ ...base(), nvdimms: [], maxMemoryMiB: 1024 })).domain.maxMemory, undefined);
    assert.equal(parse(renderDomainXml({ ...base(), nvdimms: [], maxMemoryMiB: 2048 })).domain.maxMemory['#'], String(2048 * 1024));
    assert.deepEqual(specProblems({ ...base(), maxMemoryMiB: 4096 }), []);
    assert.match(specProblems({ ...base(), maxMemoryMiB: 1100 }).join('\n'), /maxMemoryMiB: 1100 is less than memory \+ NVDIMMs \(1280 MiB\)/);
  });
  it('uses domain type qemu + cpu maximum under TCG, kvm under KVM, with the CPU mode it is given', () => {
    assert.equal(parse(renderDomainXml(base())).domain['@type'], 'qemu');
    assert.equal(parse(renderDomainXml(base())).domain.cpu['@mode'], 'maximum');
    const k = parse(renderDomainXml({ ...base(), accel: 'kvm', cpu: { mode: 'host-model' } })).domain;
    assert.equal(k['@type'], 'kvm');
    assert.equal(k.cpu['@mode'], 'host-model');
    // A named model with a feature the nested KVM refuses turned off; NUMA cells stay in <cpu>.
    const c = parse(renderDomainXml({ ...base(), accel: 'kvm', cpu: { mode: 'custom', model: 'EPYC-Milan', disable: ['arch-capabilities'] } })).domain.cpu;
    assert.equal(c['@mode'], 'custom');
    assert.equal(c['@check'], 'none');
    assert.equal(c.model['#'], 'EPYC-Milan');
    assert.deepEqual(arr(c.feature).map((f: any) => [f['@policy'], f['@name']]), [['disable', 'arch-capabilities']]);
    assert.equal(arr(c.numa.cell).length, 2);
  });
  it('names CPU modes in one word and reads them back', () => {
    const modes: CpuMode[] = [{ mode: 'maximum' }, { mode: 'host-passthrough' }, { mode: 'host-model' }, { mode: 'custom', model: 'EPYC-Milan', disable: ['arch-capabilities', 'x2apic'] }];
    for (const m of modes) assert.deepEqual(parseCpuMode(cpuModeLabel(m)), m);
    assert.equal(cpuModeLabel(modes[3]), 'custom:EPYC-Milan,-arch-capabilities,-x2apic');
    for (const bad of ['', 'host', 'custom:', 'custom:a b', 'custom:EPYC,arch']) assert.equal(parseCpuMode(bad), undefined, bad);
  });
  it('renders user and UDP point-to-point NICs without option ROMs, the agent channel and 9p shares', () => {
    const d = parse(renderDomainXml(base())).domain;
    const nics = arr(d.devices.interface);
    assert.deepEqual(nics.map((n: any) => n['@type']), ['user', 'udp']);
    assert.equal(nics[1].source['@port'], '40002');
    assert.equal(nics[1].source.local['@port'], '40001');
    assert.ok(nics.every((n: any) => n.rom['@enabled'] === 'no'));
    assert.equal(d.devices.channel.target['@name'], 'org.qemu.guest_agent.0');
    assert.equal(d.devices.filesystem.target['@dir'], 'fthimage');
    assert.ok('readonly' in d.devices.filesystem);
    assert.equal(d.os.cmdline, 'console=ttyS0 fth.net=eth0,10.0.2.15/24');
  });
  it('boots a disk image instead of a kernel when asked', () => {
    const d = parse(renderDomainXml({ ...base(), boot: { kind: 'disk', path: '/lab/cloud.qcow2', format: 'qcow2' } })).domain;
    assert.equal(d.devices.disk.source['@file'], '/lab/cloud.qcow2');
    assert.equal(d.os.kernel, undefined);
    assert.equal(d.os.boot['@dev'], 'hd');
  });
  it('passes extra QEMU arguments through <qemu:commandline> (last child, escaped), and renders nothing without them', () => {
    const args = ['-plugin', 'file=/opt/p&<q>.so,out=/r/c.bin,nodes=2'];
    const xml = renderDomainXml({ ...base(), qemuArgs: args });
    const d = parse(xml).domain;
    assert.equal(d['@xmlns:qemu'], 'http://libvirt.org/schemas/domain/qemu/1.0');
    assert.deepEqual(arr(d['qemu:commandline']['qemu:arg']).map((a: any) => a['@value']), args);
    assert.match(xml, /value="file=\/opt\/p&amp;&lt;q&gt;\.so,out=\/r\/c\.bin,nodes=2"/);
    // libvirt's schema wants it after <devices>: the last element child of <domain>
    assert.deepEqual(Object.keys(d).filter((k) => !k.startsWith('@')).slice(-2), ['devices', 'qemu:commandline']);
    for (const none of [base(), { ...base(), qemuArgs: [] }]) {
      const plain = renderDomainXml(none);
      assert.doesNotMatch(plain, /qemu:commandline|xmlns:qemu|qemu:arg/);
      assert.equal(parse(plain).domain['qemu:commandline'], undefined);
    }
  });
  it('spec problems: cell without CPUs, NVDIMM on a missing node, memory mismatch', () => {
    const s = base();
    s.numa!.cells[1].cpus = [];
    s.nvdimms[0].node = 5;
    s.memoryMiB = 2048;
    const p = specProblems(s).join('\n');
    assert.match(p, /cells\[1\]\.cpus/);
    assert.match(p, /nvdimms\[0\]\.node: no NUMA cell 5/);
    assert.match(p, /adds up to 1024 MiB/);
  });
});
