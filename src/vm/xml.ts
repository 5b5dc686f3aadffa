// VmSpec → libvirt domain XML (built as an object tree and serialised by xmlbuilder2, so every
// value is escaped by the library, never by string concatenation).
import { create } from 'xmlbuilder2';
import { XMLParser } from 'fast-xml-parser';
import { MEMORY_SLOTS, type NicSpec, type VmSpec } from './spec.js';
import { FTH_QGA_CHANNEL } from './qga-transport.js';

type Node = Record<string, unknown>;
/** libvirt's namespace for QEMU pass-through (<qemu:commandline>). */
export const QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0';
const KiB = (mib: number) => String(mib * 1024);

function cpuNode(s: VmSpec): Node {
  const mode = s.cpu ?? (s.accel === 'kvm' ? { mode: 'host-passthrough' } : { mode: 'maximum' });
  const cpu: Node = mode.mode !== 'custom' ? { '@mode': mode.mode } : {
    // check='none': QEMU, not libvirt, decides which requested features the host lacks (a
    // nested KVM often reports a CPUID libvirt would refuse outright).
    '@mode': 'custom', '@match': 'exact', '@check': 'none',
    model: { '@fallback': 'allow', '#': mode.model },
    feature: mode.disable.map((f) => ({ '@policy': 'disable', '@name': f })),
  };
  if (!s.numa) return cpu;
  const numa: Node = {
    cell: s.numa.cells.map((c) => ({
      '@id': c.id,
      '@cpus': c.cpus.join(','),
      '@memory': KiB(c.memoryMiB),
      '@unit': 'KiB',
      ...(c.distances ? { distances: { sibling: Object.entries(c.distances).map(([id, v]) => ({ '@id': id, '@value': v })) } } : {}),
    })),
  };
  if (s.numa.hmat?.length) {
    numa.interconnects = {
      latency: s.numa.hmat.filter((h) => h.latencyNs !== undefined)
        .map((h) => ({ '@initiator': h.initiator, '@target': h.target, '@type': h.type, '@value': h.latencyNs })),
      bandwidth: s.numa.hmat.filter((h) => h.bandwidthMiBs !== undefined)
        .map((h) => ({ '@initiator': h.initiator, '@target': h.target, '@type': h.type, '@value': h.bandwidthMiBs, '@unit': 'MiB' })),
    };
  }
  return { ...cpu, numa };
}

/** Guest cells bound to host nodes: <cputune> pins each vCPU to its cell's host CPUs, and
 *  <numatune> puts each cell's memory on its host node, strictly (no silent fallback). */
function hostBinding(s: VmSpec): Node {
  const bound = s.numa?.cells.filter((c) => c.host) ?? [];
  if (!bound.length) return {};
  return {
    ...(bound.some((c) => c.host!.cpus)
      ? { cputune: { vcpupin: bound.filter((c) => c.host!.cpus).flatMap((c) => c.cpus.map((v) => ({ '@vcpu': v, '@cpuset': c.host!.cpus! }))).sort((a, b) => a['@vcpu'] - b['@vcpu']) } }
      : {}),
    numatune: { memnode: bound.map((c) => ({ '@cellid': c.id, '@mode': 'strict', '@nodeset': c.host!.node })) },
  };
}

function nicNode(n: NicSpec): Node {
  // No option ROM: with direct kernel boot it only costs SeaBIOS time.
  const common = { model: { '@type': 'virtio' }, rom: { '@enabled': 'no' }, ...(n.mac ? { mac: { '@address': n.mac } } : {}) };
  if (n.kind === 'user') return { '@type': 'user', ...common };
  return {
    '@type': 'udp',
    source: { '@address': '127.0.0.1', '@port': n.remotePort, local: { '@address': '127.0.0.1', '@port': n.localPort } },
    ...common,
  };
}

export function renderDomainXml(s: VmSpec): string {
  const nvdimmMiB = s.nvdimms.reduce((a, n) => a + n.sizeMiB, 0);
  // RAM + hot-plug memory; rendered when there is hot-plug memory (NVDIMMs) or room asked for it
  const maxMemoryMiB = s.maxMemoryMiB ?? s.memoryMiB + nvdimmMiB;
  const os: Node = { type: { '@arch': 'x86_64', '@machine': 'pc', '#': 'hvm' } };
  if (s.boot.kind === 'kernel') {
    os.kernel = s.boot.kernel;
    os.initrd = s.boot.initrd;
    os.cmdline = s.boot.cmdline;
  } else {
    os.boot = { '@dev': 'hd' };
  }
  const devices: Node = {
    emulator: '/usr/bin/qemu-system-x86_64',
    ...(s.boot.kind === 'disk'
      ? { disk: { '@type': 'file', '@device': 'disk', driver: { '@name': 'qemu', '@type': s.boot.format }, source: { '@file': s.boot.path }, target: { '@dev': 'vda', '@bus': 'virtio' } } }
      : {}),
    filesystem: s.shares.map((sh) => ({
      '@type': 'mount', '@accessmode': 'passthrough',
      source: { '@dir': sh.hostDir }, target: { '@dir': sh.tag }, ...(sh.readonly ? { readonly: {} } : {}),
    })),
    interface: s.nics.map(nicNode),
    serial: { '@type': 'file', source: { '@path': s.consoleLog }, target: { '@port': 0 } },
    console: { '@type': 'file', source: { '@path': s.consoleLog }, target: { '@type': 'serial', '@port': 0 } },
    // Our image serves our own agent channel, whose socket we connect to; a disk image gets
    // libvirt's standard one (reached through virsh).
    channel: s.agentSocket
      ? { '@type': 'unix', source: { '@mode': 'bind', '@path': s.agentSocket }, target: { '@type': 'virtio', '@name': FTH_QGA_CHANNEL } }
      : { '@type': 'unix', source: { '@mode': 'bind' }, target: { '@type': 'virtio', '@name': 'org.qemu.guest_agent.0' } },
    controller: { '@type': 'usb', '@model': 'none' },
    memballoon: { '@model': 'none' },
    memory: s.nvdimms.map((n) => ({
      '@model': 'nvdimm', '@access': n.access ?? 'shared',
      source: { path: n.backingFile },
      target: {
        size: { '@unit': 'KiB', '#': KiB(n.sizeMiB) },
        node: n.node,
        ...(n.labelSizeKiB ? { label: { size: { '@unit': 'KiB', '#': String(n.labelSizeKiB) } } } : {}),
      },
    })),
  };
  const domain: Node = {
    '@type': s.accel === 'kvm' ? 'kvm' : 'qemu',
    name: s.name,
    ...(s.description ? { description: s.description } : {}),
    ...(s.nvdimms.length || maxMemoryMiB > s.memoryMiB ? { maxMemory: { '@slots': MEMORY_SLOTS, '@unit': 'KiB', '#': KiB(maxMemoryMiB) } } : {}),
    memory: { '@unit': 'KiB', '#': KiB(s.memoryMiB) },
    vcpu: { '@placement': 'static', '#': String(s.vcpus) },
    os,
    ...hostBinding(s),
    features: { acpi: {}, apic: {} },
    cpu: cpuNode(s),
    clock: { '@offset': 'utc' },
    on_poweroff: 'destroy',
    on_reboot: 'restart',
    on_crash: 'destroy',
    devices,
  };
  if (s.qemuArgs?.length) {
    // libvirt's QEMU namespace (schema: domaincommon.rng "qemucmdline"); the element comes last.
    domain['@xmlns:qemu'] = QEMU_NS;
    domain['qemu:commandline'] = { 'qemu:arg': s.qemuArgs.map((a) => ({ '@value': a })) };
  }
  return create({ version: '1.0' }, { domain }).end({ prettyPrint: true, headless: true });
}

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', textNodeName: '#', parseTagValue: false, parseAttributeValue: false });
/** Parse libvirt XML (our domain XML, libvirt's live XML, domcapabilities) into the same object
 *  shape we render from: attributes as "@name", text as "#". */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function parseDomainXml(xml: string): any {
  return parser.parse(xml);
}
