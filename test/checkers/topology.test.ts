// The topology oracle (src/checkers/topology.ts) on a recorded real guest (QEMU 7.2 command
// line, libvirt's live XML, the guest's sysfs and kernel log; test/fixtures/topology), then with
// every dimension broken on every side that carries it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { guestHmat, judgeTopology, qemuHmat, type GuestTopology } from '../../src/checkers/topology.js';
import type { VmSpec } from '../../src/vm/spec.js';

const FIX = 'test/fixtures/topology';
const RUN = '/var/tmp/ftharness/20261202-010419-e7221f';
const liveXml = readFileSync(`${FIX}/live.xml`, 'utf8');
const cmdline = readFileSync(`${FIX}/qemu.cmdline`, 'utf8').split('\0').filter(Boolean);
const guest = (): GuestTopology => ({ ...JSON.parse(readFileSync(`${FIX}/guest.json`, 'utf8')), hmat: guestHmat(readFileSync(`${FIX}/hmat.dmesg`, 'utf8')) });
const spec = (): VmSpec => ({
  name: 'fth-20261202-010419-e7221f-g', vcpus: 3, memoryMiB: 1024, accel: 'tcg',
  numa: {
    cells: [
      { id: 0, cpus: [0, 2], memoryMiB: 512, distances: { 0: 10, 1: 21 } },
      { id: 1, cpus: [1], memoryMiB: 512, distances: { 0: 21, 1: 10 } },
    ],
    hmat: [
      { initiator: 0, target: 0, type: 'access', latencyNs: 10, bandwidthMiBs: 10240 },
      { initiator: 0, target: 1, type: 'access', latencyNs: 120, bandwidthMiBs: 2048 },
      { initiator: 1, target: 1, type: 'access', latencyNs: 10, bandwidthMiBs: 10240 },
    ],
  },
  nvdimms: [
    { sizeMiB: 16, node: 1, backingFile: `${RUN}/g-nvdimm0.img` },
    { sizeMiB: 8, node: 0, backingFile: `${RUN}/g-nvdimm1.img` },
  ],
  nics: [], shares: [], boot: { kind: 'kernel', kernel: '', initrd: '', cmdline: '' }, consoleLog: '',
});
const judge = (o: { s?: VmSpec; xml?: string; cmd?: string[]; g?: GuestTopology } = {}) =>
  judgeTopology('g', o.s ?? spec(), { liveXml: o.xml ?? liveXml, cmdline: o.cmd ?? cmdline, guest: o.g ?? guest() });
const expectProblem = (r: ReturnType<typeof judge>, re: RegExp) => {
  assert.equal(r.valid, false, 'the check must say false');
  assert.match(r.message, re);
};
const swapArg = (from: string | RegExp, to: string) => cmdline.map((a) => a.replace(from, to));

describe('topology oracle: XML × QEMU × guest, every dimension', () => {
  it('the recorded guest agrees with its spec on every side, HMAT included', () => {
    const r = judge();
    assert.equal(r.valid, true, r.message);
    assert.match(r.message, /2 NUMA nodes, 2 pmem device\(s\), 6 HMAT value\(s\)/);
  });

  it('parses the HMAT from QEMU (KiB/s bandwidth) and from the guest kernel log', () => {
    assert.deepEqual(qemuHmat(cmdline).find((h) => h.kind === 'bandwidth' && h.target === 1), { initiator: 0, target: 1, type: 'access', kind: 'bandwidth', value: 2048 });
    assert.deepEqual(guest().hmat.filter((h) => h.kind === 'latency').map((h) => [h.initiator, h.target, h.value]), [[0, 0, 10], [0, 1, 120], [1, 0, 0], [1, 1, 10]]);
  });

  it('cell count: a spec cell libvirt, QEMU and the guest do not have', () => {
    const s = spec();
    s.numa!.cells.push({ id: 2, cpus: [3], memoryMiB: 256 });
    const r = judge({ s });
    expectProblem(r, /domain XML has 2 NUMA cells, spec 3/);
    expectProblem(r, /QEMU has 2 -numa node args, spec 3 cells/);
    expectProblem(r, /guest sees 2 NUMA nodes, spec 3/);
  });

  it('vCPUs per cell, on each side', () => {
    expectProblem(judge({ xml: liveXml.replace(/cpus='0,2'/, "cpus='0'") }), /domain XML cell 0 cpus 0, spec 0,2/);
    expectProblem(judge({ cmd: swapArg('cpus=0,cpus=2', 'cpus=0') }), /QEMU node 0 cpus 0, spec 0,2/);
    const g = guest(); g.nodes[1].cpus = '1-2';
    expectProblem(judge({ g }), /guest node1 cpus 1-2, spec 1/);
  });

  it('memory per cell, on each side', () => {
    expectProblem(judge({ xml: liveXml.replace(/(<cell id='1'[^>]*memory=')524288/, '$1262144') }), /domain XML cell 1 memory 262144/);
    expectProblem(judge({ cmd: swapArg('"id":"ram-node1","size":536870912', '"id":"ram-node1","size":268435456') }), /QEMU node 1 memory backend ram-node1 is 268435456 bytes/);
    const g = guest(); g.nodes[0].memKiB = 100_000;
    expectProblem(judge({ g }), /guest node0 MemTotal 100000 KiB, cell is 524288 KiB/);
  });

  it('SLIT distances, on each side', () => {
    expectProblem(judge({ xml: liveXml.replace(/<sibling id='1' value='21'\/>/, "<sibling id='1' value='31'/>") }), /domain XML cell 0 distance to 1 is 31, spec 21/);
    expectProblem(judge({ cmd: swapArg('dist,src=1,dst=0,val=21', 'dist,src=1,dst=0,val=40') }), /QEMU has no -numa dist,src=1,dst=0,val=21/);
    const g = guest(); g.nodes[0].distance = [10, 40];
    expectProblem(judge({ g }), /guest node0 distances 10,40, spec 10,21/);
  });

  it('HMAT: a missing or wrong latency/bandwidth entry, on each side; hmat=on missing', () => {
    expectProblem(judge({ xml: liveXml.replace(/(<latency initiator='0' target='1' type='access' value=')120/, '$1200') }), /domain XML HMAT access-latency 0→1 is 200, spec 120/);
    expectProblem(judge({ xml: liveXml.replace(/<bandwidth initiator='0' target='1'[^>]*\/>/, '') }), /domain XML has no HMAT access-bandwidth 0→1/);
    expectProblem(judge({ cmd: swapArg('data-type=access-latency,latency=120', 'data-type=access-latency,latency=99') }), /QEMU HMAT access-latency 0→1 is 99, spec 120/);
    expectProblem(judge({ cmd: swapArg(',hmat=on', '') }), /QEMU machine lacks hmat=on/);
    const g = guest(); g.hmat = g.hmat.filter((h) => !(h.kind === 'bandwidth' && h.target === 1 && h.initiator === 0));
    expectProblem(judge({ g }), /guest kernel has no HMAT access-bandwidth 0→1/);
    const g2 = guest(); g2.hmat.find((h) => h.kind === 'latency' && h.target === 1 && h.initiator === 0)!.value = 130;
    expectProblem(judge({ g: g2 }), /guest kernel HMAT access-latency 0→1 is 130, spec 120/);
  });

  it('NVDIMMs: count, node, backing file, size, share, nvdimm=on — on each side', () => {
    const s = spec(); s.nvdimms[0].node = 0;
    const r = judge({ s });
    expectProblem(r, /nvdimm 0: XML node 1, spec 0/);
    expectProblem(r, /QEMU nvdimm0 is not on node 0/);
    expectProblem(r, /guest \/dev\/nvdimm0 \(pmem0\) is on node 1, spec 0/);
    const s2 = spec(); s2.nvdimms[1].backingFile = '/elsewhere.img';
    expectProblem(judge({ s: s2 }), /nvdimm 1: XML backing .*g-nvdimm1.img, spec \/elsewhere.img.*QEMU has no memory backend on \/elsewhere.img/);
    const s3 = spec(); s3.nvdimms[1].sizeMiB = 4;
    expectProblem(judge({ s: s3 }), /nvdimm 1: XML size.*QEMU backend for nvdimm1 has the wrong size.*guest \/dev\/nvdimm1 \(pmem1\) is 8388608 bytes, NVDIMM is 4 MiB/);
    expectProblem(judge({ cmd: swapArg('"mem-path":"' + RUN + '/g-nvdimm0.img","share":true', '"mem-path":"' + RUN + '/g-nvdimm0.img","share":false') }), /QEMU backend for nvdimm0 is not share=on/);
    expectProblem(judge({ cmd: swapArg('nvdimm=on,', '') }), /QEMU machine lacks nvdimm=on/);
    const g = guest(); g.pmem.pop();
    expectProblem(judge({ g }), /guest has no \/dev\/nvdimm1/);
    const s4 = spec(); s4.nvdimms.push({ sizeMiB: 4, node: 0, backingFile: `${RUN}/g-nvdimm2.img` });
    expectProblem(judge({ s: s4 }), /domain XML has 2 nvdimm devices, spec 3.*QEMU has no nvdimm2 device/);
  });
});
