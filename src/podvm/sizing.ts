// Sizing policies: pod → podVM size (vCPUs, MiB). `fth` is ours and never under-sizes; the others
// reproduce Kata Containers' static sizing exactly (commit named in `source`), so the same pod can
// be compared across them. NUMA cells are laid out per host (numaLayout), only when the VM does
// not fit one host cell.
import type { PodModel } from './model.js';
import { effectiveResources, type Effective } from './resources.js';

const MiB = 1024n * 1024n;

export interface VmSize {
  vcpus: number;
  memoryMiB: number;
  policy: string;
  why: { cpu: string; memory: string };
}

export interface SizingOptions {
  /** added to what the pod needs: the guest's own kernel, init and pod runner */
  guestReserve: { vcpus: number; memoryMiB: number };
  /** the memory basis of a pod whose containers do not all limit memory */
  defaultMemoryMiB: number;
  /** memory is a multiple of this (libvirt/QEMU and the NUMA split use 2 MiB units) */
  alignMiB: number;
}

export const DEFAULT_SIZING: SizingOptions = { guestReserve: { vcpus: 0, memoryMiB: 192 }, defaultMemoryMiB: 256, alignMiB: 2 };

export interface SizingPolicy {
  name: string;
  /** what it reproduces, pinned */
  source: string;
  size(pod: PodModel, eff: Effective, o: SizingOptions): VmSize;
}

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;
const milli = (m: bigint) => (m % 1000n === 0n ? `${m / 1000n}` : `${m}m`);
const mib = (b: bigint) => (b % MiB === 0n ? `${b / MiB}Mi` : `${b} B`);
const largest = (pod: PodModel, r: 'cpu' | 'memory') => pod.containers.reduce((m, c) => (c.limits[r] !== undefined && c.limits[r]! > m ? c.limits[r]! : m), 0n);

/** kubelet's CFS quota for a CPU limit (MilliCPUToQuota, period 100 ms, at least 1 ms). */
export const QUOTA_PERIOD_US = 100_000n;
export function milliToQuota(m: bigint, period = QUOTA_PERIOD_US): bigint {
  if (m === 0n) return 0n;
  const q = (m * period) / 1000n;
  return q < 1000n ? 1000n : q;
}

const fth: SizingPolicy = {
  name: 'fth',
  source: 'ftharness (src/podvm/sizing.ts): limits when every container has one, else the largest of requests, any single limit and the default; rounded up; + guest reserve',
  size(pod, eff, o) {
    let cpuBasis: bigint;
    let cpuWhy: string;
    if (eff.allLimited.cpu) { cpuBasis = eff.limits.cpu!; cpuWhy = `pod CPU limit ${milli(cpuBasis)} (every container limits CPU)`; } else {
      const l = largest(pod, 'cpu');
      cpuBasis = eff.requestsNoOverhead.cpu > l ? eff.requestsNoOverhead.cpu : l;
      cpuWhy = `not every container limits CPU: max(requests ${milli(eff.requestsNoOverhead.cpu)}, largest limit ${milli(l)}) = ${milli(cpuBasis)}`;
    }
    const base = Number(ceilDiv(cpuBasis, 1000n));
    const vcpus = Math.max(1, base) + o.guestReserve.vcpus;
    let memBasis: bigint;
    let memWhy: string;
    if (eff.allLimited.memory) { memBasis = eff.limits.memory!; memWhy = `pod memory limit ${mib(memBasis)} (every container limits memory)`; } else {
      const l = largest(pod, 'memory');
      const d = BigInt(o.defaultMemoryMiB) * MiB;
      memBasis = [eff.requestsNoOverhead.memory, l, d].reduce((a, b) => (b > a ? b : a));
      memWhy = `not every container limits memory: max(requests ${mib(eff.requestsNoOverhead.memory)}, largest limit ${mib(l)}, default ${o.defaultMemoryMiB}Mi) = ${mib(memBasis)}`;
    }
    const memoryMiB = alignUp(Number(ceilDiv(memBasis, MiB)) + o.guestReserve.memoryMiB, o.alignMiB);
    return {
      vcpus, memoryMiB, policy: 'fth',
      why: {
        cpu: `${cpuWhy} → ⌈${milli(cpuBasis)}⌉ = ${Math.max(1, base)} vCPU${o.guestReserve.vcpus ? ` + ${o.guestReserve.vcpus} reserved` : ''}`,
        memory: `${memWhy} → ⌈MiB⌉ + ${o.guestReserve.memoryMiB}Mi guest reserve, aligned to ${o.alignMiB}Mi = ${memoryMiB}Mi`,
      },
    };
  },
};

/** What kubelet hands a sandbox (PodRequestsAndLimitsWithoutOverhead → calculateLinuxResources):
 *  the CFS quota of the pod's CPU limit and its memory limit, 0 when none is declared. */
function sandboxResources(eff: Effective) {
  return { quota: milliToQuota(eff.limits.cpu ?? 0n), period: QUOTA_PERIOD_US, memory: eff.limits.memory ?? 0n };
}
const KATA_DEFAULT_VCPUS = 1;
const KATA_DEFAULT_MEMORY_MIB = 2048;

const kataGoStatic: SizingPolicy = {
  name: 'kata-go-static',
  source: 'Kata Containers Go runtime, static_sandbox_resource_mgmt (src/runtime/pkg/oci/utils.go CalculateCPUsF/RoundUpNumVCPUs, Makefile DEFVCPUS=1 DEFMEMSZ=2048)',
  size(_pod, eff) {
    const s = sandboxResources(eff);
    const f = KATA_DEFAULT_VCPUS + (s.quota > 0n ? Number(s.quota) / Number(s.period) : 0);
    const vcpus = Math.ceil(f);
    const memoryMiB = KATA_DEFAULT_MEMORY_MIB + Number(s.memory / MiB);
    return {
      vcpus, memoryMiB, policy: 'kata-go-static',
      why: {
        cpu: `default ${KATA_DEFAULT_VCPUS} + quota/period ${s.quota}/${s.period} = ${f} → ⌈⌉ = ${vcpus} (requests ignored)`,
        memory: `default ${KATA_DEFAULT_MEMORY_MIB}Mi + ⌊limit ${mib(s.memory)} in MiB⌋ = ${memoryMiB}Mi (rounded down; requests ignored)`,
      },
    };
  },
};

const kataRs: SizingPolicy = {
  name: 'kata-rs',
  source: 'Kata Containers runtime-rs (src/runtime-rs/crates/resource/src/cpu_mem/initial_size.rs at 0a4b755): ⌈quota/period⌉ replaces default_vcpus, memory adds to default_memory',
  size(_pod, eff) {
    const s = sandboxResources(eff);
    const w = s.quota > 0n ? Math.ceil(Number(s.quota) / Number(s.period)) : 0;
    const vcpus = w > 0 ? w : KATA_DEFAULT_VCPUS;
    const memoryMiB = KATA_DEFAULT_MEMORY_MIB + Number(s.memory / MiB);
    return {
      vcpus, memoryMiB, policy: 'kata-rs',
      why: {
        cpu: w > 0 ? `⌈quota/period ${s.quota}/${s.period}⌉ = ${w} replaces the default` : `no CPU limit: default ${KATA_DEFAULT_VCPUS}`,
        memory: `default ${KATA_DEFAULT_MEMORY_MIB}Mi + ⌊limit ${mib(s.memory)} in MiB⌋ = ${memoryMiB}Mi (rounded down)`,
      },
    };
  },
};

export const SIZING_POLICIES: Record<string, SizingPolicy> = { fth, 'kata-go-static': kataGoStatic, 'kata-rs': kataRs };

export function sizePod(pod: PodModel, policy = 'fth', o: SizingOptions = DEFAULT_SIZING): VmSize {
  const p = SIZING_POLICIES[policy];
  if (!p) throw new Error(`unknown sizing policy "${policy}" (known: ${Object.keys(SIZING_POLICIES).join(', ')})`);
  return p.size(pod, effectiveResources(pod), o);
}

export interface HostCell { cpus: number; memory: bigint }
export interface VmCell { cpus: number[]; memoryMiB: number }

/** The podVM's NUMA cells on a host: none when it fits the host's largest cell; else k cells with
 *  k = ⌈max(vCPUs / cell CPUs, memory / cell memory)⌉, vCPUs dealt round-robin and memory in
 *  2 MiB units (the remainder to cell 0). A misfit when the host has fewer cells than k. */
export function numaLayout(size: Pick<VmSize, 'vcpus' | 'memoryMiB'>, cells: HostCell[], mode: 'auto' | 'never'):
  { cells?: VmCell[]; why: string; misfit?: string } {
  if (cells.length <= 1) return { why: 'host has one NUMA cell: none' };
  const cpuCap = Math.max(...cells.map((c) => c.cpus));
  const memCap = Math.max(...cells.map((c) => Number(c.memory / MiB)));
  if (size.vcpus <= cpuCap && size.memoryMiB <= memCap) return { why: `fits one host cell (${cpuCap} CPUs, ${memCap}Mi): none` };
  if (mode === 'never') return { why: 'numa: never', misfit: `the VM (${size.vcpus} vCPUs, ${size.memoryMiB}Mi) exceeds every host cell (${cpuCap} CPUs, ${memCap}Mi) and NUMA splitting is off` };
  const k = Math.max(Math.ceil(size.vcpus / cpuCap), Math.ceil(size.memoryMiB / memCap));
  if (k > cells.length) return { why: `needs ${k} cells`, misfit: `the VM needs ${k} NUMA cells of ${cpuCap} CPUs/${memCap}Mi, the host has ${cells.length}` };
  if (size.vcpus < k) return { why: `needs ${k} cells`, misfit: `the VM needs ${k} NUMA cells for its memory but has only ${size.vcpus} vCPUs (every cell needs one)` };
  const out: VmCell[] = Array.from({ length: k }, () => ({ cpus: [], memoryMiB: 0 }));
  for (let v = 0; v < size.vcpus; v++) out[v % k].cpus.push(v);
  const units = size.memoryMiB / 2;
  for (let i = 0; i < k; i++) out[i].memoryMiB = Math.floor(units / k) * 2;
  out[0].memoryMiB += size.memoryMiB - out.reduce((a, c) => a + c.memoryMiB, 0);
  return { cells: out, why: `exceeds one host cell (${cpuCap} CPUs, ${memCap}Mi): split into ${k} cells` };
}
