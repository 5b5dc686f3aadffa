// The guest image recipe: a kernel from Debian's linux-image .deb, an initramfs with busybox,
// the kernel modules ftharness guests need, qemu-guest-agent and the shared libraries of
// everything, plus a "tools" tree that guests mount read-only over 9p: the Node runtime, filesystem
// and PMDK tools with their libraries, and kernel modules loaded on demand (ext4).
// Every file comes from a Debian package (the kernel .deb is unpacked, the rest are the host's
// installed packages, whose versions go into the cache key). Cached under a hash of the inputs.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rename, rm, writeFile, chmod, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { projectRoot } from '../util/paths.js';

/** What a built image is, as recorded in image.json beside its files. */
export interface GuestImage {
  hash: string;
  dir: string;
  kernel: string;
  initrd: string;
  /** Read-only tree shared into the guest over 9p (tag "fthimage", mounted at /opt/fth). */
  toolsDir: string;
  kernelVersion: string;
  packages: Record<string, string>;
  builtAt: string;
}

/** Modules every guest loads at boot (dependencies are added automatically). */
// Each insmod costs tens of ms under TCG: only what ftharness guests use (no virtio-blk, rng or
// devdax; a lab's own disk image brings its own kernel and initramfs).
export const GUEST_MODULES = [
  'virtio_pci', 'virtio_console', 'virtio_net',
  '9pnet_virtio', '9p',
  'nfit', 'nd_pmem',
];
/** Modules a scenario loads when it needs them (`fth-modload ext4` in the guest), from the 9p
 *  tools tree: they cost a boot nothing. crc32c is requested by name at mount time (ext4 and jbd2
 *  checksums), which needs a modprobe the guest does not have, so it is loaded explicitly. */
export const ON_DEMAND_MODULES: Record<string, string[]> = {
  ext4: ['crc32c_generic', 'ext4'],
  // PMEM HA's pre-copy write tracker: dm-era over the region, its metadata on a RAM disk (brd)
  'dm-era': ['crc32c_generic', 'dm-era', 'brd'],
};
/** Filesystem and PMDK tools for real data structures on PMEM (issue 16), run from the tools tree
 *  through wrappers (their libraries stay out of the initramfs). e2fsck/debugfs are for the guest's
 *  own use; the harness's ground truth runs them on the host. */
const GUEST_TOOLS: Record<string, string> = {
  'mkfs.ext4': '/sbin/mke2fs', e2fsck: '/sbin/e2fsck', debugfs: '/sbin/debugfs', pmempool: '/usr/bin/pmempool',
  // dm-era write tracking for the pre-copy (src/pmem-ha/era.ts); era_invalidate is a name of
  // pdata_tools, which dispatches on it
  dmsetup: '/usr/sbin/dmsetup', era_invalidate: '/usr/sbin/era_invalidate',
};
/** Host packages whose files end up in the image: their versions are part of the cache key. */
const HOST_PACKAGES = ['busybox-static', 'qemu-guest-agent', 'nodejs', 'libc6', 'libglib2.0-0', 'libstdc++6', 'crun', 'e2fsprogs', 'pmdk-tools', 'dmsetup', 'thin-provisioning-tools'];

export const imageCacheRoot = () => process.env.FTH_IMAGE_CACHE ?? join(projectRoot(), 'vm-images', 'cache');

type Log = (line: string) => void;

/** Debian's current kernel package name, e.g. linux-image-6.1.0-56-amd64. */
async function kernelPackage(): Promise<string> {
  if (process.env.FTH_KERNEL_PACKAGE) return process.env.FTH_KERNEL_PACKAGE;
  const { stdout } = await execa('apt-cache', ['depends', 'linux-image-amd64']);
  const m = /Depends:\s+(linux-image-[0-9][^\s]*-amd64)/.exec(stdout);
  if (!m) throw new Error('cannot find the kernel package: `apt-cache depends linux-image-amd64` named none (run apt-get update)');
  return m[1];
}

async function kernelDeb(pkg: string, log: Log): Promise<string> {
  const debs = join(imageCacheRoot(), 'debs');
  await mkdir(debs, { recursive: true });
  const have = (await readdir(debs)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (have) return join(debs, have);
  log(`downloading ${pkg} (~70 MB) from Debian`);
  // apt's _apt user cannot write into arbitrary dirs; the download still succeeds (as root).
  await execa('apt-get', ['download', pkg], { cwd: debs });
  const got = (await readdir(debs)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!got) throw new Error(`apt-get download ${pkg} produced no .deb in ${debs}`);
  return join(debs, got);
}

async function packageVersions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const p of HOST_PACKAGES) {
    const r = await execa('dpkg-query', ['-W', '-f=${Version}', p], { reject: false });
    if (r.exitCode !== 0 || !r.stdout) throw new Error(`host package ${p} is not installed (run harness/setup.sh)`);
    out[p] = r.stdout;
  }
  return out;
}

async function recipeHash(kdeb: string, versions: Record<string, string>): Promise<string> {
  const h = createHash('sha256');
  h.update(await readFile(fileURLToPath(import.meta.url))); // the recipe itself
  h.update(kdeb.split('/').pop()!);
  h.update(JSON.stringify(versions));
  h.update(JSON.stringify(GUEST_MODULES));
  h.update(JSON.stringify(ON_DEMAND_MODULES));
  h.update(JSON.stringify(GUEST_TOOLS));
  h.update(await readFile(join(projectRoot(), 'vm-images', 'init.sh')));
  h.update(await readFile(join(projectRoot(), 'vm-images', 'fth-fsdax.sh')));
  return h.digest('hex').slice(0, 16);
}

/** Shared libraries an ELF needs, as resolved by the host's loader. */
async function libClosure(bins: string[]): Promise<string[]> {
  const libs = new Set<string>();
  for (const b of bins) {
    const { stdout } = await execa('ldd', [b]);
    for (const line of stdout.split('\n')) {
      const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s+(\/\S+)\s+\(/.exec(line);
      if (m) libs.add(m[1]);
    }
  }
  return [...libs];
}

/** Modules in load order (dependencies first), from the kernel tree's modules.dep. */
export function moduleLoadOrder(depText: string, wanted: string[], builtin: Set<string>): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of depText.split('\n')) {
    const [path, rest] = line.split(':');
    if (!path || rest === undefined) continue;
    deps.set(path, rest.trim() ? rest.trim().split(/\s+/) : []);
    byName.set(path.split('/').pop()!.replace(/\.ko(\.xz|\.zst|\.gz)?$/, '').replace(/-/g, '_'), path);
  }
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (p: string) => {
    if (seen.has(p)) return;
    seen.add(p);
    for (const d of deps.get(p) ?? []) visit(d);
    order.push(p);
  };
  for (const w of wanted) {
    const p = byName.get(w.replace(/-/g, '_'));
    if (p) visit(p);
    else if (![...builtin].some((b) => b.endsWith(`/${w}.ko`))) throw new Error(`kernel module ${w} is neither built in nor in modules.dep`);
  }
  return order;
}

/**
 * The uncompressed ELF kernel inside Debian's bzImage. QEMU boots it through the PVH entry
 * point (CONFIG_PVH=y), which skips the XZ self-decompression: under TCG that alone took
 * ~5 s of every boot (measured: kernel entry 5.5 s → 0.4 s after QEMU start).
 */
async function extractVmlinux(bzImage: string): Promise<Buffer> {
  const img = await readFile(bzImage);
  const off = img.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (off < 0) throw new Error(`${bzImage}: no XZ stream found (kernel not XZ-compressed?)`);
  // xz complains about the bytes after the stream (exit 1) but writes the whole kernel.
  const r = await execa('xz', ['-dc'], { input: img.subarray(off), encoding: 'buffer', reject: false, maxBuffer: 512 * 1024 * 1024 });
  const elf = Buffer.from(r.stdout);
  if (elf.length < 1024 || elf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${bzImage}: XZ stream did not decompress to an ELF kernel`);
  return elf;
}

const SIG_MAGIC = Buffer.from('~Module signature appended~\n');
/**
 * Drop a module's appended signature: the guest kernel then skips an RSA verification per
 * insmod, which is slow under TCG. Unsigned modules load (and taint) unless sig_enforce is on.
 */
export function stripModuleSignature(ko: Buffer): Buffer {
  if (ko.length < SIG_MAGIC.length + 12 || !ko.subarray(ko.length - SIG_MAGIC.length).equals(SIG_MAGIC)) return ko;
  const info = ko.length - SIG_MAGIC.length - 12; // struct module_signature, sig_len is its last u32 (BE)
  const sigLen = ko.readUInt32BE(info + 8);
  return ko.subarray(0, info - sigLen);
}

/** `fth-modload SET`: insmod an on-demand module set in order; already loaded modules are skipped. */
const MODLOAD_SCRIPT = `#!/bin/sh
set -e
order=/opt/fth/modules/$1.order
[ -f "$order" ] || { echo "fth-modload: no module set '$1' in the image" >&2; exit 2; }
while read -r m; do
  [ -n "$m" ] || continue
  name=$(basename "$m" .ko | tr - _)
  grep -q "^$name " /proc/modules && continue
  insmod "/opt/fth/modules/$m"
done < "$order"
`;

/** The initramfs's own libraries, loaded by its loader: never copied into the tools tree. */
const initramfsLib = (lib: string) => /\/(libc|libm|libpthread|libdl|ld-linux[^/]*)\.so/.test(lib);

/** Binaries into <tools>/libexec with their libraries in <tools>/lib, each called through a wrapper
 *  <tools>/bin/NAME that runs the loader with that library path (no rpath, no ld.so.cache). */
async function addTools(tools: string) {
  await mkdir(join(tools, 'libexec'), { recursive: true });
  await mkdir(join(tools, 'lib'), { recursive: true });
  for (const [name, bin] of Object.entries(GUEST_TOOLS)) {
    await copyFile(bin, join(tools, 'libexec', name));
    await chmod(join(tools, 'libexec', name), 0o755);
    const wrapper = `#!/bin/sh\nMKE2FS_CONFIG=/opt/fth/etc/mke2fs.conf exec /lib64/ld-linux-x86-64.so.2 --library-path /opt/fth/lib /opt/fth/libexec/${name} "$@"\n`;
    await writeFile(join(tools, 'bin', name), wrapper);
    await chmod(join(tools, 'bin', name), 0o755);
    // NAME.libs: the libraries it needs from <tools>/lib, so a guest program can copy the tool
    // off 9p when it runs it often on a hot path (src/pmem-ha/era.ts)
    await writeFile(join(tools, 'libexec', `${name}.libs`), (await libClosure([bin])).filter((l) => !initramfsLib(l)).map((l) => l.split('/').pop()).join('\n') + '\n');
  }
  for (const lib of await libClosure(Object.values(GUEST_TOOLS))) {
    if (initramfsLib(lib)) continue;
    await copyFile(lib, join(tools, 'lib', lib.split('/').pop()!));
  }
  await copyInto(tools, '/etc/mke2fs.conf', 'etc/mke2fs.conf');
}

async function copyInto(root: string, src: string, dest = src) {
  const to = join(root, dest);
  await mkdir(dirname(to), { recursive: true });
  await copyFile(src, to);
}

/** The cached image for the current inputs, or undefined if it has not been built. */
export async function findImage(): Promise<GuestImage | undefined> {
  const latest = join(imageCacheRoot(), 'latest.json');
  if (!existsSync(latest)) return undefined;
  const img = JSON.parse(await readFile(latest, 'utf8')) as GuestImage;
  return existsSync(img.kernel) && existsSync(img.initrd) ? img : undefined;
}

export async function buildImage(opts: { force?: boolean; log?: Log } = {}): Promise<GuestImage> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`[image] ${l}\n`));
  const kpkg = await kernelPackage();
  const kdeb = await kernelDeb(kpkg, log);
  const versions = await packageVersions();
  const hash = await recipeHash(kdeb, versions);
  const dir = join(imageCacheRoot(), hash);
  const metaFile = join(dir, 'image.json');
  if (!opts.force && existsSync(metaFile)) {
    const img = JSON.parse(await readFile(metaFile, 'utf8')) as GuestImage;
    await writeFile(join(imageCacheRoot(), 'latest.json'), JSON.stringify(img, null, 2));
    log(`up to date: ${dir}`);
    return img;
  }
  const t0 = Date.now();
  log(`building image ${hash} (kernel ${kpkg})`);
  const work = `${dir}.tmp-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  const kx = join(work, 'kernel-deb');
  const rootfs = join(work, 'initramfs');
  const tools = join(work, 'tools');
  await mkdir(kx, { recursive: true });
  await execa('dpkg-deb', ['-x', kdeb, kx]);
  const kver = (await readdir(join(kx, 'lib', 'modules')))[0];
  await execa('depmod', ['-b', kx, kver]);
  const modRoot = join(kx, 'lib', 'modules', kver);
  const builtin = new Set((await readFile(join(modRoot, 'modules.builtin'), 'utf8')).split('\n'));
  const order = moduleLoadOrder(await readFile(join(modRoot, 'modules.dep'), 'utf8'), GUEST_MODULES, builtin);

  // initramfs: busybox, modules, qemu-ga, crun, the libraries of qemu-ga, crun and node, init.
  for (const d of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'run', 'tmp', 'var', 'root', 'lib/modules', 'opt/fth', 'opt/ftharness']) {
    await mkdir(join(rootfs, d), { recursive: true });
  }
  await copyInto(rootfs, '/bin/busybox', 'bin/busybox');
  await copyInto(rootfs, '/usr/sbin/qemu-ga', 'usr/sbin/qemu-ga');
  // crun: the OCI runtime of podVM containers (src/podvm/pod-runner.ts), cgroup v2 via cgroupfs.
  await copyInto(rootfs, '/usr/bin/crun', 'usr/bin/crun');
  for (const lib of await libClosure(['/usr/sbin/qemu-ga', '/usr/bin/crun', '/usr/bin/node'])) await copyInto(rootfs, lib);
  await mkdir(join(rootfs, 'lib64'), { recursive: true });
  if (!existsSync(join(rootfs, 'lib64/ld-linux-x86-64.so.2'))) await copyInto(rootfs, '/lib64/ld-linux-x86-64.so.2');
  for (const m of order) {
    const to = join(rootfs, 'lib/modules', m);
    await mkdir(dirname(to), { recursive: true });
    await writeFile(to, stripModuleSignature(await readFile(join(modRoot, m))));
  }
  await writeFile(join(rootfs, 'etc/fth-modules'), order.join('\n') + '\n');
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\n');
  await writeFile(join(rootfs, 'etc/hosts'), '127.0.0.1 localhost\n');
  await copyInto(rootfs, join(projectRoot(), 'vm-images', 'init.sh'), 'init');
  await chmod(join(rootfs, 'init'), 0o755);
  // node lives on the 9p tools tree (99 MB would slow every boot); a stable path in the guest:
  await mkdir(join(rootfs, 'usr/bin'), { recursive: true });
  await symlink('/opt/fth/bin/node', join(rootfs, 'usr/bin/node'));
  await mkdir(join(tools, 'bin'), { recursive: true });
  await copyFile('/usr/bin/node', join(tools, 'bin/node'));
  await chmod(join(tools, 'bin/node'), 0o755);
  await addTools(tools);
  for (const [set, wanted] of Object.entries(ON_DEMAND_MODULES)) {
    const atBoot = new Set(order);
    const extra = moduleLoadOrder(await readFile(join(modRoot, 'modules.dep'), 'utf8'), wanted, builtin).filter((m) => !atBoot.has(m));
    for (const m of extra) {
      const to = join(tools, 'modules', m);
      await mkdir(dirname(to), { recursive: true });
      await writeFile(to, stripModuleSignature(await readFile(join(modRoot, m))));
    }
    await writeFile(join(tools, 'modules', `${set}.order`), extra.join('\n') + '\n');
  }
  await writeFile(join(tools, 'bin', 'fth-modload'), MODLOAD_SCRIPT);
  await chmod(join(tools, 'bin', 'fth-modload'), 0o755);
  await copyFile(join(projectRoot(), 'vm-images', 'fth-fsdax.sh'), join(tools, 'bin', 'fth-fsdax'));
  await chmod(join(tools, 'bin', 'fth-fsdax'), 0o755);

  // Uncompressed newc cpio: unpacking costs nothing under TCG, decompression would.
  const cpio = await execa('sh', ['-c', 'find . -print0 | sort -z | cpio --null -o -H newc --quiet > ../initrd.img'], { cwd: rootfs });
  if (cpio.exitCode !== 0) throw new Error(`cpio failed: ${cpio.stderr}`);
  await writeFile(join(work, 'vmlinux'), await extractVmlinux(join(kx, 'boot', `vmlinuz-${kver}`)));
  await rm(kx, { recursive: true, force: true });
  await rm(rootfs, { recursive: true, force: true });

  const img: GuestImage = {
    hash, dir, kernel: join(dir, 'vmlinux'), initrd: join(dir, 'initrd.img'), toolsDir: join(dir, 'tools'),
    kernelVersion: kver, packages: { [kpkg]: kdeb.split('_')[1] ?? '', ...versions }, builtAt: new Date().toISOString(),
  };
  await writeFile(join(work, 'image.json'), JSON.stringify(img, null, 2));
  await rm(dir, { recursive: true, force: true });
  await rename(work, dir);
  await writeFile(join(imageCacheRoot(), 'latest.json'), JSON.stringify(img, null, 2));
  log(`built ${dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return img;
}

