// Plugin address → (GPA, node) from real HMP output of a 2-cell guest with an NVDIMM on node 1
// (captured from QEMU 7.2 under libvirt 9.0 on this machine).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildAddressMap, parseMtree, parseRamblocks } from '../../src/numa/address-map.js';

const fx = (f: string) => readFileSync(`test/fixtures/numa/${f}`, 'utf8');
const ramblock = fx('ramblock-2cell-nvdimm.txt');
const mtree = fx('mtree-2cell-nvdimm.txt');
const MiB = 2 ** 20;

describe('NUMA access-counter address map (QEMU 7.2)', () => {
  it('parses the RAM blocks and the memory tree', () => {
    const b = parseRamblocks(ramblock);
    assert.deepEqual(b.slice(0, 3), [
      { name: 'ram-node0', offset: 0, used: 512 * MiB },
      { name: 'ram-node1', offset: 512 * MiB, used: 512 * MiB },
      { name: 'memnvdimm0', offset: 1024 * MiB, used: 256 * MiB },
    ]);
    const t = parseMtree(mtree);
    assert.ok(t.regions.get('pc.ram')!.some((l) => l.name === 'ram-node1' && l.start === 512 * MiB));
    assert.throws(() => parseRamblocks('nothing'), /no RAM block/);
  });

  it('maps node 1 at GPA 512 MiB from plugin values starting at 1 GiB (ram_addr + mr->addr)', () => {
    const m = buildAddressMap(ramblock, mtree, { 'ram-node0': 0, 'ram-node1': 1 });
    assert.deepEqual(m, [
      { block: 'ram-node0', valueStart: 0, valueEnd: 512 * MiB, gpaStart: 0, node: 0 },
      { block: 'ram-node1', valueStart: 1024 * MiB, valueEnd: 1536 * MiB, gpaStart: 512 * MiB, node: 1 },
    ]);
  });

  it('refuses the NVDIMM: its values collide with node 1\'s (the 7.2 pitfall, seen here)', () => {
    assert.throws(() => buildAddressMap(ramblock, mtree, { 'ram-node0': 0, 'ram-node1': 1, memnvdimm0: 1 }), /ram-node1 and memnvdimm0 overlap|memnvdimm0 and ram-node1 overlap/);
    // alone it maps: value = its block offset, GPA = the device-memory window at 4 GiB
    assert.deepEqual(buildAddressMap(ramblock, mtree, { memnvdimm0: 1 }), [
      { block: 'memnvdimm0', valueStart: 1024 * MiB, valueEnd: 1280 * MiB, gpaStart: 4096 * MiB, node: 1 },
    ]);
  });

  it('names a block that is not there', () => {
    assert.throws(() => buildAddressMap(ramblock, mtree, { 'ram-node2': 2 }), /no block ram-node2/);
  });
});
