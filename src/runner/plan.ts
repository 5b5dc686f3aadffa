// Scenario VM → VmSpec for one run: unique domain names, per-run backing files and ports.
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import type { GuestImage } from '../image/build.js';
import type { Lab } from '../lab/lab.js';
import type { Scenario, VmN } from '../scenario/load.js';
import type { Accel, CpuMode, NicSpec, VmSpec } from '../vm/spec.js';
import { projectRoot } from '../util/paths.js';
import { FAST_BOOT_ARGS } from '../image/kernel-args.js';
import { suts } from '../sut/registry.js';
import { hostCpusOf, hostNodeProblems } from './host-topology.js';

export const GUEST_MOUNTS: Record<string, string> = { fthimage: '/opt/fth', fthcode: '/opt/ftharness', fthrun: '/opt/fthrun', fthctl: '/run/fthctl' };
/** Host side of a VM's writable control share (guest: /run/fthctl). */
export const controlDir = (lab: Lab, vm: string) => join(lab.workDir, 'ctl', vm);
/** Guest address of a VM's point-to-point link NICs. */
export const linkAddress = (vmIndex: number) => `169.254.77.${vmIndex + 1}`;

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((res, rej) => s.bind(0, '127.0.0.1', () => res()).once('error', rej));
  const { port } = s.address();
  await new Promise<void>((res) => s.close(() => res()));
  return port;
}

export interface PlannedVm { key: string; spec: VmSpec; vm: VmN }

export async function planVms(s: Scenario, lab: Lab, image: GuestImage | undefined, host: { accel: Accel; cpu: CpuMode }, resultsDir: string): Promise<PlannedVm[]> {
  // Checked before the run too (loadAll); here for callers that plan directly.
  const unbound = hostNodeProblems(s);
  if (unbound.length) throw new Error(unbound.join('\n'));
  // One UDP port per (vm, peer) link end, allocated up front so both ends agree.
  const port = new Map<string, number>();
  for (const vm of s.vms) for (const n of vm.nics) if (n.kind === 'link') port.set(`${vm.name}->${n.peer}`, await freeUdpPort());
  return s.vms.map((vm, vi) => {
    const nics: NicSpec[] = [];
    const net: string[] = [];
    const hex = (n: number) => n.toString(16).padStart(2, '0');
    vm.nics.forEach((n) => {
      const ifc = `eth${nics.length}`;
      // Known MACs, so faults can address a NIC (virsh domif-setlink DOM MAC down).
      const mac = `52:54:00:f7:${hex(vi)}:${hex(nics.length)}`;
      if (n.kind === 'user') {
        nics.push({ kind: 'user', mac });
        net.push(`${ifc},10.0.2.15/24,10.0.2.2`);
      } else {
        const back = port.get(`${n.peer}->${vm.name}`);
        if (back === undefined) throw new Error(`VM ${vm.name} links to ${n.peer}, but ${n.peer} has no link back to ${vm.name}`);
        nics.push({ kind: 'udp', localPort: port.get(`${vm.name}->${n.peer}`)!, remotePort: back, mac });
        net.push(`${ifc},${linkAddress(vi)}/24`);
      }
    });
    const shares = [];
    if (!s.image && image) shares.push({ tag: 'fthimage', hostDir: image.toolsDir, readonly: true });
    if (vm.code) shares.push({ tag: 'fthcode', hostDir: projectRoot(), readonly: true });
    // Files the harness hands to guests (e.g. data patterns): 9p is far faster than the agent.
    shares.push({ tag: 'fthrun', hostDir: lab.shareDir, readonly: true });
    // Writable and uncached: control files of guest-side agents (status, events) land on the
    // host as they are written, so they survive the guest's power cut.
    shares.push({ tag: 'fthctl', hostDir: controlDir(lab, vm.name), readonly: false });
    const mounts = shares.map((sh) => `${sh.tag},${GUEST_MOUNTS[sh.tag]}${sh.readonly ? '' : ',rw'}`);
    const name = lab.domainName(vm.name);
    const boot: VmSpec['boot'] = s.image
      ? { kind: 'disk', path: join(lab.workDir, `${vm.name}.overlay.qcow2`), format: 'qcow2' }
      : {
          kind: 'kernel', kernel: image!.kernel, initrd: image!.initrd,
          cmdline: `${FAST_BOOT_ARGS} fth.hostname=${vm.name}${net.length ? ` fth.net=${net.join(';')}` : ''}${mounts.length ? ` fth.9p=${mounts.join(';')}` : ''}`,
        };
    const spec: VmSpec = {
      name, vcpus: vm.vcpus, memoryMiB: vm.memoryMiB, maxMemoryMiB: vm.maxMemoryMiB, accel: host.accel, cpu: host.cpu,
      numa: vm.numa ? {
        cells: vm.numa.map((c, id) => ({
          id, cpus: c.cpus, memoryMiB: c.memoryMiB, distances: c.distances ? Object.fromEntries(c.distances.map((d, j) => [j, d])) : undefined,
          ...(c.hostNode !== undefined ? { host: { node: c.hostNode, cpus: hostCpusOf(c.hostNode) } } : {}),
        })),
        hmat: vm.hmat?.map((h) => ({ initiator: h.initiator, target: h.target, type: h.type, latencyNs: h.latency, bandwidthMiBs: h.bandwidth })),
      } : undefined,
      nvdimms: vm.nvdimms.map((n, i) => ({
        sizeMiB: n.sizeMiB, node: n.node, labelSizeKiB: n.labelKiB || undefined, access: n.access,
        backingFile: join(lab.workDir, `${vm.name}-nvdimm${i}.img`),
      })),
      nics, shares, boot,
      consoleLog: join(resultsDir, `${vm.name}.console.log`),
      ...(s.image ? {} : { agentSocket: join(lab.workDir, `${vm.name}.qga`) }),
      description: `ftharness run ${lab.runId} pid ${process.pid} scenario ${s.name}`,
    };
    for (const sut of suts()) sut.prepareVm?.({ scenario: s, vm, spec, workDir: lab.workDir, resultsDir });
    return { key: vm.name, spec, vm };
  });
}
