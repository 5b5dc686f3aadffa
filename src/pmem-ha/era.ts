// Write tracking for the pre-copy with device-mapper's dm-era (primary side, in the guest).
//
// Without a tracker the save re-reads the whole region at the AC-loss notice to find what changed
// since the pre-copy (the rehash detector in precopy.ts), so its cost grows with the region. With
// dm-era stacked over the region, the kernel records the era in which each block was last
// written, and the save reads only the chunks written since the pre-copy's last pass.
//
//   dm-era over the region (block = chunk), its metadata on a RAM disk (/dev/ram0, brd): the
//   tracking only has to outlive the agent's process, and after a reboot the pre-copy starts over
//   (what it already stored is not uploaded again, precopy.ts).
//   The stable name /dev/nvdimmK is pointed at the era device, so writers that use it are
//   tracked; a writer that opens /dev/pmemN directly goes around the tracker and its writes are
//   invisible to it (the negative control fixture pmem-ha-precopy-era-bypass shows the checker
//   catching that). dm-era has no DAX support, so an ext4 -o dax writer needs the rehash detector.
//
//   A query: take_metadata_snap (which commits the current era and opens a new one), then
//   `era_invalidate --written-since E` on the snapshot, and the era now current (the next E).
//   The snapshot is dropped after the answer, off the save's path.
//
// The tools are copied off the 9p tools tree into tmpfs at setup, and run from one long-lived
// shell (shell.ts): under TCG a 9p exec from Node costs 80-125 ms, and a save runs three.

import { execFile } from 'node:child_process';
import { CommandShell } from './shell.js';
import { copyFile, mkdir, open, readFile, readlink, realpath, rename, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const TOOLS_DIR = '/opt/fth/libexec';
const LOCAL_DIR = '/run/fth-era';
const LOADER = '/lib64/ld-linux-x86-64.so.2';
const META_DEV = '/dev/ram0';
const MODLOAD = '/opt/fth/bin/fth-modload';

export interface EraQuery {
  /** chunk indexes written in eras >= since */
  written: Set<number>;
  /** the era now current: writes from here on are found by a query since it (NaN: not asked) */
  era: number;
}

type Run = (tool: 'dmsetup' | 'era_invalidate' | 'blockdev', args: string[]) => Promise<string>;

function runner(shell: CommandShell, local: boolean): Run {
  return (tool, args) => shell.run(local && tool !== 'blockdev' ? [LOADER, '--library-path', join(LOCAL_DIR, 'lib'), join(LOCAL_DIR, tool), ...args] : [tool, ...args]);
}

/** Copy dmsetup and era_invalidate with their libraries (the image lists them in NAME.libs). */
async function localizeTools(): Promise<boolean> {
  if (!existsSync(join(TOOLS_DIR, 'dmsetup.libs'))) return false; // not our guest image: use PATH
  await mkdir(join(LOCAL_DIR, 'lib'), { recursive: true });
  for (const tool of ['dmsetup', 'era_invalidate']) {
    await copyFile(join(TOOLS_DIR, tool), join(LOCAL_DIR, tool));
    for (const lib of (await readFile(join(TOOLS_DIR, `${tool}.libs`), 'utf8')).split('\n').filter(Boolean)) {
      const to = join(LOCAL_DIR, 'lib', lib);
      if (!existsSync(to)) await copyFile(join('/opt/fth/lib', lib), to);
    }
  }
  return true;
}

/** Point the symlink `path` at `target`, atomically (a writer opening it sees one or the other). */
async function relink(path: string, target: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.era`);
  await unlink(tmp).catch(() => undefined);
  await symlink(target, tmp);
  await rename(tmp, path);
}

/** era_invalidate's answer: <blocks> with <block block="N"/> and <range begin="A" end="B"/>
 *  (end exclusive). Two fixed element shapes from one tool: a regex, so the guest bundle carries
 *  no XML parser; anything else in the answer is refused rather than guessed at. */
export function parseWrittenBlocks(xml: string): Set<number> {
  const out = new Set<number>();
  const body = xml.trim();
  if (!/^<blocks>[\s\S]*<\/blocks>$/.test(body) && !/^<blocks\s*\/>$/.test(body)) throw new Error(`era_invalidate: unexpected answer ${JSON.stringify(body.slice(0, 80))}`);
  const inner = body.replace(/^<blocks>|<\/blocks>$/g, '').replace(/^<blocks\s*\/>$/, '');
  const re = /<block\s+block\s*=\s*"(\d+)"\s*\/>|<range\s+begin\s*=\s*"(\d+)"\s+end\s*=\s*"(\d+)"\s*\/>/g;
  if (inner.replace(re, '').trim() !== '') throw new Error(`era_invalidate: unexpected element in ${JSON.stringify(inner.trim().slice(0, 80))}`);
  for (const m of inner.matchAll(re)) {
    if (m[1] !== undefined) out.add(Number(m[1]));
    else for (let b = Number(m[2]); b < Number(m[3]); b++) out.add(b);
  }
  return out;
}

/** `dmsetup status NAME` of an era target: "0 <len> era <mbs> <used>/<total> <era> <snap|->". */
export function parseEraStatus(line: string): number {
  const f = line.trim().split(/\s+/);
  if (f[2] !== 'era' || !/^\d+$/.test(f[5] ?? '')) throw new Error(`dmsetup status: not an era target: ${JSON.stringify(line.trim())}`);
  return Number(f[5]);
}

export class EraTracker {
  readonly describe: string;
  private dropping: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly run: Run,
    private readonly shell: CommandShell,
    readonly name: string,
    /** the device writers use (and the agent reads): /dev/mapper/NAME */
    readonly writerDev: string,
    private readonly stableName: { path: string; target: string } | undefined,
  ) {
    this.describe = `dm-era ${writerDev}${stableName ? ` (${stableName.path} points at it)` : ''}`;
  }

  /** Stack dm-era over `regionPath` with one era block per chunk. */
  static async setup(regionPath: string, regionSize: number, chunkSize: number, o: { name?: string } = {}): Promise<EraTracker> {
    const sectors = chunkSize / 512;
    if (!Number.isInteger(sectors) || sectors < 8 || (sectors & (sectors - 1)) !== 0) throw new Error(`dm-era tracking needs a chunk size that is a power of two of at least 4 KiB, got ${chunkSize}`);
    if (regionSize % 512 !== 0) throw new Error(`dm-era tracking needs a region of whole 512-byte sectors, got ${regionSize} bytes`);
    const name = o.name ?? 'fth-era';
    const writerDev = `/dev/mapper/${name}`;
    const stableFile = join(LOCAL_DIR, `${name}.stable.json`);
    await mkdir(LOCAL_DIR, { recursive: true });
    // An earlier agent that died without close() left the stable name on its era device: the
    // name's own target is in its note.
    if (existsSync(stableFile) && (await readlink(regionPath).catch(() => '')) === writerDev) {
      const { path, target } = JSON.parse(await readFile(stableFile, 'utf8')) as { path: string; target: string };
      if (path === regionPath) await relink(regionPath, target);
    }
    const real = await realpath(regionPath);
    if (!(await stat(real)).isBlockDevice()) throw new Error(`dm-era tracking needs a block device under the region, and ${regionPath} is not one (use --precopy-track rehash)`);
    await new Promise<void>((resolve, reject) =>
      execFile(existsSync(MODLOAD) ? MODLOAD : 'fth-modload', ['dm-era'], (err, _o, stderr) => (err && (err as NodeJS.ErrnoException).code !== 'ENOENT' ? reject(new Error(`fth-modload dm-era: ${stderr.trim() || err.message}`)) : resolve())));
    // no udev in the guest: dmsetup makes the device nodes itself
    const shell = new CommandShell(LOCAL_DIR, { ...process.env, DM_DISABLE_UDEV: '1' });
    const run = runner(shell, await localizeTools());
    let stable: { path: string; target: string } | undefined;
    try {
      if (existsSync(`/dev/mapper/${name}`)) await run('dmsetup', ['remove', name]); // an earlier agent's, with the same region under it
      // A zeroed superblock: dm-era formats fresh metadata instead of reading an old one.
      const meta = await open(META_DEV, 'r+');
      try { await meta.write(Buffer.alloc(4096), 0, 4096, 0); await meta.sync(); } finally { await meta.close(); }
      await run('dmsetup', ['create', name, '--table', `0 ${regionSize / 512} era ${META_DEV} ${real} ${sectors}`]);
      if (regionPath !== real) {
        // The stable name now leads writers through the tracker.
        stable = { path: regionPath, target: await readlink(regionPath) };
        await writeFile(stableFile, JSON.stringify(stable));
        await relink(regionPath, writerDev);
      }
    } catch (err) {
      shell.close();
      throw err;
    }
    return new EraTracker(run, shell, name, writerDev, stable);
  }

  /** Chunks written since era `since`, and (unless the caller needs no next mark: the save) the
   *  era that is current now. */
  async query(since: number, o: { era?: boolean } = {}): Promise<EraQuery> {
    await this.dropping;
    await this.run('dmsetup', ['message', this.name, '0', 'take_metadata_snap']);
    try {
      const [xml, status] = await Promise.all([
        this.run('era_invalidate', ['--metadata-snapshot', '--written-since', String(since), META_DEV]),
        o.era === false ? Promise.resolve(undefined) : this.run('dmsetup', ['status', this.name]),
      ]);
      return { written: parseWrittenBlocks(xml), era: status === undefined ? NaN : parseEraStatus(status) };
    } finally {
      this.dropping = this.run('dmsetup', ['message', this.name, '0', 'drop_metadata_snap']).catch(() => undefined);
    }
  }

  /** The era current now (a mark for a later query). */
  async era(): Promise<number> {
    return parseEraStatus(await this.run('dmsetup', ['status', this.name]));
  }

  /** Give the stable name back to the region and remove the era device (best effort: a writer
   *  that still holds it open keeps it, and the next agent's setup replaces it). */
  async close(): Promise<void> {
    await this.dropping;
    if (this.stableName) {
      await relink(this.stableName.path, this.stableName.target);
      await unlink(join(LOCAL_DIR, `${this.name}.stable.json`)).catch(() => undefined);
    }
    await this.run('dmsetup', ['remove', this.name]).catch(() => undefined);
    this.shell.close();
  }

  /** Write back the writer device's page cache (so buffered writes reach dm-era and the region)
   *  and drop it, as dropDeviceCache does (chunks.ts), through the helper shell. */
  async flush(): Promise<void> {
    await this.run('blockdev', ['--flushbufs', this.writerDev]);
  }
}
