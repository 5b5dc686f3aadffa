// Host capability labels for CI queues and lab inventories (`ftharness doctor --json`): what
// this host can run fidelity-sensitive scenarios with. Read from sysfs, ndctl, perf and the
// accelerator decision; each label says where it came from. The flat `labels` list is what a CI
// runner's tags or a queue's selectors match on ("accel:kvm", "numa:2", "pmem:real", …).
import { existsSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export interface NumaNode { id: number; cpus: number; memoryBytes: number; distances: number[]; /** as sysfs prints it, e.g. "0-15,32-47" */ cpuList: string }

export interface HostLabels {
  accel?: string;
  cpuMode?: string;
  numa: { nodes: NumaNode[]; source: string };
  /** real NVDIMM namespaces (ndctl list -N), not the guests' emulated ones */
  nvdimms: { count: number; source: string };
  pmu: { kind: 'hardware' | 'software' | 'none'; source: string };
  bmc: { inBand: boolean; source: string };
  memory: { totalBytes: number; freeBytes: number };
  disk: { dir: string; freeBytes: number } | { dir: string; error: string };
  labels: string[];
}

/** "0-3,8,10-11" → 12 */
export function countCpuList(list: string): number {
  return list.trim() ? list.trim().split(',').reduce((a, r) => { const [x, y] = r.split('-').map(Number); return a + (y === undefined ? 1 : y - x + 1); }, 0) : 0;
}

/** The host's NUMA nodes from sysfs (root: for tests). One node when sysfs has no node dir. */
export function readNumaNodes(root = '/sys/devices/system/node'): NumaNode[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((d) => /^node\d+$/.test(d)).map((d) => {
    const dir = join(root, d);
    const kb = /MemTotal:\s+(\d+) kB/.exec(readFileSync(join(dir, 'meminfo'), 'utf8'));
    const cpuList = readFileSync(join(dir, 'cpulist'), 'utf8').trim();
    return {
      id: Number(d.slice(4)),
      cpus: countCpuList(cpuList),
      cpuList,
      memoryBytes: Number(kb?.[1] ?? 0) * 1024,
      distances: readFileSync(join(dir, 'distance'), 'utf8').trim().split(/\s+/).map(Number),
    };
  }).sort((a, b) => a.id - b.id);
}

/** Number of namespaces in `ndctl list -N` JSON (an object for one, an array for several, nothing for none). */
export function countNamespaces(json: string): number {
  const t = json.trim();
  if (!t) return 0;
  const v = JSON.parse(t) as unknown;
  return Array.isArray(v) ? v.length : v && typeof v === 'object' ? 1 : 0;
}

/** The flat labels a CI queue matches on. */
export function flatLabels(l: Omit<HostLabels, 'labels'>): string[] {
  return [
    `accel:${l.accel ?? 'undecided'}`,
    `numa:${Math.max(1, l.numa.nodes.length)}`,
    `pmem:${l.nvdimms.count > 0 ? 'real' : 'none'}`,
    `pmu:${l.pmu.kind}`,
    `bmc:${l.bmc.inBand ? 'in-band' : 'none'}`,
  ];
}

export async function hostLabels(o: { accel?: string; cpuMode?: string; workDir: string }): Promise<HostLabels> {
  const nodes = readNumaNodes();
  const nd = await execa('ndctl', ['list', '-N'], { reject: false, timeout: 10_000 }).catch(() => undefined);
  let nvdimms: HostLabels['nvdimms'];
  try { nvdimms = nd && nd.exitCode === 0 ? { count: countNamespaces(nd.stdout), source: 'ndctl list -N' } : { count: 0, source: `ndctl not usable${nd ? `: ${nd.stderr.split('\n')[0]}` : ''}` }; } catch { nvdimms = { count: 0, source: 'ndctl list -N: output not JSON' }; }
  const perf = await execa('perf', ['stat', '-x,', '-e', 'instructions,task-clock', 'true'], { reject: false, timeout: 20_000 }).catch(() => undefined);
  const instr = perf?.stderr.split('\n').find((l) => l.includes('instructions')) ?? '';
  const pmu: HostLabels['pmu'] = !perf || perf.exitCode !== 0 ? { kind: 'none', source: 'perf not usable' }
    : /not supported|not counted/.test(instr) || !instr ? { kind: 'software', source: 'perf stat: instructions not supported (software events only)' }
      : { kind: 'hardware', source: 'perf stat: instructions counted' };
  const ipmi = ['/dev/ipmi0', '/dev/ipmi/0', '/dev/ipmidev/0'].find((p) => existsSync(p));
  let disk: HostLabels['disk'];
  try { const fs = statfsSync(o.workDir); disk = { dir: o.workDir, freeBytes: fs.bavail * fs.bsize }; } catch (e) { disk = { dir: o.workDir, error: (e as Error).message }; }
  const base = {
    accel: o.accel, cpuMode: o.cpuMode,
    numa: { nodes, source: nodes.length ? '/sys/devices/system/node' : 'no sysfs NUMA nodes (one node)' },
    nvdimms, pmu,
    bmc: { inBand: !!ipmi, source: ipmi ? `${ipmi} (in-band IPMI)` : 'no in-band IPMI device; a lab BMC is configured per host in an inventory' },
    memory: { totalBytes: totalmem(), freeBytes: freemem() },
    disk,
  };
  return { ...base, labels: flatLabels(base) };
}
