// Two-sided topology check: what libvirt made of the spec (live domain XML), what QEMU was
// started with (its command line, read from /proc), and what the guest kernel sees (sysfs).
import { readFile } from 'node:fs/promises';
import type { CheckResult } from '../results/types.js';
import type { GuestAgent } from '../vm/agent.js';
import type { VmSpec } from '../vm/spec.js';
import { parseDomainXml } from '../vm/xml.js';

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export async function qemuCommandLine(domain: string): Promise<string[]> {
  const pid = (await readFile(`/run/libvirt/qemu/${domain}.pid`, 'utf8')).trim();
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
}

function hostSide(spec: VmSpec, liveXml: string, cmdline: string[]): string[] {
  const bad: string[] = [];
  const dom = parseDomainXml(liveXml);
  const cells = asArray(dom.domain?.cpu?.numa?.cell);
  const want = spec.numa?.cells ?? [];
  if (cells.length !== want.length) bad.push(`domain XML has ${cells.length} NUMA cells, spec ${want.length}`);
  const mems = asArray(dom.domain?.devices?.memory).filter((m: any) => m['@model'] === 'nvdimm');
  if (mems.length !== spec.nvdimms.length) bad.push(`domain XML has ${mems.length} nvdimm devices, spec ${spec.nvdimms.length}`);
  spec.nvdimms.forEach((n, i) => {
    const m = mems[i];
    if (!m) return;
    if (Number(m.target?.node) !== n.node) bad.push(`nvdimm ${i}: XML node ${m.target?.node}, spec ${n.node}`);
    if (m.source?.path !== n.backingFile) bad.push(`nvdimm ${i}: XML backing ${m.source?.path}, spec ${n.backingFile}`);
  });
  const args = cmdline.join(' ');
  const numaArgs = cmdline.filter((a) => /^node,nodeid=\d+/.test(a));
  if (numaArgs.length !== want.length) bad.push(`QEMU has ${numaArgs.length} -numa node args, spec ${want.length} cells`);
  spec.nvdimms.forEach((n, i) => {
    const dev = cmdline.find((a) => a.includes('"driver":"nvdimm"') && a.includes(`"id":"nvdimm${i}"`));
    if (!dev) bad.push(`QEMU has no nvdimm${i} device`);
    else if (!dev.includes(`"node":${n.node}`)) bad.push(`QEMU nvdimm${i} is not on node ${n.node}: ${dev}`);
    const be = cmdline.find((a) => a.includes(`"mem-path":"${n.backingFile}"`));
    if (!be) bad.push(`QEMU has no memory backend on ${n.backingFile}`);
    else if ((n.access ?? 'shared') === 'shared' && !be.includes('"share":true')) bad.push(`QEMU backend for nvdimm${i} is not share=on`);
    if (be && !be.includes(`"size":${n.sizeMiB * 2 ** 20}`)) bad.push(`QEMU backend for nvdimm${i} has the wrong size: ${be}`);
  });
  if (!args.includes('nvdimm=on') && spec.nvdimms.length) bad.push('QEMU machine lacks nvdimm=on');
  return bad;
}

const GUEST_SCRIPT = `
for n in /sys/devices/system/node/node[0-9]*; do
  echo "node $(basename $n) cpus=$(cat $n/cpulist) distance=$(cat $n/distance | tr ' ' ,) memkb=$(sed -n 's/.*MemTotal: *\\([0-9]*\\) kB/\\1/p' $n/meminfo)"
done
for l in /dev/nvdimm[0-9]*; do
  [ -e "$l" ] || continue
  b=/sys/block/$(basename $(readlink $l))
  echo "pmem $(basename $l) sectors=$(cat $b/size) node=$(cat $b/device/numa_node 2>/dev/null || echo ?) blk=$(basename $b)"
done
true`;

export interface GuestTopology {
  nodes: { id: number; cpus: string; distance: number[]; memKiB: number }[];
  /** dev = the stable /dev/nvdimmK name (K = index in the spec), block = the kernel's pmemN */
  pmem: { dev: string; bytes: number; node: number; block: string }[];
}

export async function readGuestTopology(agent: GuestAgent): Promise<GuestTopology> {
  const out = await agent.sh(GUEST_SCRIPT);
  const t: GuestTopology = { nodes: [], pmem: [] };
  for (const line of out.split('\n')) {
    let m = /^node node(\d+) cpus=(\S*) distance=(\S*) memkb=(\d*)/.exec(line);
    if (m) t.nodes.push({ id: Number(m[1]), cpus: m[2], distance: m[3].split(',').map(Number), memKiB: Number(m[4]) });
    m = /^pmem (\S+) sectors=(\d+) node=(\S+) blk=(\S+)/.exec(line);
    if (m) t.pmem.push({ dev: m[1], bytes: Number(m[2]) * 512, node: Number(m[3]), block: m[4] });
  }
  return t;
}

const cpuList = (cpus: number[]) => cpus.join(',');
/** Linux prints cpulists as ranges ("0-1"); expand for comparison. */
export function expandCpuList(s: string): number[] {
  return s.split(',').filter(Boolean).flatMap((p) => {
    const [a, b] = p.split('-').map(Number);
    return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}

function guestSide(spec: VmSpec, g: GuestTopology): string[] {
  const bad: string[] = [];
  const cells = spec.numa?.cells ?? [];
  if (cells.length && g.nodes.length !== cells.length) bad.push(`guest sees ${g.nodes.length} NUMA nodes, spec ${cells.length}`);
  for (const c of cells) {
    const n = g.nodes.find((x) => x.id === c.id);
    if (!n) { bad.push(`guest has no node${c.id}`); continue; }
    if (cpuList(expandCpuList(n.cpus)) !== cpuList(c.cpus)) bad.push(`guest node${c.id} cpus ${n.cpus}, spec ${cpuList(c.cpus)}`);
    if (c.distances) {
      const want = cells.map((x) => c.distances![x.id]);
      if (want.join(',') !== n.distance.join(',')) bad.push(`guest node${c.id} distances ${n.distance}, spec ${want}`);
    }
    // The kernel keeps some memory for itself: accept 60..100 % of the cell.
    const cellKiB = c.memoryMiB * 1024;
    if (n.memKiB > cellKiB || n.memKiB < cellKiB * 0.6) bad.push(`guest node${c.id} MemTotal ${n.memKiB} KiB, cell is ${cellKiB} KiB`);
  }
  spec.nvdimms.forEach((nv, i) => {
    const p = g.pmem.find((x) => x.dev === `nvdimm${i}`);
    if (!p) { bad.push(`guest has no /dev/nvdimm${i}`); return; }
    const want = nv.sizeMiB * 2 ** 20 - (nv.labelSizeKiB ?? 0) * 1024;
    // With a label area the namespace is a little smaller than the device; without, equal.
    if (nv.labelSizeKiB ? p.bytes > want || p.bytes < want * 0.9 : p.bytes !== want) bad.push(`guest /dev/nvdimm${i} (${p.block}) is ${p.bytes} bytes, NVDIMM is ${nv.sizeMiB} MiB`);
    if (p.node !== nv.node) bad.push(`guest /dev/nvdimm${i} (${p.block}) is on node ${p.node}, spec ${nv.node}`);
  });
  return bad;
}

export async function checkTopology(label: string, spec: VmSpec, liveXml: string, agent: GuestAgent): Promise<CheckResult> {
  const cmdline = await qemuCommandLine(spec.name);
  const guest = await readGuestTopology(agent);
  const host = hostSide(spec, liveXml, cmdline);
  const inGuest = guestSide(spec, guest);
  const problems = [...host, ...inGuest];
  return {
    name: `topology of ${label}`,
    valid: problems.length === 0,
    message: problems.length ? problems.join('; ') : `${guest.nodes.length} NUMA nodes and ${guest.pmem.length} pmem device(s) as specified (XML, QEMU, guest)`,
    evidence: { problems, guest, qemuNumaArgs: cmdline.filter((a) => a.startsWith('node,nodeid')), qemuNvdimms: cmdline.filter((a) => a.includes('"driver":"nvdimm"')) },
  };
}
