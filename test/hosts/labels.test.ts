// Host capability labels: the parsers on a fake sysfs and ndctl output with known answers, and
// the real doctor --json carrying them.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countCpuList, countNamespaces, flatLabels, readNumaNodes } from '../../src/hosts/labels.js';
import { cli, tmpDir } from '../helpers.js';

describe('host capability labels', () => {
  it('reads NUMA nodes, their CPUs, memory and distances from sysfs', () => {
    const root = tmpDir('fth-sysfs-');
    const node = (id: number, cpus: string, kb: number, dist: string) => {
      const d = join(root, `node${id}`);
      mkdirSync(d);
      writeFileSync(join(d, 'cpulist'), `${cpus}\n`);
      writeFileSync(join(d, 'meminfo'), `Node ${id} MemTotal:       ${kb} kB\nNode ${id} MemFree: 1 kB\n`);
      writeFileSync(join(d, 'distance'), `${dist}\n`);
    };
    node(1, '4-7,12', 2048, '21 10');
    node(0, '0-3', 1024, '10 21');
    mkdirSync(join(root, 'power'));
    assert.deepEqual(readNumaNodes(root), [
      { id: 0, cpus: 4, cpuList: '0-3', memoryBytes: 1024 * 1024, distances: [10, 21] },
      { id: 1, cpus: 5, cpuList: '4-7,12', memoryBytes: 2048 * 1024, distances: [21, 10] },
    ]);
    assert.deepEqual(readNumaNodes(join(root, 'absent')), []);
    assert.equal(countCpuList(''), 0);
  });

  it('counts ndctl namespaces in every shape ndctl prints', () => {
    assert.equal(countNamespaces(''), 0);
    assert.equal(countNamespaces('{"dev":"namespace0.0","mode":"fsdax"}'), 1);
    assert.equal(countNamespaces('[{"dev":"namespace0.0"},{"dev":"namespace1.0"}]'), 2);
    assert.throws(() => countNamespaces('not json'));
  });

  it('flattens to the tags a CI queue matches', () => {
    const nodes = [{ id: 0, cpus: 2, cpuList: '0-1', memoryBytes: 1, distances: [10] }, { id: 1, cpus: 2, cpuList: '2-3', memoryBytes: 1, distances: [10] }];
    assert.deepEqual(flatLabels({
      accel: 'kvm', numa: { nodes, source: '' }, nvdimms: { count: 2, source: '' }, pmu: { kind: 'hardware', source: '' },
      bmc: { inBand: false, source: '' }, memory: { totalBytes: 1, freeBytes: 1 }, disk: { dir: '/', freeBytes: 1 },
    }), ['accel:kvm', 'numa:2', 'pmem:real', 'pmu:hardware', 'bmc:none']);
  });

  it('doctor --json carries the labels of this host', async () => {
    const r = await cli(['doctor', '--json']);
    const d = JSON.parse(r.stdout);
    assert.ok(Array.isArray(d.labels) && d.labels.some((l: string) => /^accel:(tcg|kvm)$/.test(l)), r.stdout.slice(0, 500));
    assert.ok(d.host.numa.nodes.length >= 1);
    assert.ok(['hardware', 'software', 'none'].includes(d.host.pmu.kind));
    assert.ok(d.host.memory.totalBytes > 0);
  });
});
