// libvirt access: the native bindings (@unraid/libvirt) for the lifecycle, `virsh` through execa
// for what the bindings lack (guest-agent commands, versions, domain capabilities). Which
// accelerator guests use is decided in src/hosts/accel.ts.
import { Hypervisor, type Domain } from '@unraid/libvirt';
import { execa } from 'execa';

export const LIBVIRT_URI = process.env.FTH_LIBVIRT_URI ?? 'qemu:///system';

let hv: Promise<Hypervisor> | undefined;

/** One shared connection per process. */
export function hypervisor(): Promise<Hypervisor> {
  hv ??= (async () => {
    const h = new Hypervisor({ uri: LIBVIRT_URI });
    try {
      await h.connectOpen();
    } catch (e) {
      hv = undefined;
      throw new Error(`cannot connect to libvirt at ${LIBVIRT_URI}: ${(e as Error).message} (is libvirtd running? run harness/setup.sh)`);
    }
    return h;
  })();
  return hv;
}

export async function closeHypervisor(): Promise<void> {
  if (!hv) return;
  const h = await hv.catch(() => undefined);
  hv = undefined;
  await h?.connectClose().catch(() => undefined);
}

export async function lookupDomain(name: string): Promise<Domain | undefined> {
  const h = await hypervisor();
  try {
    return await h.domainLookupByName(name);
  } catch {
    return undefined;
  }
}

export async function listDomainNames(): Promise<string[]> {
  const h = await hypervisor();
  const doms = await h.connectListAllDomains();
  return Promise.all(doms.map((d) => d.getName()));
}

export async function virsh(args: string[], opts: { timeoutMs?: number } = {}) {
  return execa('virsh', ['-c', LIBVIRT_URI, ...args], { timeout: opts.timeoutMs ?? 30_000, reject: false });
}

export interface HostVersions { qemu: string; libvirt: string }

let versions: Promise<HostVersions> | undefined;
export function hostVersions(): Promise<HostVersions> {
  versions ??= (async () => {
    const r = await virsh(['version']);
    const lib = /Using library: libvirt ([\d.]+)/.exec(r.stdout)?.[1] ?? 'unknown';
    let qemu = /Running hypervisor: QEMU ([\d.]+)/.exec(r.stdout)?.[1];
    if (!qemu) {
      const q = await execa('qemu-system-x86_64', ['--version'], { reject: false });
      qemu = /version ([\d.]+)/.exec(q.stdout)?.[1] ?? 'unknown';
    }
    return { qemu, libvirt: lib };
  })();
  return versions;
}
