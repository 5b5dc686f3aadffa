// Guest NUMA cells bound to host NUMA nodes (numa[].hostNode): whether this host has the nodes a
// scenario binds to, and whether a run's topology is physical (every cell of every VM on its own
// host node) or emulated (QEMU's invention: any cell may sit anywhere in host memory).
import { readNumaNodes, type NumaNode } from '../hosts/labels.js';
import { LIBVIRT_URI } from '../vm/libvirt.js';
import type { Scenario } from '../scenario/load.js';

let cached: NumaNode[] | undefined;
/** This host's NUMA nodes (sysfs); a host without the node dir counts as node 0 with every CPU. */
export function hostNodesOf(): NumaNode[] {
  cached ??= readNumaNodes();
  return cached.length ? cached : [{ id: 0, cpus: 0, cpuList: '0-1023', memoryBytes: 0, distances: [10] }];
}

const localLibvirt = () => LIBVIRT_URI.startsWith('qemu:///');

/** The CPUs of host node `node` for vcpupin, as sysfs prints them; undefined when the libvirt is
 *  remote (this machine's sysfs says nothing about it: then memory is bound, vCPUs are not). */
export function hostCpusOf(node: number): string | undefined {
  return localLibvirt() ? hostNodesOf().find((n) => n.id === node)?.cpuList : undefined;
}

/** "file: vms[i].numa[j].hostNode: …" for every binding this host cannot honour. */
export function hostNodeProblems(s: Scenario): string[] {
  const bound = s.vms.some((v) => v.numa?.some((c) => c.hostNode !== undefined));
  if (!bound) return [];
  // A remote libvirt's nodes are not this machine's sysfs: libvirt itself refuses a missing node.
  if (!localLibvirt()) return [];
  const nodes = hostNodesOf();
  const ids = nodes.map((n) => n.id);
  return s.vms.flatMap((v, i) => (v.numa ?? []).flatMap((c, j) => (c.hostNode !== undefined && !ids.includes(c.hostNode)
    ? [`${s.file}: vms[${i}].numa[${j}].hostNode: this host has no NUMA node ${c.hostNode} (it has ${ids.join(', ')}; /sys/devices/system/node)`]
    : [])));
}

/** physical: the scenario's VMs all bind every cell to its own host node; else emulated. */
export function topologyOf(s: Scenario | undefined): 'physical' | 'emulated' {
  if (!s?.vms.length) return 'emulated';
  return s.vms.every((v) => v.numa?.length && v.numa.every((c) => c.hostNode !== undefined)) ? 'physical' : 'emulated';
}
