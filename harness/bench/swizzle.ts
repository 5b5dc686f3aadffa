// Swizzle benchmark (host only): what recovery costs with absolute pointers, against the
// alternative that never swizzles because it stores base-relative offsets and adds the base on
// every dereference (PMDK's PMEMoid / based pointers), measured in one run on the same graph.
//
//   node dist/harness/bench/swizzle.js [--sizes 1e5,1e6,1e7] [--reps 3] [--dir DIR] [--json]
//
// For each size (number of non-null pointers; the graph is a complete binary tree of N+1
// nodes {left, right, val}, 24 B each):
//  - swizzle loop: the pointer-rewrite loop alone over every slab, in memory (pointers/s);
//  - recovery: Heap.open at a new base on the file path (read + swizzle + write back + fsync)
//    and on the mmap path (real kernel-chosen base; swizzle + msync), wall time;
//  - traversal: a full DFS summing the payloads, over the swizzled heap (absolute pointers)
//    and over a copy holding offsets (base + offset at each dereference), in JS and, when the
//    addon is built, in C;
//  - break-even: how many full traversals the offset style needs before its per-dereference
//    cost exceeds the one-time swizzle; "never" when offsets are not slower.
// Every figure is labelled as measured on the host: a guest under TCG or KVM will differ.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Heap } from '../../src/pheap/heap.js';
import { nativeStatus, nativeTraversals } from '../../src/pheap/mmap.js';
import type { TypeDef } from '../../src/pheap/registry.js';
import { swizzleSlab } from '../../src/pheap/swizzle.js';

interface Metric {
  unit: string;
  values: number[];
  description?: string;
}
type Metrics = Record<string, Metric>;

const TYPES: TypeDef[] = [
  {
    name: 'bench.tnode',
    fields: [
      { name: 'left', kind: 'ptr', target: 'bench.tnode' },
      { name: 'right', kind: 'ptr', target: 'bench.tnode' },
      { name: 'val', kind: 'u64' },
    ],
  },
];
const NODE = 24;
const LEFT = 0;
const RIGHT = 8;
const VAL = 16;
const SLAB = 256 * 1024;

function args(): { sizes: number[]; reps: number; dir: string; json: boolean } {
  const a = process.argv.slice(2);
  const get = (k: string) => {
    const i = a.indexOf(k);
    return i >= 0 ? a[i + 1] : undefined;
  };
  return {
    sizes: (get('--sizes') ?? '1e5,1e6,1e7').split(',').map(Number),
    reps: Number(get('--reps') ?? 3),
    dir: get('--dir') ?? os.tmpdir(),
    json: a.includes('--json'),
  };
}

const now = () => performance.now();
const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;

/** Complete binary tree of n nodes in BFS order: children of i are 2i+1 and 2i+2. */
function buildTree(file: string, n: number): { root: number; sum: bigint } {
  const size = Math.ceil((n * NODE * 1.02 + 2 * SLAB) / SLAB) * SLAB + 64 * 1024 + Math.ceil(n / (SLAB / NODE)) * 4;
  const h = Heap.create(file, { size, slabSize: SLAB, types: TYPES, access: nativeStatus().available ? 'mmap' : 'file' });
  h.durability = 'deferred';
  const left = h.field('bench.tnode', 'left');
  const right = h.field('bench.tnode', 'right');
  const val = h.field('bench.tnode', 'val');
  const refs = new Float64Array(n);
  let sum = 0n;
  for (let i = 0; i < n; i++) {
    const v = BigInt((i * 2654435761) >>> 0);
    sum += v;
    refs[i] = h.alloc('bench.tnode', (r) => h.setU64(r, val, v));
  }
  for (let i = 0; i < n; i++) {
    if (2 * i + 1 < n) h.setPtr(refs[i]!, left, refs[2 * i + 1]!);
    if (2 * i + 2 < n) h.setPtr(refs[i]!, right, refs[2 * i + 2]!);
  }
  h.setRoot(0, refs[0]!);
  h.close();
  return { root: refs[0]!, sum: BigInt.asUintN(64, sum) };
}

/** DFS over absolute pointers: index = (pointer - base) / 8. */
function traverseAbs(u64: BigUint64Array, base: bigint, root: number): bigint {
  const stack = new Float64Array(64);
  let sp = 0;
  stack[sp++] = root / 8;
  let sum = 0n;
  while (sp > 0) {
    const w = stack[--sp]!;
    sum += u64[w + VAL / 8]!;
    const l = u64[w + LEFT / 8]!;
    const r = u64[w + RIGHT / 8]!;
    if (r !== 0n) stack[sp++] = Number(r - base) / 8;
    if (l !== 0n) stack[sp++] = Number(l - base) / 8;
  }
  return BigInt.asUintN(64, sum);
}

/** The same DFS over base-relative offsets: index = offset / 8 (the typed array IS base+). */
function traverseRel(u64: BigUint64Array, root: number): bigint {
  const stack = new Float64Array(64);
  let sp = 0;
  stack[sp++] = root / 8;
  let sum = 0n;
  while (sp > 0) {
    const w = stack[--sp]!;
    sum += u64[w + VAL / 8]!;
    const l = u64[w + LEFT / 8]!;
    const r = u64[w + RIGHT / 8]!;
    if (r !== 0n) stack[sp++] = Number(r) / 8;
    if (l !== 0n) stack[sp++] = Number(l) / 8;
  }
  return BigInt.asUintN(64, sum);
}

/** Runs fn once untimed (JIT warm-up, caches), then `reps` timed runs. */
function timeIt<T>(reps: number, fn: () => T): { ms: number[]; result: T } {
  let result: T = fn();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    result = fn();
    ms.push(now() - t0);
  }
  return { ms, result };
}

function label(n: number): string {
  const e = Math.round(Math.log10(n));
  return 10 ** e === n ? `1e${e}` : String(n);
}

function main(): void {
  const opt = args();
  const metrics: Metrics = {};
  const put = (name: string, unit: string, values: number[], description?: string) => {
    metrics[name] = { unit, values: values.map((v) => Math.round(v * 1000) / 1000), ...(description ? { description } : {}) };
  };
  const native = nativeTraversals();
  const log = (s: string) => {
    if (!opt.json) console.log(s);
  };
  log(`pheap swizzle benchmark — MEASURED ON THE HOST (${os.hostname()}, ${os.cpus()[0]?.model ?? 'cpu?'} x${os.cpus().length}, node ${process.version}), not in a guest`);
  log(`load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (a shared host makes the figures noisy: all samples are in --json)`);
  log(`native addon: ${native ? 'built (mmap path + C traversals)' : 'NOT built: file path only, no C traversals'}`);
  const dir = fs.mkdtempSync(path.join(opt.dir, 'pheap-bench-'));
  try {
    for (const n of opt.sizes) {
      const L = label(n);
      const file = path.join(dir, `tree-${L}.img`);
      const nodes = n + 1;
      const t0 = now();
      const { root, sum } = buildTree(file, nodes);
      log(`\n== ${L} pointers (${nodes} nodes, heap ${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB, built in ${((now() - t0) / 1000).toFixed(1)} s)`);

      // 1. Recovery on the file path: open at alternating far-apart bases.
      const fileOpen: number[] = [];
      const fileLoop: number[] = [];
      const reps = n >= 1e7 ? Math.min(opt.reps, 2) : opt.reps;
      for (let i = 0; i < reps; i++) {
        const t1 = now();
        const h = Heap.open(file, { access: 'file', base: i % 2 ? 0x6000_0000_0000n : 0x7000_0000_0000n });
        fileOpen.push(now() - t1);
        fileLoop.push(h.openReport.ms.swizzle);
        if (h.openReport.pointersSwizzled !== n + 1) throw new Error(`swizzled ${h.openReport.pointersSwizzled}, expected ${n + 1} (tree + root)`);
        h.close();
      }
      put(`open_file_ms_${L}`, 'ms', fileOpen, 'Heap.open at a new base, file path: read + swizzle + write back + fdatasync');

      // 2. Recovery on the mmap path, real bases (a hint alternates so the base surely moves).
      let mapped: Heap | null = null;
      if (native) {
        const mm: number[] = [];
        const mmLoop: number[] = [];
        const mmPersist: number[] = [];
        for (let i = 0; i < opt.reps; i++) {
          mapped?.close();
          const t1 = now();
          mapped = Heap.open(file, { access: 'mmap', base: i % 2 ? 0x3100_0000_0000n : 0x3200_0000_0000n });
          mm.push(now() - t1);
          mmLoop.push(mapped.openReport.ms.swizzle);
          mmPersist.push(mapped.openReport.ms.persist);
          if (mapped.openReport.pointersSwizzled !== n + 1) throw new Error('mmap open did not swizzle every pointer');
        }
        put(`open_mmap_ms_${L}`, 'ms', mm, 'Heap.open at a new real mapping base: swizzle + msync');
        put(`open_mmap_persist_ms_${L}`, 'ms', mmPersist, 'msync part of the mmap open');
        fileLoop.push(...mmLoop);
      }
      put(`open_swizzle_loop_mptr_per_s_${L}`, 'Mpointers/s', fileLoop.map((ms) => n / ms / 1e3), 'pointer-rewrite loop inside Heap.open (file and mmap opens)');

      // The rest runs on ONE in-memory copy of the heap image, so both pointer styles are
      // measured over the same pages (a file mapping and anonymous memory differ in page size
      // and fault behaviour, which would otherwise be measured instead of the pointers).
      const src = mapped ?? Heap.open(file, { access: 'file' });
      const base = src.base;
      const size = BigInt(src.size);
      const slabs = src.slabs.filter((s) => s.type?.name === 'bench.tnode');
      const copyBuf = new ArrayBuffer(src.u64.byteLength);
      const c64 = new BigUint64Array(copyBuf);
      const c32 = new Uint32Array(copyBuf);
      c64.set(src.u64);
      src.close();
      const move = (from: bigint, to: bigint) => {
        for (const s of slabs) swizzleSlab(c32, c64, s, from, from + size, to, to + size);
      };

      // 3. The swizzle loop alone, in memory (no I/O), back and forth between two bases.
      const FAR = 1n << 56n; // disjoint from every user-space range, like the swizzler's detour
      const loop = timeIt(opt.reps * 2, () => {
        move(base, FAR);
        move(FAR, base);
      });
      put(`swizzle_loop_mptr_per_s_${L}`, 'Mpointers/s', loop.ms.map((ms) => (2 * (n + 1)) / ms / 1e3), 'swizzle loop over all slabs in memory, no persistence');

      // 4. Absolute pointers valid for the copy's own address (real pointers for the C DFS).
      const own = native ? native.addressOf(copyBuf) : base;
      move(base, FAR);
      move(FAR, own);
      const jsAbs = timeIt(opt.reps, () => traverseAbs(c64, own, root));
      let cAbs: number[] = [];
      if (native) {
        const a = timeIt(opt.reps, () => native.sumTreeAbs(copyBuf, root, LEFT, RIGHT, VAL));
        if (a.result[0] !== sum || a.result[1] !== nodes) throw new Error('native absolute traversal disagrees');
        cAbs = a.ms;
      }

      // 5. The same graph as base-relative offsets (a move to base 0), same pages.
      move(own, 0n);
      const jsRel = timeIt(opt.reps, () => traverseRel(c64, root));
      let cRel: number[] = [];
      if (native) {
        const r = timeIt(opt.reps, () => native.sumTreeRel(copyBuf, root, LEFT, RIGHT, VAL));
        if (r.result[0] !== sum || r.result[1] !== nodes) throw new Error('native offset traversal disagrees');
        cRel = r.ms;
      }
      if (jsAbs.result !== sum || jsRel.result !== sum) throw new Error('traversal sums disagree: the graph is wrong');
      put(`traverse_js_abs_ms_${L}`, 'ms', jsAbs.ms, 'JS DFS, absolute pointers (index = pointer - base)');
      put(`traverse_js_rel_ms_${L}`, 'ms', jsRel.ms, 'JS DFS, base-relative offsets (index = offset)');
      if (native) {
        put(`traverse_c_abs_ms_${L}`, 'ms', cAbs, 'C DFS dereferencing swizzled absolute pointers');
        put(`traverse_c_rel_ms_${L}`, 'ms', cRel, 'C DFS resolving base + offset on every dereference');
      }

      // 7. Break-even: one swizzle vs a per-traversal penalty of offsets.
      const swizzleMs = median(loop.ms) / 2;
      const recoverMs = median(metrics[`open_mmap_ms_${L}`]?.values ?? fileOpen);
      const be = (absMs: number[], relMs: number[], cost: number) => {
        const extra = median(relMs) - median(absMs);
        return extra > 0 ? cost / extra : Infinity;
      };
      const lines: [string, number[], number[]][] = [['JS', jsAbs.ms, jsRel.ms]];
      if (cAbs.length) lines.push(['C', cAbs, cRel]);
      log(`  swizzle loop (in memory)   ${(n / swizzleMs / 1e3).toFixed(0)} M pointers/s  (${swizzleMs.toFixed(1)} ms for ${L})`);
      log(`  swizzle loop inside open   ${median(metrics[`open_swizzle_loop_mptr_per_s_${L}`]!.values).toFixed(0)} M pointers/s  (median over file and mmap opens; includes first-touch page faults)`);
      log(`  recovery, file path        ${median(fileOpen).toFixed(1)} ms  (read + swizzle + write back + fdatasync)`);
      if (metrics[`open_mmap_ms_${L}`]) log(`  recovery, mmap path        ${recoverMs.toFixed(1)} ms  (swizzle + msync ${median(metrics[`open_mmap_persist_ms_${L}`]!.values).toFixed(1)} ms)`);
      for (const [lang, a, r] of lines) {
        const ratio = median(r) / median(a);
        const beLoop = be(a, r, swizzleMs);
        const beOpen = be(a, r, recoverMs);
        put(`traverse_${lang.toLowerCase()}_rel_over_abs_${L}`, 'ratio', [ratio]);
        put(`break_even_${lang.toLowerCase()}_vs_loop_${L}`, 'traversals', [Number.isFinite(beLoop) ? beLoop : -1], '-1 = never (offsets not slower)');
        put(`break_even_${lang.toLowerCase()}_vs_recovery_${L}`, 'traversals', [Number.isFinite(beOpen) ? beOpen : -1], '-1 = never (offsets not slower)');
        const fmt = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} traversals` : 'never (offsets not slower)');
        log(
          `  ${lang.padEnd(2)} traversal: absolute ${median(a).toFixed(1)} ms, offset ${median(r).toFixed(1)} ms, offset/absolute ${ratio.toFixed(3)}; ` +
            `break-even vs swizzle loop: ${fmt(beLoop)}; vs whole recovery: ${fmt(beOpen)}`,
        );
      }
      fs.rmSync(file, { force: true });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (opt.json) {
    const out = {
      measuredOn: 'host',
      note: 'measured on the host, not in a guest',
      dimensions: { host: os.hostname(), cpu: os.cpus()[0]?.model ?? '', cpus: os.cpus().length, node: process.version, nativeAddon: native !== null, loadavg: os.loadavg() },
      metrics,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  }
}

main();
