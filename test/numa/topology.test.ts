// The guest NUMA view parsed from sysfs text, and checked against what the VM spec declared.
import assert from 'node:assert/strict';
import { checkAgainstSpec, latencyMatrix, parseCpuList, parseDistance, parseNodeMeminfo, type Topology } from '../../src/numa/topology.js';

describe('NUMA topology from sysfs', () => {
  it('parses cpulist, distance and node meminfo', () => {
    assert.deepEqual(parseCpuList('0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
    assert.deepEqual(parseCpuList('\n'), []);
    assert.throws(() => parseCpuList('3-1'), /runs backwards/);
    assert.throws(() => parseCpuList('a'), /not a CPU/);
    assert.deepEqual(parseDistance('10 20\n'), [10, 20]);
    assert.throws(() => parseDistance('10 5'), /not a SLIT distance/);
    const m = parseNodeMeminfo('Node 1 MemTotal:       512000 kB\nNode 1 MemFree:        256000 kB\n');
    assert.deepEqual(m, { memTotalBytes: 512000 * 1024, memFreeBytes: 256000 * 1024 });
  });

  const topo: Topology = {
    nodes: [{ id: 0, cpus: [0], memTotalBytes: 500 * 2 ** 20, memFreeBytes: 0 }, { id: 1, cpus: [1], memTotalBytes: 500 * 2 ** 20, memFreeBytes: 0 }],
    distance: [[10, 20], [20, 10]],
  };

  it('uses HMAT latencies when every pair has one, else SLIT', () => {
    assert.equal(latencyMatrix(topo).source, 'slit');
    assert.equal(latencyMatrix({ ...topo, readLatencyNs: [[80, 120], [120, undefined]] }).source, 'slit');
    assert.deepEqual(latencyMatrix({ ...topo, readLatencyNs: [[80, 120], [120, 80]] }), { source: 'hmat', L: [[80, 120], [120, 80]] });
  });

  it('reports what differs from the spec', () => {
    assert.deepEqual(checkAgainstSpec(topo, [{ cpus: [0], memoryMiB: 512 }, { cpus: [1], memoryMiB: 512 }]), []);
    const p = checkAgainstSpec(topo, [{ cpus: [0], memoryMiB: 512, distances: [10, 30] }, { cpus: [1], memoryMiB: 256 }]);
    assert.deepEqual(p, ['node 0: distances 10 20, spec 10 30', `node 1: MemTotal ${500 * 2 ** 20} B exceeds the cell's 256 MiB`]);
  });
});
