// Which runs are physical: every cell of every scenario VM bound to a host node, and the nodes
// bound to exist here. Scenarios are loaded through the real loader from inline YAML files.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../../src/scenario/load.js';
import { hostNodeProblems, topologyOf } from '../../src/runner/host-topology.js';
import { tmpDir } from '../helpers.js';

const scenario = async (cells: string[][]) => {
  const f = join(tmpDir('fth-topo-'), 's.yaml');
  const vms = cells.map((cs, i) => `  - name: g${i}\n    vcpus: ${Math.max(1, cs.length)}\n    memory: ${Math.max(1, cs.length) * 256}MiB\n` +
    (cs.length ? `    numa:\n${cs.map((c, k) => `      - { cpus: [${k}], memory: 256MiB${c} }`).join('\n')}\n` : ''));
  writeFileSync(f, `name: t\nvms:\n${vms.join('')}steps:\n${cells.map((_, i) => `  - { do: boot, vm: g${i} }`).join('\n')}\n`);
  return loadScenario(f);
};

describe('host topology of a run (numa[].hostNode)', () => {
  it('physical only when every cell of every VM is bound; otherwise emulated', async () => {
    assert.equal(topologyOf(await scenario([[', hostNode: 0']])), 'physical');
    assert.equal(topologyOf(await scenario([[', hostNode: 0'], ['']])), 'emulated', 'a second VM with an unbound cell');
    assert.equal(topologyOf(await scenario([[', hostNode: 0'], []])), 'emulated', 'a second VM without NUMA cells');
    assert.equal(topologyOf(await scenario([['']])), 'emulated');
    assert.equal(topologyOf(undefined), 'emulated');
  });

  it('names the file and field of a host node this machine lacks, and nothing for one it has', async () => {
    const s = await scenario([[', hostNode: 0']]);
    assert.deepEqual(hostNodeProblems(s), []);
    const t = await scenario([[', hostNode: 0'], [', hostNode: 900']]);
    const p = hostNodeProblems(t);
    assert.equal(p.length, 1);
    assert.match(p[0], new RegExp(`^${t.file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: vms\\[1\\]\\.numa\\[0\\]\\.hostNode: this host has no NUMA node 900`));
  });
});
