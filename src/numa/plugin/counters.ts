// Host side of the exact guest-memory access counter (the TCG plugin src/numa/tcg/counter.c):
// the QEMU arguments that load it, the address map it needs, and the files it writes.
//
// QEMU 7.2's plugin API reports a RAM access as `block->offset + offset + block->mr->addr`
// (plugins/api.c qemu_plugin_hwaddr_phys_addr), where block is the RAMBlock the host pointer is
// in, offset the offset in that block and mr->addr the offset of the block's memory region in its
// container — not the guest-physical address (GPA; fixed in QEMU 8.2). For a NUMA memdev the
// container is pc.ram (hw/core/numa.c numa_init_memdev_container: ram-node<N> at the sum of the
// cells before it); an NVDIMM's backend region memnvdimm<K> is in no container (it is mapped
// through the alias nvdimm-memory), so its mr->addr is 0. The map therefore needs, per block:
//   `info ramblock`  → block offset (ram_addr) and size,
//   `info mtree`     → mr->addr (a child line's start minus its parent line's start; a root line
//                      is printed at base 0, so its start is mr->addr: softmmu/memory.c mtree_print_mr),
//   `info mtree -f`  → where the flat view of address space "memory" maps which offsets of the
//                      block (`START-END (prio P, ram): ram-node0 @OFFSET`).
// value = block.offset + mr.addr + offset-in-block, GPA = flat range start + (offset − @OFFSET).
// On the guests here (2 cells + an NVDIMM) node 1's values and the NVDIMM's coincide (see
// test/fixtures/numa/hmp-*-2x256-nvdimm.txt): such a map is refused, never guessed.
//
// The plugin's files are read on this host: the counter works with a local libvirt (qemu:///system),
// not through a qemu+ssh:// URI.
//
// All addresses in AccessRange are JavaScript numbers; each is checked to be a safe integer
// (< 2^53), far above any guest here. Counter values are numbers too (u64 in the file; exact
// below 2^53 ≈ 9·10^15 accesses).
import { existsSync, statSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { projectRoot } from '../../util/paths.js';
import { parseDomainXml } from '../../vm/xml.js';

const MiB = 2 ** 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the plugin and its arguments ------------------------------------------------------------

export const COUNTER_SOURCE = () => join(projectRoot(), 'src', 'numa', 'tcg', 'counter.c');
export const COUNTER_SO = () => join(projectRoot(), 'src', 'numa', 'tcg', 'build', 'libfthnuma.so');

/** The built plugin, or why there is none (harness/setup.sh builds it: src/numa/tcg/build.sh). */
export function counterPluginPath(): { so: string; reason?: undefined } | { so: undefined; reason: string } {
  const so = COUNTER_SO();
  if (!existsSync(so)) return { so: undefined, reason: `${so} is not built (run harness/setup.sh, or bash src/numa/tcg/build.sh for its error)` };
  const src = COUNTER_SOURCE();
  if (existsSync(src) && statSync(src).mtimeMs > statSync(so).mtimeMs) {
    return { so: undefined, reason: `${so} is older than counter.c (run bash src/numa/tcg/build.sh)` };
  }
  return { so };
}

export interface CounterArgs {
  so: string;
  /** counters file (created by the plugin; read with readCounters) */
  out: string;
  /** address-map file (written by armAccessCounter) */
  map: string;
  /** time-series file (JSON lines; read with readSeries) */
  series?: string;
  intervalMs?: number;
  vcpus: number;
  nodes: number;
  /** 4 KiB guest-physical pages with a per-page counter (normally guest RAM / 4 KiB) */
  pages: number;
}

/** ['-plugin', 'file=…,out=…,…'] for VmSpec.qemuArgs. QEMU's option syntax splits at commas, so
 *  paths with one are refused (as are relative paths: QEMU's working directory is libvirt's). */
export function counterQemuArgs(a: CounterArgs): string[] {
  const paths: [string, string | undefined][] = [['file', a.so], ['out', a.out], ['map', a.map], ['series', a.series]];
  for (const [k, p] of paths) {
    if (p === undefined) continue;
    if (p.includes(',')) throw new Error(`access counter: ${k} path "${p}" contains a comma, which QEMU's -plugin option syntax cannot carry`);
    if (!isAbsolute(p)) throw new Error(`access counter: ${k} path "${p}" must be absolute (QEMU runs in libvirt's working directory)`);
    if (/[\0\n]/.test(p)) throw new Error(`access counter: ${k} path contains a NUL or newline`);
  }
  const int = (k: string, v: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (v === undefined) return;
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`access counter: ${k} must be an integer in [${min}, ${max}], not ${v}`);
  };
  int('vcpus', a.vcpus, 1, 4096);
  int('nodes', a.nodes, 1, 64);
  int('pages', a.pages, 0, 2 ** 32);
  int('intervalMs', a.intervalMs, 1, 3_600_000);
  const kv = [`file=${a.so}`, `out=${a.out}`, `map=${a.map}`, ...(a.series ? [`series=${a.series}`] : []),
    ...(a.intervalMs !== undefined ? [`interval_ms=${a.intervalMs}`] : []), `vcpus=${a.vcpus}`, `nodes=${a.nodes}`, `pages=${a.pages}`];
  return ['-plugin', kv.join(',')];
}

/** The key=value arguments of the access-counter plugin in a -plugin option value, if it is ours. */
export function parsePluginArg(value: string): Record<string, string> | undefined {
  const kv: Record<string, string> = {};
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) { kv.file ??= part; continue; } // "-plugin path,…" without file=
    kv[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return kv.file && /libfthnuma\.so$/.test(kv.file) ? kv : undefined;
}

// ---- HMP parsers -----------------------------------------------------------------------------

export interface Ramblock {
  name: string;
  /** bytes */
  pageSize: number;
  /** ram_addr of the block (QEMU's internal RAM address space) */
  offset: number;
  used: number;
  total: number;
}

const big = (hex: string) => BigInt(`0x${hex}`);
function exact(v: bigint, what: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${what}: 0x${v.toString(16)} is beyond 2^53`);
  return Number(v);
}
const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: MiB, GiB: 1024 * MiB };

/** `info ramblock` (QEMU 7.2: name, page size, offset, used, total; no host address column). */
export function hmpRamblocks(text: string): Ramblock[] {
  const out: Ramblock[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)\s+(\d+) (B|KiB|MiB|GiB)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s*$/i.exec(line);
    if (!m) continue;
    out.push({ name: m[1], pageSize: Number(m[2]) * UNITS[m[3]], offset: exact(big(m[4]), `ramblock ${m[1]} offset`), used: exact(big(m[5]), `ramblock ${m[1]} used`), total: exact(big(m[6]), `ramblock ${m[1]} total`) });
  }
  if (!out.length) throw new Error(`info ramblock: no RAM block in the output (${JSON.stringify(text.slice(0, 120))})`);
  return out;
}

export interface MtreeLine {
  /** indentation (tree depth), in characters */
  depth: number;
  start: bigint;
  /** exclusive (HMP prints the last byte) */
  end: bigint;
  prio: number;
  /** ram, rom, i/o, nv-ram, romd … */
  kind: string;
  name: string;
  alias?: { target: string; start: bigint };
  /** flat views only: " @OFFSET", the offset of `start` inside the region (0 when not printed) */
  offsetInRegion?: bigint;
}
export interface Mtree {
  /** `info mtree`: "address-space: A" (consecutive headers share one tree) and "memory-region: R" */
  sections: { kind: 'address-space' | 'memory-region'; names: string[]; lines: MtreeLine[] }[];
  /** `info mtree -f`: "FlatView #n" with the address spaces that use it */
  flatViews: { spaces: string[]; root: string; ranges: MtreeLine[] }[];
}

const LINE = /^(\s*)([0-9a-f]+)-([0-9a-f]+) \(prio (-?\d+), ([\w/-]+)\): (.*)$/i;

/** `info mtree` and/or `info mtree -f` (either, or both concatenated). */
export function hmpMtree(text: string): Mtree {
  const t: Mtree = { sections: [], flatViews: [] };
  let sec: Mtree['sections'][number] | undefined;
  let fv: Mtree['flatViews'][number] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    let m: RegExpExecArray | null;
    if ((m = /^(address-space|memory-region): (.+)$/.exec(line))) {
      fv = undefined;
      const kind = m[1] as 'address-space' | 'memory-region';
      // Address spaces with one root are listed together, their tree printed once after the last.
      if (sec && sec.kind === kind && kind === 'address-space' && sec.lines.length === 0) sec.names.push(m[2]);
      else t.sections.push((sec = { kind, names: [m[2]], lines: [] }));
      continue;
    }
    if ((m = /^FlatView #\d+$/.exec(line))) {
      sec = undefined;
      t.flatViews.push((fv = { spaces: [], root: '', ranges: [] }));
      continue;
    }
    if (fv && (m = /^ AS "(.*)", root: /.exec(line))) { fv.spaces.push(m[1]); continue; }
    if (fv && (m = /^ Root memory region: (.*)$/.exec(line))) { fv.root = m[1]; continue; }
    if (!(m = LINE.exec(line))) continue;
    const e: MtreeLine = { depth: m[1].length, start: big(m[2]), end: big(m[3]) + 1n, prio: Number(m[4]), kind: m[5], name: '' };
    let rest = m[6].replace(/ \[disabled\]$/, '');
    const al = /^alias (.+?) @(.+?) ([0-9a-f]+)-[0-9a-f]+$/i.exec(rest);
    if (al && !fv) {
      e.name = al[1];
      e.alias = { target: al[2], start: big(al[3]) };
    } else {
      if (fv) {
        const off = / @([0-9a-f]+)$/i.exec(rest);
        if (off) { e.offsetInRegion = big(off[1]); rest = rest.slice(0, off.index); } else e.offsetInRegion = 0n;
      }
      e.name = rest;
    }
    if (fv) fv.ranges.push(e);
    else if (sec) sec.lines.push(e);
  }
  if (!t.sections.length && !t.flatViews.length) throw new Error(`info mtree: neither memory trees nor flat views in the output (${JSON.stringify(text.slice(0, 120))})`);
  return t;
}

/** A region's mr->addr (its offset in its container), from every place `info mtree` prints it. */
function regionAddr(t: Mtree, name: string): bigint | undefined {
  const seen = new Set<bigint>();
  for (const s of t.sections) {
    s.lines.forEach((l, i) => {
      if (l.alias || l.name !== name) return;
      let p = i - 1;
      while (p >= 0 && s.lines[p].depth >= l.depth) p--;
      // A root line is printed at base 0 (its start is its own mr->addr); a child at its
      // parent's start + its mr->addr.
      seen.add(p < 0 ? l.start : l.start - s.lines[p].start);
    });
  }
  if (seen.size > 1) throw new Error(`info mtree: region ${name} is printed at different offsets in its container (${[...seen].map((x) => `0x${x.toString(16)}`).join(', ')})`);
  return seen.values().next().value;
}

// ---- the address map -------------------------------------------------------------------------

export interface AccessRange {
  /** RAM block: ram-node<N> or memnvdimm<K> */
  name: string;
  /** plugin value (qemu_plugin_hwaddr_phys_addr in 7.2), inclusive */
  valueStart: number;
  /** exclusive */
  valueEnd: number;
  /** guest-physical address of valueStart */
  gpaStart: number;
  node: number;
}
export interface CellSize { id: number; memoryMiB: number }
export interface NvdimmSize { node: number; sizeMiB: number; /** label area at the end of the device (not guest-mapped) */ labelKiB?: number }

/** The plugin reads at most this many ranges (linear scan per access). */
export const MAX_MAP_RANGES = 16;

const hx = (n: number | bigint) => `0x${n.toString(16)}`;

/** value → (GPA, node) ranges for every NUMA cell's RAM block (ram-node<id>; pc.ram for a guest
 *  without NUMA) and every NVDIMM (memnvdimm<K>, K in device order). Throws on a block it cannot
 *  place, on a size that disagrees with the cells, and on value ranges that overlap (each other,
 *  or any other RAM block the guest can reach, e.g. pc.bios). */
export function buildAddressMap(ramblocks: Ramblock[], mtree: Mtree, cells: CellSize[], nvdimms: NvdimmSize[]): AccessRange[] {
  const flat = mtree.flatViews.find((f) => f.spaces.includes('memory'));
  if (!flat) throw new Error('address map: no flat view of address space "memory" (give the output of `info mtree -f`)');
  const targets: { name: string; node: number; bytes: number; mapped: number; what: string }[] = [];
  for (const c of cells) {
    let name = `ram-node${c.id}`;
    if (!ramblocks.some((b) => b.name === name) && cells.length === 1 && ramblocks.some((b) => b.name === 'pc.ram')) name = 'pc.ram';
    targets.push({ name, node: c.id, bytes: c.memoryMiB * MiB, mapped: c.memoryMiB * MiB, what: `NUMA cell ${c.id}` });
  }
  nvdimms.forEach((n, k) => {
    const bytes = n.sizeMiB * MiB;
    targets.push({ name: `memnvdimm${k}`, node: n.node, bytes, mapped: bytes - (n.labelKiB ?? 0) * 1024, what: `NVDIMM ${k} (node ${n.node})` });
  });
  const out: AccessRange[] = [];
  for (const tg of targets) {
    const b = ramblocks.find((x) => x.name === tg.name);
    if (!b) throw new Error(`address map: ${tg.what} has no RAM block ${tg.name} in info ramblock (blocks: ${ramblocks.map((x) => x.name).join(', ')})`);
    if (b.used !== tg.bytes) throw new Error(`address map: RAM block ${tg.name} is ${b.used / MiB} MiB, but ${tg.what} is ${tg.bytes / MiB} MiB`);
    const mrAddr = regionAddr(mtree, tg.name);
    if (mrAddr === undefined) throw new Error(`address map: region ${tg.name} is not in info mtree (cannot tell its offset in its container, mr->addr)`);
    const base = BigInt(b.offset) + mrAddr;
    // Pieces of the block the flat view maps, as (value, GPA) runs.
    const pieces = flat.ranges.filter((r) => r.name === tg.name).map((r) => {
      const off = r.offsetInRegion ?? 0n;
      return { vs: base + off, ve: base + off + (r.end - r.start), gpa: r.start };
    }).sort((x, y) => (x.vs < y.vs ? -1 : x.vs > y.vs ? 1 : 0));
    if (!pieces.length) throw new Error(`address map: ${tg.what} (${tg.name}) is not mapped into guest-physical memory (flat view of "memory")`);
    // Runs with one value→GPA offset are one range, across the holes between them (PAM/ROM
    // windows below 1 MiB split the flat view of cell 0; SMM's view maps the holes the same way).
    const merged: { vs: bigint; ve: bigint; gpa: bigint }[] = [];
    for (const p of pieces) {
      const last = merged.at(-1);
      if (last && last.gpa - last.vs === p.gpa - p.vs) last.ve = p.ve > last.ve ? p.ve : last.ve;
      else merged.push({ ...p });
    }
    // The runs must cover the block from its start, without gaps, for its whole guest-visible size.
    let at = base;
    for (const m of merged) {
      if (m.vs > at) throw new Error(`address map: ${tg.name} bytes ${hx(at - base)}–${hx(m.vs - base)} are not mapped into guest-physical memory: the map cannot place them`);
      at = m.ve > at ? m.ve : at;
    }
    if (at - base < BigInt(tg.mapped)) throw new Error(`address map: only ${hx(at - base)} of ${hx(tg.mapped)} bytes of ${tg.name} are mapped into guest-physical memory`);
    for (const m of merged) {
      out.push({ name: tg.name, valueStart: exact(m.vs, `${tg.name} value`), valueEnd: exact(m.ve, `${tg.name} value end`), gpaStart: exact(m.gpa, `${tg.name} GPA`), node: tg.node });
    }
  }
  out.sort((x, y) => x.valueStart - y.valueStart);
  const clash = (a: { name: string; valueStart: number; valueEnd: number }, b: { name: string; valueStart: number; valueEnd: number }) =>
    new Error(`address map: plugin values of ${a.name} [${hx(a.valueStart)}, ${hx(a.valueEnd)}) and ${b.name} [${hx(b.valueStart)}, ${hx(b.valueEnd)}) overlap ` +
      '(QEMU 7.2 reports ram_addr + mr->addr, not the guest-physical address): accesses to them cannot be told apart; refusing the map');
  for (let i = 1; i < out.length; i++) if (out[i].valueStart < out[i - 1].valueEnd) throw clash(out[i - 1], out[i]);
  // Any other RAM block the guest can reach (in the flat view) must not land in our ranges either.
  const names = new Set(targets.map((t) => t.name));
  for (const r of flat.ranges) {
    if (names.has(r.name)) continue;
    const b = ramblocks.find((x) => x.name === r.name);
    if (!b) continue; // MMIO, or a region that is not a RAM block
    const mrAddr = regionAddr(mtree, r.name);
    if (mrAddr === undefined) throw new Error(`address map: RAM block ${r.name} is guest-visible at ${hx(r.start)} but not in info mtree: cannot check that its plugin values stay clear of the map`);
    const vs = BigInt(b.offset) + mrAddr + (r.offsetInRegion ?? 0n);
    const other = { name: `${r.name} (guest-visible at GPA ${hx(r.start)})`, valueStart: Number(vs), valueEnd: Number(vs + (r.end - r.start)) };
    for (const o of out) if (other.valueStart < o.valueEnd && o.valueStart < other.valueEnd) throw clash(o, other);
  }
  if (out.length > MAX_MAP_RANGES) throw new Error(`address map: ${out.length} ranges, the plugin takes at most ${MAX_MAP_RANGES}`);
  return out;
}

/** The map file the plugin reads: "valueStart valueEnd gpaStart node" (hex, hex, hex, decimal). */
export function renderMapFile(ranges: AccessRange[]): string {
  const h = (n: number) => `0x${n.toString(16).padStart(16, '0')}`;
  return [
    '# ftharness access-counter map (src/numa/plugin/counters.ts): QEMU 7.2 plugin value range -> guest-physical address, NUMA node',
    '# valueStart valueEnd(exclusive) gpaStart node',
    ...ranges.map((r) => `${h(r.valueStart)} ${h(r.valueEnd)} ${h(r.gpaStart)} ${r.node}  # ${r.name}`),
    '',
  ].join('\n');
}

/** The range holding a guest-physical address (undefined: no NUMA RAM there). */
export function rangeOfGpa(ranges: AccessRange[], gpa: number): AccessRange | undefined {
  return ranges.find((r) => gpa >= r.gpaStart && gpa < r.gpaStart + (r.valueEnd - r.valueStart));
}

// ---- the counters file (layout: src/numa/tcg/counter.c, mirrored exactly) -----------------------

export const COUNTERS_MAGIC = 'FTHNUMA1';
export const COUNTERS_VERSION = 1;
export const HEADER_BYTES = 128;
/** u64 header fields, by index (byte offset = 8 × index) */
export const H = {
  magic: 0, version: 1, vcpus: 2, nodes: 3, pages: 4, armed: 5, armedAtNs: 6, ranges: 7, state: 8,
  mapErrorLine: 9, intervalMs: 10, vcpuStride: 11, vcpuOffset: 12, pagesOffset: 13, exited: 14, seriesLines: 15,
} as const;
export const STATES = ['waiting-for-map', 'map-loaded', 'resetting', 'armed', 'map-invalid'] as const;
export type CounterState = (typeof STATES)[number];

/** Offsets and sizes for (vcpus, nodes, pages): vCPU blocks of counts[nodes][4] + unmapped, io,
 *  beyond, nohw (u64), rounded up to 64 bytes; then u32 page hits. */
export function countersLayout(vcpus: number, nodes: number, pages: number) {
  const vcpuStride = Math.ceil((nodes * 4 + 4) / 8) * 64;
  const vcpuOffset = HEADER_BYTES;
  const pagesOffset = vcpuOffset + vcpus * vcpuStride;
  return { vcpuOffset, vcpuStride, pagesOffset, bytes: pagesOffset + pages * 4 };
}

export interface NodeCounts { rU: number; wU: number; rK: number; wK: number }
export interface VcpuCounts {
  node: NodeCounts[];
  /** RAM accesses in no map range */
  unmapped: number;
  /** MMIO accesses */
  io: number;
  /** user accesses to a mapped GPA at or past pages × 4 KiB (no per-page counter) */
  beyond: number;
  /** accesses whose TLB lookup failed in the plugin */
  nohw: number;
}
export interface CountersSnapshot {
  vcpus: number;
  nodes: number;
  pages: number;
  armed: boolean;
  /** CLOCK_REALTIME ms of arming (undefined while unarmed) */
  armedAtMs?: number;
  state: CounterState;
  mapErrorLine: number;
  rangesLoaded: number;
  intervalMs: number;
  exited: boolean;
  seriesLines: number;
  perVcpu: VcpuCounts[];
  /** per vCPU (= perVcpu[v].unmapped) */
  unmapped: number[];
  /** user accesses (reads + writes) per 4 KiB guest-physical page */
  pageHits: Uint32Array;
}

const u64 = (b: Buffer, off: number) => Number(b.readBigUInt64LE(off));

/** Decode a counters file's bytes (throws on anything that is not a whole v1 file). */
export function decodeCounters(b: Buffer): CountersSnapshot {
  if (b.length < HEADER_BYTES || b.toString('latin1', 0, 8) !== COUNTERS_MAGIC) throw new Error('not an access-counter file (no FTHNUMA1 header yet)');
  const f = (k: keyof typeof H) => u64(b, H[k] * 8);
  if (f('version') !== COUNTERS_VERSION) throw new Error(`access-counter file version ${f('version')}, this reader knows ${COUNTERS_VERSION}`);
  const vcpus = f('vcpus'), nodes = f('nodes'), pages = f('pages');
  const L = countersLayout(vcpus, nodes, pages);
  if (f('vcpuStride') !== L.vcpuStride || f('vcpuOffset') !== L.vcpuOffset || f('pagesOffset') !== L.pagesOffset) {
    throw new Error(`access-counter file layout differs from this reader's (stride ${f('vcpuStride')} vs ${L.vcpuStride}, pages at ${f('pagesOffset')} vs ${L.pagesOffset})`);
  }
  if (b.length < L.bytes) throw new Error(`access-counter file is ${b.length} bytes, its header needs ${L.bytes}`);
  const perVcpu: VcpuCounts[] = [];
  for (let v = 0; v < vcpus; v++) {
    const o = L.vcpuOffset + v * L.vcpuStride;
    const node: NodeCounts[] = [];
    for (let n = 0; n < nodes; n++) {
      const q = o + n * 32;
      node.push({ rU: u64(b, q), wU: u64(b, q + 8), rK: u64(b, q + 16), wK: u64(b, q + 24) });
    }
    const t = o + nodes * 32;
    perVcpu.push({ node, unmapped: u64(b, t), io: u64(b, t + 8), beyond: u64(b, t + 16), nohw: u64(b, t + 24) });
  }
  const pageHits = new Uint32Array(pages);
  for (let p = 0; p < pages; p++) pageHits[p] = b.readUInt32LE(L.pagesOffset + 4 * p);
  const armed = f('armed') === 1;
  const st = f('state');
  return {
    vcpus, nodes, pages, armed,
    ...(armed ? { armedAtMs: Number(b.readBigUInt64LE(H.armedAtNs * 8) / 1000n) / 1000 } : {}),
    state: STATES[st] ?? (`unknown(${st})` as CounterState),
    mapErrorLine: f('mapErrorLine'), rangesLoaded: f('ranges'), intervalMs: f('intervalMs'),
    exited: f('exited') === 1, seriesLines: f('seriesLines'),
    perVcpu, unmapped: perVcpu.map((x) => x.unmapped), pageHits,
  };
}

export async function readCounters(path: string): Promise<CountersSnapshot> {
  return decodeCounters(await readFile(path));
}

/** Pages whose hit count changed from a to b, with the change (u32 counters: modulo 2^32). */
export function diffPageHits(a: CountersSnapshot | Uint32Array, b: CountersSnapshot | Uint32Array): { page: number; gpa: number; delta: number }[] {
  const x = a instanceof Uint32Array ? a : a.pageHits, y = b instanceof Uint32Array ? b : b.pageHits;
  if (x.length !== y.length) throw new Error(`diffPageHits: ${x.length} vs ${y.length} pages`);
  const out: { page: number; gpa: number; delta: number }[] = [];
  for (let p = 0; p < y.length; p++) if (y[p] !== x[p]) out.push({ page: p, gpa: p * 4096, delta: (y[p] - x[p]) >>> 0 });
  return out;
}

/** Sum of user (U) or kernel (K) reads/writes over vCPUs and nodes, for quick checks. */
export function nodeTotals(s: CountersSnapshot): NodeCounts[] {
  return Array.from({ length: s.nodes }, (_, n) => s.perVcpu.reduce((a, v) => ({
    rU: a.rU + v.node[n].rU, wU: a.wU + v.node[n].wU, rK: a.rK + v.node[n].rK, wK: a.wK + v.node[n].wK,
  }), { rU: 0, wU: 0, rK: 0, wK: 0 }));
}

// ---- the series file -----------------------------------------------------------------------------

export interface SeriesPoint {
  /** host CLOCK_REALTIME, ms */
  t: number;
  /** [vcpu][node] = [rU, wU, rK, wK], cumulative since arming */
  c: number[][][];
  /** unmapped per vCPU, cumulative */
  u: number[];
  /** the line written at arming */
  armed?: boolean;
  /** the line written at QEMU exit */
  final?: boolean;
}

/** The series so far; a last line still being written (no newline yet) is left out. */
export function parseSeries(text: string): SeriesPoint[] {
  // After the last '\n' is either nothing or a line the plugin has not finished: drop it.
  const complete = text.split('\n').slice(0, -1);
  return complete.filter((l) => l.trim()).map((l, i) => {
    let o: SeriesPoint;
    try { o = JSON.parse(l) as SeriesPoint; } catch { throw new Error(`access-counter series line ${i + 1} is not JSON: ${l.slice(0, 80)}`); }
    if (typeof o.t !== 'number' || !Array.isArray(o.c) || !Array.isArray(o.u)) throw new Error(`access-counter series line ${i + 1} lacks t, c or u`);
    return o;
  });
}

export async function readSeries(path: string): Promise<SeriesPoint[]> {
  return parseSeries(await readFile(path, 'utf8'));
}

// ---- arming a running guest ------------------------------------------------------------------------

// libvirt.ts loads the native libvirt binding: only when a guest is really asked something, so the
// pure functions above import without it.
const virsh = async (args: string[]) => (await import('../../vm/libvirt.js')).virsh(args);

async function hmp(domain: string, cmd: string): Promise<string> {
  const r = await virsh(['qemu-monitor-command', domain, '--hmp', cmd]);
  if (r.exitCode !== 0) throw new Error(`domain ${domain}: virsh qemu-monitor-command --hmp '${cmd}' failed: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** The access-counter plugin arguments the running domain was started with (live XML). */
export async function domainCounterArgs(domain: string): Promise<Record<string, string>> {
  const r = await virsh(['dumpxml', domain]);
  if (r.exitCode !== 0) throw new Error(`domain ${domain}: virsh dumpxml failed: ${(r.stderr || r.stdout).trim()}`);
  const d = parseDomainXml(r.stdout).domain;
  const raw = d?.['qemu:commandline']?.['qemu:arg'];
  const values: string[] = (Array.isArray(raw) ? raw : raw ? [raw] : []).map((a: { '@value': string }) => a['@value']);
  for (let i = 0; i + 1 < values.length; i++) {
    if (values[i] !== '-plugin') continue;
    const kv = parsePluginArg(values[i + 1]);
    if (kv) return kv;
  }
  throw new Error(`domain ${domain} was not started with the access-counter plugin (no "-plugin …libfthnuma.so" in its qemu:commandline)`);
}

export interface Armed { ranges: AccessRange[]; armedAtMs: number; counters: string; mapFile: string }

/** Build the address map of a running guest from HMP, write it (atomically) where its plugin
 *  looks, and wait until the plugin says it is armed. */
export async function armAccessCounter(domain: string, mapFile: string, cells: CellSize[], nvdimms: NvdimmSize[], opts: { counters?: string; timeoutMs?: number } = {}): Promise<Armed> {
  const args = await domainCounterArgs(domain);
  if (!args.map || resolve(args.map) !== resolve(mapFile)) throw new Error(`domain ${domain}: its plugin reads the map from ${args.map ?? '(no map= argument)'}, not ${mapFile}`);
  const counters = opts.counters ?? args.out;
  if (!counters) throw new Error(`domain ${domain}: its plugin has no out= (counters file) argument`);
  const ranges = buildAddressMap(hmpRamblocks(await hmp(domain, 'info ramblock')), hmpMtree(`${await hmp(domain, 'info mtree')}\n${await hmp(domain, 'info mtree -f')}`), cells, nvdimms);
  const tmp = `${mapFile}.tmp-${process.pid}`;
  await writeFile(tmp, renderMapFile(ranges));
  await rename(tmp, mapFile);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const t0 = Date.now();
  let last = 'no counters file yet';
  while (Date.now() - t0 < timeoutMs) {
    try {
      const s = await readCounters(counters);
      if (s.armed) return { ranges, armedAtMs: s.armedAtMs!, counters, mapFile };
      // (a refusal of an earlier map stays in the header until the plugin's next 50 ms poll)
      if (s.state === 'map-invalid' && Date.now() - t0 > 500) throw new Error(`domain ${domain}: the access-counter plugin refused the map ${mapFile} (line ${s.mapErrorLine}; its message is in the domain's QEMU log)`);
      last = `state ${s.state}`;
    } catch (e) {
      if (/refused the map/.test((e as Error).message)) throw e;
      last = (e as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`domain ${domain}: the access counter did not arm within ${timeoutMs} ms (${last}); it arms when a vCPU next wakes from idle, after reading ${mapFile}`);
}
