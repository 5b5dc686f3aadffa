// Host side of the TCG access counter without a VM: HMP parsers and the address map on real
// output (captured with virsh qemu-monitor-command --hmp from QEMU 7.2 / libvirt 9.0 guests of
// 2 × 256 MiB NUMA cells, one with a 256 MiB NVDIMM on node 1: test/fixtures/numa/hmp-*), the
// counters file decoded from bytes laid out by hand as counter.c documents, the series, the
// plugin arguments, and the built plugin's map handling in a QEMU that runs no guest.
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { tmpDir } from '../helpers.js';
import {
  buildAddressMap, counterPluginPath, counterQemuArgs, countersLayout, diffPageHits, hmpMtree, hmpRamblocks, nodeTotals, parsePluginArg,
  parseSeries, rangeOfGpa, readCounters, readSeries, renderMapFile, type CountersSnapshot, type Mtree,
} from '../../src/numa/plugin/counters.js';

const fx = (f: string) => readFileSync(`test/fixtures/numa/${f}`, 'utf8');
const MiB = 2 ** 20;
const CELLS = [{ id: 0, memoryMiB: 256 }, { id: 1, memoryMiB: 256 }];
const plain = { ramblock: fx('hmp-ramblock-2x256-plain.txt'), mtree: fx('hmp-mtree-2x256-plain.txt'), flat: fx('hmp-mtree-f-2x256-plain.txt') };
const nvd = { ramblock: fx('hmp-ramblock-2x256-nvdimm.txt'), mtree: fx('hmp-mtree-2x256-nvdimm.txt'), flat: fx('hmp-mtree-f-2x256-nvdimm.txt') };
const tree = (x: typeof plain): Mtree => hmpMtree(`${x.mtree}\n${x.flat}`);

describe('access counter host side (QEMU 7.2 TCG plugin)', () => {
  describe('HMP parsers on real output', () => {
    it('info ramblock: names, page sizes, ram_addr offsets and sizes', () => {
      const b = hmpRamblocks(nvd.ramblock);
      assert.deepEqual(b.slice(0, 3), [
        { name: 'ram-node0', pageSize: 4096, offset: 0, used: 256 * MiB, total: 256 * MiB },
        { name: 'ram-node1', pageSize: 4096, offset: 256 * MiB, used: 256 * MiB, total: 256 * MiB },
        { name: 'memnvdimm0', pageSize: 4096, offset: 512 * MiB, used: 256 * MiB, total: 256 * MiB },
      ]);
      assert.deepEqual(b.map((x) => x.name).slice(3), ['/rom@etc/acpi/tables', 'pc.bios', 'pc.rom', '/rom@etc/table-loader', '/rom@etc/acpi/rsdp']);
      assert.equal(hmpRamblocks(plain.ramblock).find((x) => x.name === 'pc.bios')!.offset, 512 * MiB);
      assert.throws(() => hmpRamblocks('error: no such command'), /no RAM block/);
    });

    it('info mtree: sections (shared address-space headers), containers, aliases', () => {
      const t = hmpMtree(nvd.mtree);
      assert.equal(t.flatViews.length, 0);
      const mem = t.sections.find((s) => s.names.includes('memory'))!;
      assert.deepEqual(mem.names, ['cpu-memory-0', 'cpu-memory-1', 'memory']);
      const below = mem.lines.find((l) => l.name === 'ram-below-4g')!;
      assert.deepEqual(below.alias, { target: 'pc.ram', start: 0n });
      assert.equal(below.end, 512n * BigInt(MiB));
      const pcram = t.sections.find((s) => s.kind === 'memory-region' && s.names[0] === 'pc.ram')!;
      assert.deepEqual(pcram.lines.map((l) => [l.depth, l.name, Number(l.start) / MiB]), [[2, 'pc.ram', 0], [4, 'ram-node0', 0], [4, 'ram-node1', 256]]);
      const dimm = mem.lines.find((l) => l.name === 'nvdimm-memory')!;
      assert.deepEqual([dimm.kind, dimm.alias!.target, dimm.start], ['nv-ram', 'memnvdimm0', 0x100000000n]);
      // names with spaces
      assert.ok(t.sections.some((s) => s.lines.some((l) => l.name === 'bus master container')));
    });

    it('info mtree -f: flat views with their address spaces and @offsets', () => {
      const t = hmpMtree(nvd.flat);
      assert.equal(t.sections.length, 0);
      const fv = t.flatViews.find((f) => f.spaces.includes('memory'))!;
      assert.equal(fv.root, 'system');
      const n0 = fv.ranges.filter((r) => r.name === 'ram-node0');
      assert.deepEqual(n0.map((r) => [r.start, r.end, r.offsetInRegion, r.kind]), [
        [0n, 0xc3000n, 0n, 'ram'], [0xc3000n, 0xe8000n, 0xc3000n, 'rom'], [0xe8000n, 0xf0000n, 0xe8000n, 'ram'],
        [0xf0000n, 0x100000n, 0xf0000n, 'rom'], [0x100000n, 0x10000000n, 0x100000n, 'ram'],
      ]);
      assert.deepEqual(fv.ranges.find((r) => r.name === 'memnvdimm0'), { depth: 2, start: 0x100000000n, end: 0x110000000n, prio: 0, kind: 'nv-ram', name: 'memnvdimm0', offsetInRegion: 0n });
      assert.throws(() => hmpMtree('unknown command'), /neither memory trees nor flat views/);
    });
  });

  describe('buildAddressMap', () => {
    it('maps node 1 at GPA = cell 0 size, from plugin values at ram_addr + mr->addr = 2 × 256 MiB', () => {
      const m = buildAddressMap(hmpRamblocks(plain.ramblock), tree(plain), CELLS, []);
      assert.deepEqual(m, [
        { name: 'ram-node0', valueStart: 0, valueEnd: 256 * MiB, gpaStart: 0, node: 0 },
        { name: 'ram-node1', valueStart: 512 * MiB, valueEnd: 768 * MiB, gpaStart: 256 * MiB, node: 1 },
      ]);
      assert.equal(rangeOfGpa(m, 256 * MiB)?.node, 1);
      assert.equal(rangeOfGpa(m, 256 * MiB - 1)?.node, 0);
      assert.equal(rangeOfGpa(m, 512 * MiB), undefined);
      assert.equal(renderMapFile(m), [
        '# ftharness access-counter map (src/numa/plugin/counters.ts): QEMU 7.2 plugin value range -> guest-physical address, NUMA node',
        '# valueStart valueEnd(exclusive) gpaStart node',
        '0x0000000000000000 0x0000000010000000 0x0000000000000000 0  # ram-node0',
        '0x0000000020000000 0x0000000030000000 0x0000000010000000 1  # ram-node1',
        '',
      ].join('\n'));
    });

    it('refuses the real 2-cell + NVDIMM guest: node 1 and the NVDIMM get the same plugin values', () => {
      assert.throws(() => buildAddressMap(hmpRamblocks(nvd.ramblock), tree(nvd), CELLS, [{ node: 1, sizeMiB: 256 }]),
        /plugin values of ram-node1 \[0x20000000, 0x30000000\) and memnvdimm0 \[0x20000000, 0x30000000\) overlap/);
    });

    it('places an NVDIMM whose values are clear (unequal cells), and a label tail that is not guest-mapped', () => {
      // Synthetic, in the real format: cell 0 of 768 MiB, cell 1 of 256 MiB, NVDIMM of 256 MiB with
      // a 128 KiB label. Node 1: 768+768 = 1536..1792 MiB; NVDIMM: 1024..1280 MiB (mr->addr 0).
      const rb = hmpRamblocks([
        '               ram-node0    4 KiB  0x0000000000000000 0x0000000030000000 0x0000000030000000',
        '               ram-node1    4 KiB  0x0000000030000000 0x0000000010000000 0x0000000010000000',
        '              memnvdimm0    4 KiB  0x0000000040000000 0x0000000010000000 0x0000000010000000',
      ].join('\n'));
      const t = hmpMtree([
        'memory-region: pc.ram',
        '  0000000000000000-000000003fffffff (prio 0, i/o): pc.ram',
        '    0000000000000000-000000002fffffff (prio 0, ram): ram-node0',
        '    0000000030000000-000000003fffffff (prio 0, ram): ram-node1',
        '',
        'memory-region: memnvdimm0',
        '  0000000000000000-000000000fffffff (prio 0, ram): memnvdimm0',
        '',
        'FlatView #0',
        ' AS "memory", root: system',
        ' Root memory region: system',
        '  0000000000000000-000000002fffffff (prio 0, ram): ram-node0',
        '  0000000030000000-000000003fffffff (prio 0, ram): ram-node1',
        '  0000000100000000-000000010ffdffff (prio 0, nv-ram): memnvdimm0',
      ].join('\n'));
      const m = buildAddressMap(rb, t, [{ id: 0, memoryMiB: 768 }, { id: 1, memoryMiB: 256 }], [{ node: 1, sizeMiB: 256, labelKiB: 128 }]);
      assert.deepEqual(m.map((r) => [r.name, r.valueStart / MiB, r.valueEnd / MiB, r.gpaStart / MiB, r.node]), [
        ['ram-node0', 0, 768, 0, 0],
        ['memnvdimm0', 1024, 1280 - 128 / 1024, 4096, 1],
        ['ram-node1', 1536, 1792, 768, 1],
      ]);
      // without the label the NVDIMM's last 128 KiB would be missing from guest-physical memory
      assert.throws(() => buildAddressMap(rb, t, [{ id: 0, memoryMiB: 768 }, { id: 1, memoryMiB: 256 }], [{ node: 1, sizeMiB: 256 }]), /only 0xffe0000 of 0x10000000 bytes of memnvdimm0/);
    });

    it('merges the PAM/ROM windows of cell 0 into one range and splits a cell at the 4 GiB hole', () => {
      const rb = hmpRamblocks('  ram-node0    4 KiB  0x0000000000000000 0x0000000100000000 0x0000000100000000');
      const t = hmpMtree([
        'memory-region: pc.ram',
        '  0000000000000000-00000000ffffffff (prio 0, i/o): pc.ram',
        '    0000000000000000-00000000ffffffff (prio 0, ram): ram-node0',
        'FlatView #0',
        ' AS "memory", root: system',
        '  0000000000000000-000000000009ffff (prio 0, ram): ram-node0',
        '  00000000000c0000-00000000000fffff (prio 0, rom): ram-node0 @00000000000c0000',
        '  0000000000100000-00000000bfffffff (prio 0, ram): ram-node0 @0000000000100000',
        '  0000000100000000-000000013fffffff (prio 0, ram): ram-node0 @00000000c0000000',
      ].join('\n'));
      const m = buildAddressMap(rb, t, [{ id: 0, memoryMiB: 4096 }], []);
      assert.deepEqual(m.map((r) => [r.valueStart / MiB, r.valueEnd / MiB, r.gpaStart / MiB]), [[0, 3072, 0], [3072, 4096, 4096]]);
    });

    it('throws on a block it cannot place, a wrong size, a missing flat view, a clash with a visible ROM', () => {
      const rb = hmpRamblocks(plain.ramblock);
      assert.throws(() => buildAddressMap(rb, tree(plain), [...CELLS, { id: 2, memoryMiB: 64 }], []), /NUMA cell 2 has no RAM block ram-node2/);
      assert.throws(() => buildAddressMap(rb, tree(plain), [{ id: 0, memoryMiB: 256 }, { id: 1, memoryMiB: 512 }], []), /ram-node1 is 256 MiB, but NUMA cell 1 is 512 MiB/);
      assert.throws(() => buildAddressMap(rb, hmpMtree(plain.mtree), CELLS, []), /no flat view of address space "memory"/);
      assert.throws(() => buildAddressMap(rb, hmpMtree(plain.flat), CELLS, []), /region ram-node0 is not in info mtree/);
      // pc.bios (guest-visible at 0xfffc0000) moved into node 1's values
      const moved = rb.map((b) => (b.name === 'pc.bios' ? { ...b, offset: 512 * MiB - 0xfffc0000 + 4096 * 16 } : b));
      assert.throws(() => buildAddressMap(moved, tree(plain), CELLS, []), /ram-node1 .* and pc\.bios \(guest-visible at GPA 0xfffc0000\) .* overlap/);
      // a cell whose flat view has a hole that no run with the same offset spans
      const holey = hmpMtree(`${plain.mtree}\n${plain.flat.replace('0000000010000000-000000001fffffff (prio 0, ram): ram-node1', '0000000010000000-0000000017ffffff (prio 0, ram): ram-node1')}`);
      assert.throws(() => buildAddressMap(rb, holey, CELLS, []), /only 0x8000000 of 0x10000000 bytes of ram-node1/);
    });
  });

  describe('counters file (layout of counter.c)', () => {
    it('decodes a file written here byte by byte as documented', async () => {
      const vcpus = 2, nodes = 2, pages = 8;
      const L = countersLayout(vcpus, nodes, pages);
      assert.deepEqual(L, { vcpuOffset: 128, vcpuStride: 128, pagesOffset: 384, bytes: 416 });
      const b = Buffer.alloc(L.bytes);
      b.write('FTHNUMA1', 0, 'latin1');
      const hdr = [1, vcpus, nodes, pages, 1, 1_700_000_000_123_456_789n, 2, 3, 0, 200, 128, 128, 384, 0, 7];
      hdr.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 * (i + 1)));
      // vCPU v, node n, kind k (rU wU rK wK) = 1000v + 100n + k; unmapped 11+v, io 21+v, beyond 31+v, nohw 41+v
      for (let v = 0; v < vcpus; v++) {
        const o = 128 + v * 128;
        for (let n = 0; n < nodes; n++) for (let k = 0; k < 4; k++) b.writeBigUInt64LE(BigInt(1000 * v + 100 * n + k), o + 32 * n + 8 * k);
        [11, 21, 31, 41].forEach((x, j) => b.writeBigUInt64LE(BigInt(x + v), o + 32 * nodes + 8 * j));
      }
      for (let p = 0; p < pages; p++) b.writeUInt32LE(p === 5 ? 0xffffffff : p * 10, 384 + 4 * p);
      const dir = tmpDir('fth-counters-');
      writeFileSync(join(dir, 'c.bin'), b);
      const s = await readCounters(join(dir, 'c.bin'));
      assert.equal(s.armed, true);
      assert.equal(s.armedAtMs, 1_700_000_000_123.456);
      assert.equal(s.state, 'armed');
      assert.deepEqual([s.vcpus, s.nodes, s.pages, s.rangesLoaded, s.intervalMs, s.seriesLines, s.exited], [2, 2, 8, 2, 200, 7, false]);
      assert.deepEqual(s.perVcpu[1].node[0], { rU: 1000, wU: 1001, rK: 1002, wK: 1003 });
      assert.deepEqual(s.perVcpu[0].node[1], { rU: 100, wU: 101, rK: 102, wK: 103 });
      assert.deepEqual([s.perVcpu[1].unmapped, s.perVcpu[1].io, s.perVcpu[1].beyond, s.perVcpu[1].nohw], [12, 22, 32, 42]);
      assert.deepEqual(s.unmapped, [11, 12]);
      assert.deepEqual([...s.pageHits], [0, 10, 20, 30, 40, 0xffffffff, 60, 70]);
      assert.deepEqual(nodeTotals(s)[1], { rU: 1100 + 100, wU: 101 + 1101, rK: 102 + 1102, wK: 103 + 1103 });
      // page hits: changed pages only, modulo 2^32
      const later = new Uint32Array(s.pageHits);
      later[5] = 3; later[7] += 100;
      assert.deepEqual(diffPageHits(s, later), [{ page: 5, gpa: 5 * 4096, delta: 4 }, { page: 7, gpa: 7 * 4096, delta: 100 }]);
      // a file still being created, a truncated one, a wrong layout
      writeFileSync(join(dir, 'empty.bin'), Buffer.alloc(0));
      await assert.rejects(readCounters(join(dir, 'empty.bin')), /no FTHNUMA1 header yet/);
      writeFileSync(join(dir, 'short.bin'), b.subarray(0, 400));
      await assert.rejects(readCounters(join(dir, 'short.bin')), /400 bytes, its header needs 416/);
      const bad = Buffer.from(b);
      bad.writeBigUInt64LE(64n, 8 * 11);
      writeFileSync(join(dir, 'bad.bin'), bad);
      await assert.rejects(readCounters(join(dir, 'bad.bin')), /layout differs/);
    });

    it('reads the series, leaving out a line still being written', async () => {
      const dir = tmpDir('fth-series-');
      const l1 = '{"t":1700000000123.456,"c":[[[0,0,0,0],[0,0,0,0]],[[0,0,0,0],[0,0,0,0]]],"u":[0,0],"armed":true}';
      const l2 = '{"t":1700000000323.456,"c":[[[1,2,3,4],[5,6,7,8]],[[9,10,11,12],[13,14,15,16]]],"u":[3,4]}';
      writeFileSync(join(dir, 's.jsonl'), `${l1}\n${l2}\n{"t":17000`);
      const s = await readSeries(join(dir, 's.jsonl'));
      assert.equal(s.length, 2);
      assert.equal(s[0].armed, true);
      assert.equal(s[1].c[1][1][1], 14);
      assert.deepEqual(s[1].u, [3, 4]);
      assert.deepEqual(parseSeries(''), []);
      assert.throws(() => parseSeries('not json\n'), /line 1 is not JSON/);
    });
  });

  describe('the plugin in a QEMU without a guest (-M none: no vCPU, so it never arms)', function () {
    this.timeout(60_000);
    it('creates its header, reads the map (refusing bad ones with the line), marks exit', async function () {
      const p = counterPluginPath();
      if (!p.so) this.skip(); // the @vm calibration test fails on this; here: no QEMU work without the build
      const dir = tmpDir('fth-plugin-');
      const f = { out: join(dir, 'c.bin'), map: join(dir, 'map.txt'), series: join(dir, 's.jsonl') };
      const q = execa('qemu-system-x86_64', ['-M', 'none', '-accel', 'tcg', '-display', 'none', '-nodefaults', '-S', '-monitor', 'stdio',
        ...counterQemuArgs({ so: p.so!, ...f, vcpus: 2, nodes: 2, pages: 16 })], { stdin: 'pipe', reject: false, all: true });
      // as armAccessCounter does: never a half-written map for the plugin to read
      const put = (text: string) => { writeFileSync(`${f.map}.tmp`, text); renameSync(`${f.map}.tmp`, f.map); };
      const until = async (what: string, ok: (s: CountersSnapshot) => boolean) => {
        const t0 = Date.now();
        for (;;) {
          try { const s = await readCounters(f.out); if (ok(s)) return s; } catch { /* not created yet */ }
          if (Date.now() - t0 > 20_000) throw new Error(`plugin: no ${what} within 20 s`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      try {
        const s0 = await until('header', () => true);
        assert.deepEqual([s0.state, s0.armed, s0.vcpus, s0.nodes, s0.pages], ['waiting-for-map', false, 2, 2, 16]);
        put('# overlapping\n0x0 0x2000 0x0 0\n0x1000 0x3000 0x10000 1\n');
        const bad = await until('refusal', (s) => s.state === 'map-invalid');
        assert.equal(bad.mapErrorLine, 3);
        put('0x0 0x2000 0x0 2\n');
        assert.equal((await until('refusal', (s) => s.mapErrorLine === 1)).state, 'map-invalid', 'node 2 of 2');
        put(renderMapFile([{ name: 'a', valueStart: 0, valueEnd: 0x8000, gpaStart: 0, node: 0 }, { name: 'b', valueStart: 0x10000, valueEnd: 0x18000, gpaStart: 0x8000, node: 1 }]));
        const ok = await until('loaded map', (s) => s.state === 'map-loaded');
        assert.deepEqual([ok.rangesLoaded, ok.mapErrorLine, ok.armed], [2, 0, false]);
      } finally {
        q.stdin!.end('quit\n');
        await q;
      }
      const r = await q;
      assert.equal(r.exitCode, 0, r.all);
      assert.match(r.all ?? '', /fthnuma: map file .* bad line 3/);
      const end = await readCounters(f.out);
      assert.equal(end.exited, true);
      assert.equal(readFileSync(f.series, 'utf8'), '', 'never armed: no series');
    });
  });

  describe('plugin arguments', () => {
    it('builds -plugin file=…,out=…; refuses commas and relative paths', () => {
      const a = counterQemuArgs({ so: '/p/libfthnuma.so', out: '/r/c.bin', map: '/r/map.txt', series: '/r/s.jsonl', intervalMs: 200, vcpus: 2, nodes: 2, pages: 131072 });
      assert.deepEqual(a, ['-plugin', 'file=/p/libfthnuma.so,out=/r/c.bin,map=/r/map.txt,series=/r/s.jsonl,interval_ms=200,vcpus=2,nodes=2,pages=131072']);
      assert.deepEqual(parsePluginArg(a[1]), { file: '/p/libfthnuma.so', out: '/r/c.bin', map: '/r/map.txt', series: '/r/s.jsonl', interval_ms: '200', vcpus: '2', nodes: '2', pages: '131072' });
      assert.equal(parsePluginArg('file=/usr/lib/other.so,x=1'), undefined);
      const base = { so: '/p/libfthnuma.so', out: '/r/c.bin', map: '/r/map.txt', vcpus: 1, nodes: 1, pages: 0 };
      assert.throws(() => counterQemuArgs({ ...base, out: '/r/a,b.bin' }), /out path "\/r\/a,b.bin" contains a comma/);
      assert.throws(() => counterQemuArgs({ ...base, map: 'map.txt' }), /map path "map.txt" must be absolute/);
      assert.throws(() => counterQemuArgs({ ...base, nodes: 0 }), /nodes must be an integer/);
      assert.deepEqual(counterQemuArgs(base), ['-plugin', 'file=/p/libfthnuma.so,out=/r/c.bin,map=/r/map.txt,vcpus=1,nodes=1,pages=0']);
    });
  });
});
