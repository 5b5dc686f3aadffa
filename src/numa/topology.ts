// The guest's NUMA view as placement needs it, parsed from sysfs text (pure functions over file
// contents, so they run in a guest and in unit tests alike). Imports nothing from the harness.

export interface NodeInfo { id: number; cpus: number[]; memTotalBytes: number; memFreeBytes: number }
export interface Topology {
  nodes: NodeInfo[];
  /** SLIT distances, distance[i][j] by position in `nodes` (relative: 10 = local) */
  distance: number[][];
  /** HMAT access0 read latency in ns, initiator → target, where the kernel reports it */
  readLatencyNs?: (number | undefined)[][];
}

/** "0-3,8,10-11" → [0,1,2,3,8,10,11]; empty text → []. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',').filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`cpulist: "${part}" is not a CPU or range`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`cpulist: range "${part}" runs backwards`);
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

/** nodeN/distance: "10 20" → [10, 20]. */
export function parseDistance(text: string): number[] {
  return text.trim().split(/\s+/).filter(Boolean).map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 10) throw new Error(`distance: "${x}" is not a SLIT distance (integer ≥ 10)`);
    return n;
  });
}

/** nodeN/meminfo ("Node 0 MemTotal:  123 kB") → bytes of MemTotal and MemFree. */
export function parseNodeMeminfo(text: string): { memTotalBytes: number; memFreeBytes: number } {
  const field = (name: string) => {
    const m = new RegExp(`^Node\\s+\\d+\\s+${name}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    if (!m) throw new Error(`meminfo: no ${name} line`);
    return Number(m[1]) * 1024;
  };
  return { memTotalBytes: field('MemTotal'), memFreeBytes: field('MemFree') };
}

/** SLIT is relative (10 = local), HMAT absolute ns: the cost model uses one scale per run, HMAT
 *  when the guest reports it for every pair, else SLIT. */
export function latencyMatrix(t: Topology): { source: 'hmat' | 'slit'; L: number[][] } {
  const h = t.readLatencyNs;
  const complete = h && t.nodes.every((_, i) => t.nodes.every((__, j) => typeof h[i]?.[j] === 'number'));
  if (complete) return { source: 'hmat', L: h!.map((row) => row.map((v) => v as number)) };
  return { source: 'slit', L: t.distance.map((r) => [...r]) };
}

export interface SpecCell { cpus: number[]; memoryMiB: number; distances?: number[] }

/** What the guest sees must be what the VmSpec declared: problems as "node N: …". */
export function checkAgainstSpec(t: Topology, cells: SpecCell[]): string[] {
  const p: string[] = [];
  if (t.nodes.length !== cells.length) p.push(`guest has ${t.nodes.length} NUMA nodes, the spec ${cells.length}`);
  cells.forEach((c, i) => {
    const n = t.nodes[i];
    if (!n) return;
    if (n.cpus.join() !== [...c.cpus].sort((a, b) => a - b).join()) p.push(`node ${i}: cpus ${n.cpus.join(',')}, spec ${c.cpus.join(',')}`);
    // MemTotal is what the kernel manages: somewhat below the cell (reserved, memmap), never above.
    if (n.memTotalBytes > c.memoryMiB * 2 ** 20) p.push(`node ${i}: MemTotal ${n.memTotalBytes} B exceeds the cell's ${c.memoryMiB} MiB`);
    const want = c.distances ?? cells.map((_, j) => (j === i ? 10 : 20));
    const got = t.distance[i] ?? [];
    if (got.join() !== want.join()) p.push(`node ${i}: distances ${got.join(' ')}, spec ${want.join(' ')}`);
  });
  return p;
}
