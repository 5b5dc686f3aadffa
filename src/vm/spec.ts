// VmSpec: everything the VM layer needs to make a libvirt domain. It knows nothing of scenarios.

export type Accel = 'kvm' | 'tcg';

/** The guest CPU: what libvirt's <cpu> says. TCG uses "maximum" (every feature TCG emulates:
 *  Node's V8 needs SSE4.x, qemu64 lacks it); under KVM the mode the accelerator probe passed. */
export type CpuMode =
  | { mode: 'maximum' }
  | { mode: 'host-passthrough' }
  | { mode: 'host-model' }
  /** a named model with some features turned off (e.g. arch-capabilities, whose MSR a nested
   *  KVM may refuse) */
  | { mode: 'custom'; model: string; disable: string[] };

/** One word for results and reports: "host-passthrough", "custom:EPYC-Milan,-arch-capabilities". */
export function cpuModeLabel(c: CpuMode): string {
  return c.mode === 'custom' ? `custom:${[c.model, ...c.disable.map((f) => `-${f}`)].join(',')}` : c.mode;
}

/** Inverse of cpuModeLabel, for FTH_CPU_MODE and cached verdicts; undefined when malformed. */
export function parseCpuMode(label: string): CpuMode | undefined {
  if (label === 'maximum' || label === 'host-passthrough' || label === 'host-model') return { mode: label };
  const m = /^custom:([A-Za-z0-9._-]+)((?:,-[A-Za-z0-9._-]+)*)$/.exec(label);
  if (!m) return undefined;
  return { mode: 'custom', model: m[1], disable: m[2] ? m[2].slice(2).split(',-') : [] };
}

export interface NumaCell {
  id: number;
  /** vCPU ids in this cell */
  cpus: number[];
  memoryMiB: number;
  /** SLIT distances to every cell id (including itself, normally 10) */
  distances?: Record<number, number>;
  /** Bound to a host NUMA node: the cell's memory strictly there (numatune memnode), its vCPUs
   *  pinned to that node's CPUs when known (cpulist as sysfs prints it, e.g. "0-15,32-47"). */
  host?: { node: number; cpus?: string };
}

/** One HMAT entry (ACPI Heterogeneous Memory Attribute Table), initiator cell → target cell. */
export interface HmatEntry {
  initiator: number;
  target: number;
  type: 'access' | 'read' | 'write';
  latencyNs?: number;
  bandwidthMiBs?: number;
}

export interface NvdimmSpec {
  sizeMiB: number;
  /** Host file that backs the NVDIMM: the ground truth of what the guest's PMEM holds. */
  backingFile: string;
  /** Guest NUMA node the NVDIMM belongs to */
  node: number;
  /** Label area size; 0 = no labels (one namespace covering the device, /dev/pmemN appears at once) */
  labelSizeKiB?: number;
  /** shared (MAP_SHARED): guest writes land in backingFile and survive a power cut */
  access?: 'shared' | 'private';
}

export type NicSpec =
  /** QEMU user-mode networking: guest 10.0.2.15, host loopback reachable as 10.0.2.2 */
  | { kind: 'user'; mac?: string }
  /** Point-to-point L2 link to another guest, tunnelled over UDP on host loopback */
  | { kind: 'udp'; localPort: number; remotePort: number; mac?: string };

export interface ShareSpec {
  /** 9p mount tag */
  tag: string;
  hostDir: string;
  readonly: boolean;
}

export type BootSpec =
  | { kind: 'kernel'; kernel: string; initrd: string; cmdline: string }
  /** A disk image (e.g. a lab's qcow2 cloud image with qemu-guest-agent installed). */
  | { kind: 'disk'; path: string; format: 'qcow2' | 'raw' };

export interface VmSpec {
  name: string;
  vcpus: number;
  /** Guest RAM in MiB (sum of NUMA cells when cells are given) */
  memoryMiB: number;
  /** libvirt <maxMemory>: RAM + hot-plug memory (NVDIMMs). Default memory + NVDIMMs; when given
   *  it must be at least that, and above it only with NUMA cells. */
  maxMemoryMiB?: number;
  numa?: { cells: NumaCell[]; hmat?: HmatEntry[] };
  nvdimms: NvdimmSpec[];
  nics: NicSpec[];
  shares: ShareSpec[];
  boot: BootSpec;
  /** Serial console is written here (host file). */
  consoleLog: string;
  /** Host path of the unix socket of our own guest-agent channel (org.ftharness.qga.0); our
   *  image serves it. Unset: libvirt's standard agent channel, reached through virsh. */
  agentSocket?: string;
  accel: Accel;
  /** default: maximum under TCG, host-passthrough under KVM */
  cpu?: CpuMode;
  /** Free-form metadata stored in the domain's <description> (e.g. the owning run id). */
  description?: string;
  /** Extra QEMU arguments passed through libvirt's qemu:commandline namespace (e.g. a TCG
   *  plugin: ['-plugin', 'file=…']); libvirt marks the domain tainted (custom-argv). */
  qemuArgs?: string[];
}

/** Memory hotplug slots libvirt/QEMU reserve for NVDIMMs (maxMemory slots). */
export const MEMORY_SLOTS = 16;

/** Sanity rules the XML cannot express; returns problems as "field: reason". */
export function specProblems(s: VmSpec): string[] {
  const p: string[] = [];
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s.name)) p.push(`name: "${s.name}" is not a valid domain name`);
  if (s.vcpus < 1) p.push('vcpus: must be at least 1');
  if (s.numa) {
    const ids = new Set(s.numa.cells.map((c) => c.id));
    const cpus = s.numa.cells.flatMap((c) => c.cpus);
    s.numa.cells.forEach((c, i) => { if (c.cpus.length === 0) p.push(`numa.cells[${i}].cpus: a cell needs at least one vCPU`); });
    if (new Set(cpus).size !== cpus.length) p.push('numa.cells: a vCPU is in more than one cell');
    if (cpus.some((c) => c >= s.vcpus)) p.push(`numa.cells: vCPU id beyond vcpus (${s.vcpus})`);
    const sum = s.numa.cells.reduce((a, c) => a + c.memoryMiB, 0);
    if (sum !== s.memoryMiB) p.push(`numa.cells: memory adds up to ${sum} MiB, not memoryMiB ${s.memoryMiB}`);
    s.nvdimms.forEach((n, i) => { if (!ids.has(n.node)) p.push(`nvdimms[${i}].node: no NUMA cell ${n.node}`); });
  } else if (s.nvdimms.length) {
    p.push('nvdimms: NVDIMMs need NUMA cells (libvirt memory devices require guest NUMA)');
  }
  if (s.nvdimms.length > MEMORY_SLOTS) p.push(`nvdimms: at most ${MEMORY_SLOTS}`);
  // sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
  if (s.agentSocket && Buffer.byteLength(s.agentSocket) > 107) p.push(`agentSocket: ${s.agentSocket} is longer than a unix socket path may be (107 bytes): set FTH_WORK_DIR to a shorter dir`);
  const minMax = s.memoryMiB + s.nvdimms.reduce((a, n) => a + n.sizeMiB, 0);
  if (s.maxMemoryMiB !== undefined && s.maxMemoryMiB < minMax) p.push(`maxMemoryMiB: ${s.maxMemoryMiB} is less than memory + NVDIMMs (${minMax} MiB)`);
  if (s.maxMemoryMiB !== undefined && s.maxMemoryMiB > minMax && !s.numa) p.push('maxMemoryMiB: hot-plug memory needs NUMA cells');
  return p;
}
