// numa[].hostNode on a real guest: a cell bound to a host node this machine has runs with its
// memory strict on that node and its vCPU pinned (read back from libvirt's live XML, not from our
// own), and the run records topology physical; a node this machine lacks is refused, naming the
// file and field, before anything starts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDomainXml } from '../../src/vm/xml.js';
import { readNumaNodes } from '../../src/hosts/labels.js';
import { cli, domainNames, tmpDir } from '../helpers.js';

describe('guest cells bound to host NUMA nodes @vm', function () {
  this.timeout(300_000);

  it('hostNode 0: memnode strict, vCPU pinned to the node\'s CPUs (live XML); topology physical', async () => {
    const out = tmpDir('fth-phys-');
    const r = await cli(['run', 'test/fixtures/physical-node0.yaml', '--json', '--no-report', '--out', out]);
    const s = JSON.parse(r.stdout);
    const dir = s.runs[0].dir;
    const res = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    assert.equal(res.verdict, 'pass', res.reason);
    assert.equal(res.dimensions.topology, 'physical');
    const live = parseDomainXml(readFileSync(join(dir, 'g.live.xml'), 'utf8')).domain;
    const mem = Array.isArray(live.numatune.memnode) ? live.numatune.memnode[0] : live.numatune.memnode;
    assert.deepEqual([mem['@cellid'], mem['@mode'], mem['@nodeset']], ['0', 'strict', '0']);
    const pin = Array.isArray(live.cputune.vcpupin) ? live.cputune.vcpupin[0] : live.cputune.vcpupin;
    const node0 = readNumaNodes().find((n) => n.id === 0);
    assert.equal(pin['@cpuset'], node0?.cpuList ?? '0-1023');
  });

  it('a host node this machine does not have: exit 2 naming file and field, no domain defined', async () => {
    const before = await domainNames();
    const r = await cli(['run', 'test/fixtures/physical-node7.yaml', '--no-report', '--out', tmpDir('fth-phys7-')]);
    assert.equal(r.exitCode, 2, r.all);
    assert.match(r.all ?? '', /test\/fixtures\/physical-node7\.yaml: vms\[0\]\.numa\[0\]\.hostNode: this host has no NUMA node 7 \(it has 0/);
    assert.deepEqual(await domainNames(), before);
  });
});
