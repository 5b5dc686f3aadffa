// QEMU 7.2's TCG plugin API reports a RAM access not by guest-physical address but as
// `block->offset + offset + block->mr->addr` (plugins/api.c; true GPAs only from QEMU 8.2). To
// count accesses per NUMA cell, the harness maps those values back through the RAM blocks
// (`info ramblock`) and the memory tree (`info mtree`): value range → (GPA, node). Ranges that
// overlap cannot be told apart, and are refused rather than guessed.

export interface RamBlock { name: string; offset: number; used: number }
export interface MapRange { block: string; valueStart: number; valueEnd: number; gpaStart: number; node: number }

// Containers span up to 2^64 (inexact as numbers, and never used); the ranges a map is built
// from are checked to be exact (below 2^53) where they are used.
const hex = (s: string) => Number(BigInt(`0x${s}`));

/** `info ramblock`: "  ram-node1  4 KiB  0x…20000000 0x…20000000 0x…20000000". */
export function parseRamblocks(text: string): RamBlock[] {
  const out: RamBlock[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)\s+\d+\s+\w+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s*$/i.exec(line);
    if (m) out.push({ name: m[1], offset: hex(m[2]), used: hex(m[3]) });
  }
  if (!out.length) throw new Error('info ramblock: no RAM block in the output');
  return out;
}

interface MtreeLine { depth: number; start: number; end: number; name: string; alias?: { target: string; start: number } }
interface Mtree { spaces: Map<string, MtreeLine[]>; regions: Map<string, MtreeLine[]> }

/** `info mtree` (not -f): the address spaces and the memory-region sections, line by line. */
export function parseMtree(text: string): Mtree {
  const spaces = new Map<string, MtreeLine[]>(), regions = new Map<string, MtreeLine[]>();
  let cur: MtreeLine[] | undefined;
  for (const line of text.split('\n')) {
    const head = /^(address-space|memory-region): (\S+)/.exec(line);
    if (head) { cur = []; (head[1] === 'address-space' ? spaces : regions).set(head[2], cur); continue; }
    const m = /^(\s*)([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, [\w/-]+\): (?:alias (\S+) @(\S+) ([0-9a-f]+)-[0-9a-f]+|(\S+))/i.exec(line);
    if (!m || !cur) continue;
    cur.push({ depth: m[1].length, start: hex(m[2]), end: hex(m[3]) + 1, name: m[4] ?? m[7], ...(m[5] ? { alias: { target: m[5], start: hex(m[6]) } } : {}) });
  }
  if (!spaces.has('memory')) throw new Error('info mtree: no "address-space: memory"');
  return { spaces, regions };
}

/** Where a block's region sits: the container it is mapped through and its offset there (= mr->addr). */
function placeRegion(t: Mtree, block: string): { container: string; mrAddr: number } {
  for (const [name, lines] of t.regions) {
    const root = lines[0];
    if (!root) continue;
    if (name === block && root.name === block) return { container: block, mrAddr: 0 };
    const child = lines.find((l) => l.name === block && l.depth > root.depth && !l.alias);
    if (child) return { container: name, mrAddr: child.start - root.start };
  }
  throw new Error(`info mtree: RAM block ${block} is in no memory-region section`);
}

/** Value ranges for the blocks in nodeOf (block name → NUMA node), with their GPAs. */
export function buildAddressMap(ramblockText: string, mtreeText: string, nodeOf: Record<string, number>): MapRange[] {
  const blocks = parseRamblocks(ramblockText);
  const tree = parseMtree(mtreeText);
  const system = tree.spaces.get('memory')!;
  const out: MapRange[] = [];
  for (const [name, node] of Object.entries(nodeOf)) {
    const b = blocks.find((x) => x.name === name);
    if (!b) throw new Error(`info ramblock: no block ${name} (blocks: ${blocks.map((x) => x.name).join(', ')})`);
    const { container, mrAddr } = placeRegion(tree, name);
    // Every alias of the container into guest-physical space that covers part of this block.
    let covered = 0;
    const aliases = system.filter((l) => l.alias?.target === container);
    // PAM windows (pam-ram, prio 1) re-map pieces of pc.ram at the same addresses as
    // ram-below-4g: an alias inside another with the same GPA − offset adds nothing.
    const delta = (l: MtreeLine) => l.start - l.alias!.start;
    const within = (a: MtreeLine, o: MtreeLine) => o !== a && delta(o) === delta(a) && o.start <= a.start && a.end <= o.end;
    for (const a of aliases.filter((x) => !aliases.some((o) => within(x, o)))) {
      const lo = Math.max(mrAddr, a.alias!.start), hi = Math.min(mrAddr + b.used, a.alias!.start + (a.end - a.start));
      if (hi <= lo) continue;
      covered += hi - lo;
      // lo, hi: offsets in the container; in the block they are lo − mrAddr, so the plugin's
      // value = b.offset + (lo − mrAddr) + mrAddr = b.offset + lo.
      out.push({ block: name, valueStart: b.offset + lo, valueEnd: b.offset + hi, gpaStart: a.start + (lo - a.alias!.start), node });
    }
    if (covered !== b.used) throw new Error(`info mtree: ${covered} of ${b.used} bytes of ${name} are mapped into guest-physical memory`);
  }
  for (const r of out) {
    if (![r.valueStart, r.valueEnd, r.gpaStart].every(Number.isSafeInteger)) throw new Error(`${r.block}: addresses beyond 2^53`);
  }
  out.sort((x, y) => x.valueStart - y.valueStart);
  for (let i = 1; i < out.length; i++) {
    if (out[i].valueStart < out[i - 1].valueEnd) {
      throw new Error(`plugin addresses of ${out[i - 1].block} and ${out[i].block} overlap (QEMU 7.2 reports ram_addr + mr->addr): accesses to them cannot be told apart`);
    }
  }
  return out;
}
