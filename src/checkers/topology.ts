// Three-sided topology check: what libvirt made of the spec (live domain XML), what QEMU was
// started with (its command line, read from /proc), and what the guest kernel sees (sysfs, and
// the kernel's own parse of the ACPI HMAT in its log). judgeTopology is a pure function of those
// three readings; checkTopology collects them.
import { readFile } from 'node:fs/promises';
import type { CheckResult } from '../results/types.js';
import type { GuestAgent } from '../vm/agent.js';
import type { HmatEntry, VmSpec } from '../vm/spec.js';
import { parseDomainXml } from '../vm/xml.js';

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export async function qemuCommandLine(domain: string): Promise<string[]> {
  const pid = (await readFile(`/run/libvirt/qemu/${domain}.pid`, 'utf8')).trim();
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
}

/** Linux prints cpulists as ranges ("0-1"); expand for comparison. */
export function expandCpuList(s: string): number[] {
  return s.split(',').filter(Boolean).flatMap((p) => {
    const [a, b] = p.split('-').map(Number);
    return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}
const cpuList = (cpus: number[]) => [...cpus].sort((x, y) => x - y).join(',');

/** One HMAT value as a side reports it: latency in ns, bandwidth in MiB/s. */
export interface HmatValue { initiator: number; target: number; type: HmatEntry['type']; kind: 'latency' | 'bandwidth'; value: number }

/** The spec's HMAT as single values, the shape every side is compared in. */
export function specHmat(spec: VmSpec): HmatValue[] {
  return (spec.numa?.hmat ?? []).flatMap((h) => [
    ...(h.latencyNs !== undefined ? [{ initiator: h.initiator, target: h.target, type: h.type, kind: 'latency' as const, value: h.latencyNs }] : []),
    ...(h.bandwidthMiBs !== undefined ? [{ initiator: h.initiator, target: h.target, type: h.type, kind: 'bandwidth' as const, value: h.bandwidthMiBs }] : []),
  ]);
}
const hmatKey = (h: Omit<HmatValue, 'value'>) => `${h.type}-${h.kind} ${h.initiator}→${h.target}`;

/** QEMU's `-numa hmat-lb,initiator=0,target=1,hierarchy=memory,data-type=access-latency,latency=120`
 *  (bandwidth as e.g. `2097152K`, KiB/s). */
export function qemuHmat(cmdline: string[]): HmatValue[] {
  return cmdline.filter((a) => a.startsWith('hmat-lb,')).flatMap((a) => {
    const kv = Object.fromEntries(a.split(',').slice(1).map((p) => p.split('=') as [string, string]));
    const m = /^(access|read|write)-(latency|bandwidth)$/.exec(kv['data-type'] ?? '');
    if (!m || kv.hierarchy !== 'memory') return [];
    const kind = m[2] as 'latency' | 'bandwidth';
    let value = Number(kind === 'latency' ? kv.latency : NaN);
    if (kind === 'bandwidth') {
      const b = /^(\d+)([KMG]?)$/.exec(kv.bandwidth ?? '');
      value = b ? Number(b[1]) * { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[b[2] as '' | 'K' | 'M' | 'G'] / 2 ** 20 : NaN;
    }
    return [{ initiator: Number(kv.initiator), target: Number(kv.target), type: m[1] as HmatEntry['type'], kind, value }];
  });
}

/** The guest kernel's log of the HMAT it parsed:
 *  `acpi/hmat: Locality: Flags:00 Type:Access Latency …` then `acpi/hmat:   Initiator-Target[0-1]:120 nsec`. */
export function guestHmat(dmesg: string): HmatValue[] {
  const out: HmatValue[] = [];
  let cur: { type: HmatEntry['type']; kind: 'latency' | 'bandwidth' } | undefined;
  for (const line of dmesg.split('\n')) {
    const loc = /acpi\/hmat: Locality: .*Type:(Access|Read|Write) (Latency|Bandwidth)/.exec(line);
    if (loc) { cur = { type: loc[1].toLowerCase() as HmatEntry['type'], kind: loc[2].toLowerCase() as 'latency' | 'bandwidth' }; continue; }
    const v = /acpi\/hmat:\s+Initiator-Target\[(\d+)-(\d+)\]:(\d+) (nsec|MB\/s)/.exec(line);
    if (v && cur) out.push({ initiator: Number(v[1]), target: Number(v[2]), ...cur, value: Number(v[3]) });
  }
  return out;
}

function compareHmat(side: string, want: HmatValue[], got: HmatValue[]): string[] {
  const bad: string[] = [];
  const have = new Map(got.map((h) => [hmatKey(h), h.value]));
  for (const w of want) {
    const v = have.get(hmatKey(w));
    if (v === undefined) bad.push(`${side} has no HMAT ${hmatKey(w)}`);
    else if (v !== w.value) bad.push(`${side} HMAT ${hmatKey(w)} is ${v}, spec ${w.value}`);
  }
  return bad;
}

/** The live domain XML against the spec: cells (cpus, memory, distances), NVDIMMs, HMAT. */
export function xmlSide(spec: VmSpec, liveXml: string): string[] {
  const bad: string[] = [];
  const dom = parseDomainXml(liveXml);
  const cells = asArray(dom.domain?.cpu?.numa?.cell);
  const want = spec.numa?.cells ?? [];
  if (cells.length !== want.length) bad.push(`domain XML has ${cells.length} NUMA cells, spec ${want.length}`);
  for (const c of want) {
    const x = cells.find((e: any) => Number(e['@id']) === c.id);
    if (!x) continue;
    if (cpuList(expandCpuList(String(x['@cpus']))) !== cpuList(c.cpus)) bad.push(`domain XML cell ${c.id} cpus ${x['@cpus']}, spec ${cpuList(c.cpus)}`);
    if (Number(x['@memory']) !== c.memoryMiB * 1024 || (x['@unit'] ?? 'KiB') !== 'KiB') bad.push(`domain XML cell ${c.id} memory ${x['@memory']} ${x['@unit']}, spec ${c.memoryMiB * 1024} KiB`);
    if (c.distances) {
      const sib = new Map(asArray(x.distances?.sibling).map((s: any) => [Number(s['@id']), Number(s['@value'])]));
      for (const [id, d] of Object.entries(c.distances)) if (sib.get(Number(id)) !== d) bad.push(`domain XML cell ${c.id} distance to ${id} is ${sib.get(Number(id))}, spec ${d}`);
    }
  }
  const ic = dom.domain?.cpu?.numa?.interconnects;
  const xmlHmat: HmatValue[] = [
    ...asArray(ic?.latency).map((l: any) => ({ initiator: Number(l['@initiator']), target: Number(l['@target']), type: l['@type'], kind: 'latency' as const, value: Number(l['@value']) })),
    ...asArray(ic?.bandwidth).map((l: any) => ({ initiator: Number(l['@initiator']), target: Number(l['@target']), type: l['@type'], kind: 'bandwidth' as const, value: Number(l['@value']) * ({ KiB: 1 / 1024, MiB: 1, GiB: 1024 } as Record<string, number>)[l['@unit'] ?? 'KiB'] })),
  ];
  bad.push(...compareHmat('domain XML', specHmat(spec), xmlHmat));
  const mems = asArray(dom.domain?.devices?.memory).filter((m: any) => m['@model'] === 'nvdimm');
  if (mems.length !== spec.nvdimms.length) bad.push(`domain XML has ${mems.length} nvdimm devices, spec ${spec.nvdimms.length}`);
  spec.nvdimms.forEach((n, i) => {
    const m = mems[i];
    if (!m) return;
    if (Number(m.target?.node) !== n.node) bad.push(`nvdimm ${i}: XML node ${m.target?.node}, spec ${n.node}`);
    if (m.source?.path !== n.backingFile) bad.push(`nvdimm ${i}: XML backing ${m.source?.path}, spec ${n.backingFile}`);
    if (Number(m.target?.size?.['#'] ?? m.target?.size) !== n.sizeMiB * 1024) bad.push(`nvdimm ${i}: XML size ${JSON.stringify(m.target?.size)}, spec ${n.sizeMiB * 1024} KiB`);
  });
  return bad;
}

/** QEMU's command line against the spec: -numa node/dist/hmat-lb, the RAM and NVDIMM backends. */
export function qemuSide(spec: VmSpec, cmdline: string[]): string[] {
  const bad: string[] = [];
  const want = spec.numa?.cells ?? [];
  const nodes = cmdline.filter((a) => /^node,nodeid=\d+/.test(a)).map((a) => {
    const parts = a.split(',');
    return {
      id: Number(/nodeid=(\d+)/.exec(a)![1]),
      cpus: parts.filter((p) => p.startsWith('cpus=')).flatMap((p) => expandCpuList(p.slice(5))),
      memdev: /memdev=([^,]+)/.exec(a)?.[1],
    };
  });
  if (nodes.length !== want.length) bad.push(`QEMU has ${nodes.length} -numa node args, spec ${want.length} cells`);
  for (const c of want) {
    const n = nodes.find((x) => x.id === c.id);
    if (!n) continue;
    if (cpuList(n.cpus) !== cpuList(c.cpus)) bad.push(`QEMU node ${c.id} cpus ${cpuList(n.cpus)}, spec ${cpuList(c.cpus)}`);
    const be = cmdline.find((a) => a.includes(`"id":"${n.memdev}"`));
    const size = Number(/"size":(\d+)/.exec(be ?? '')?.[1]);
    if (size !== c.memoryMiB * 2 ** 20) bad.push(`QEMU node ${c.id} memory backend ${n.memdev} is ${size} bytes, spec ${c.memoryMiB * 2 ** 20}`);
    if (c.distances) {
      for (const [dst, d] of Object.entries(c.distances)) {
        if (Number(dst) === c.id) continue; // QEMU gets only the off-diagonal distances
        const arg = cmdline.find((a) => a === `dist,src=${c.id},dst=${dst},val=${d}`);
        if (!arg) bad.push(`QEMU has no -numa dist,src=${c.id},dst=${dst},val=${d}`);
      }
    }
  }
  const hmat = specHmat(spec);
  if (hmat.length && !cmdline.some((a) => /(^|,)hmat=on(,|$)/.test(a))) bad.push('QEMU machine lacks hmat=on');
  bad.push(...compareHmat('QEMU', hmat, qemuHmat(cmdline)));
  spec.nvdimms.forEach((n, i) => {
    const dev = cmdline.find((a) => a.includes('"driver":"nvdimm"') && a.includes(`"id":"nvdimm${i}"`));
    if (!dev) bad.push(`QEMU has no nvdimm${i} device`);
    else if (!dev.includes(`"node":${n.node}`)) bad.push(`QEMU nvdimm${i} is not on node ${n.node}: ${dev}`);
    const be = cmdline.find((a) => a.includes(`"mem-path":"${n.backingFile}"`));
    if (!be) bad.push(`QEMU has no memory backend on ${n.backingFile}`);
    else if ((n.access ?? 'shared') === 'shared' && !be.includes('"share":true')) bad.push(`QEMU backend for nvdimm${i} is not share=on`);
    if (be && !be.includes(`"size":${n.sizeMiB * 2 ** 20}`)) bad.push(`QEMU backend for nvdimm${i} has the wrong size: ${be}`);
  });
  if (spec.nvdimms.length && !cmdline.some((a) => /(^|,)nvdimm=on(,|$)/.test(a))) bad.push('QEMU machine lacks nvdimm=on');
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
dmesg 2>/dev/null | grep 'acpi/hmat'
true`;

export interface GuestTopology {
  nodes: { id: number; cpus: string; distance: number[]; memKiB: number }[];
  /** dev = the stable /dev/nvdimmK name (K = index in the spec), block = the kernel's pmemN */
  pmem: { dev: string; bytes: number; node: number; block: string }[];
  /** the HMAT as the guest kernel parsed it (from its log) */
  hmat: HmatValue[];
}

export function parseGuestTopology(out: string): GuestTopology {
  const t: GuestTopology = { nodes: [], pmem: [], hmat: guestHmat(out) };
  for (const line of out.split('\n')) {
    let m = /^node node(\d+) cpus=(\S*) distance=(\S*) memkb=(\d*)/.exec(line);
    if (m) t.nodes.push({ id: Number(m[1]), cpus: m[2], distance: m[3].split(',').map(Number), memKiB: Number(m[4]) });
    m = /^pmem (\S+) sectors=(\d+) node=(\S+) blk=(\S+)/.exec(line);
    if (m) t.pmem.push({ dev: m[1], bytes: Number(m[2]) * 512, node: Number(m[3]), block: m[4] });
  }
  return t;
}

export async function readGuestTopology(agent: GuestAgent): Promise<GuestTopology> {
  return parseGuestTopology(await agent.sh(GUEST_SCRIPT));
}

/** What the guest kernel sees against the spec: nodes (cpus, distances, memory), pmem, HMAT. */
export function guestSide(spec: VmSpec, g: GuestTopology): string[] {
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
  // The kernel logs bandwidth in MB/s and rounds; the spec's MiB/s values are what QEMU wrote.
  bad.push(...compareHmat('guest kernel', specHmat(spec), g.hmat));
  return bad;
}

/**
 * The topology oracle. Every dimension of the spec is compared on each side that carries it;
 * any difference is a problem and the check is false; no problem is true. There is no
 * `unknown`: every side is read (a side that cannot be read is a harness error).
 *
 * | dimension                          | domain XML | QEMU command line          | guest                 |
 * |------------------------------------|------------|----------------------------|-----------------------|
 * | NUMA cell count                    | cells      | -numa node                 | sysfs nodes           |
 * | vCPUs per cell                     | cpus=      | cpus=                      | node cpulist          |
 * | memory per cell                    | memory     | memory-backend size        | MemTotal 60–100 %     |
 * | SLIT distances                     | siblings   | -numa dist (off-diagonal)  | node distance         |
 * | HMAT latency / bandwidth per entry | interconnects | hmat=on + -numa hmat-lb | kernel log acpi/hmat  |
 * | NVDIMM count, node                 | memory devs | nvdimm devices            | /dev/nvdimmK node     |
 * | NVDIMM backing file, share, size   | source, size | memory-backend-file      | /dev/nvdimmK size     |
 */
export function judgeTopology(label: string, spec: VmSpec, sides: { liveXml: string; cmdline: string[]; guest: GuestTopology }): CheckResult {
  const problems = [...xmlSide(spec, sides.liveXml), ...qemuSide(spec, sides.cmdline), ...guestSide(spec, sides.guest)];
  const g = sides.guest;
  return {
    name: `topology of ${label}`,
    valid: problems.length === 0,
    message: problems.length ? problems.join('; ') : `${g.nodes.length} NUMA nodes, ${g.pmem.length} pmem device(s)${g.hmat.length ? `, ${specHmat(spec).length} HMAT value(s)` : ''} as specified (XML, QEMU, guest)`,
    evidence: {
      problems, guest: g,
      qemuNumaArgs: sides.cmdline.filter((a) => /^(node|dist|hmat-lb),/.test(a)),
      qemuNvdimms: sides.cmdline.filter((a) => a.includes('"driver":"nvdimm"')),
    },
  };
}

export async function checkTopology(label: string, spec: VmSpec, liveXml: string, agent: GuestAgent): Promise<CheckResult> {
  return judgeTopology(label, spec, { liveXml, cmdline: await qemuCommandLine(spec.name), guest: await readGuestTopology(agent) });
}
