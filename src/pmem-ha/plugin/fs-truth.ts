// Ground truth for a filesystem on the PMEM region, read by the harness from a backing file on
// the host (never from the guests): where the filesystem starts (the fsdax info block the guest
// kernel wrote), e2fsck -fn, the files as debugfs reads them (no mount, no journal replay: the
// image must be consistent as it is), pmempool check on each PMDK pool, and the writer's own log
// of what it made durable. The judgement is a pure function of this (fs-checker.ts).
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import type { DurableRecord } from '../../workloads/fs-writer.js';

/** nd_pfn_sb (drivers/nvdimm/pfn.h): the info block at 4 KiB of an fsdax namespace. */
const PFN_SIG = Buffer.from('NVDIMM_PFN_INFO\0', 'latin1');
const PFN_SB_OFFSET = 4096;
const EXT4_MAGIC = 0xef53;

export interface ToolRun { exitCode: number; output: string }

export interface FsEvidence {
  label: string;
  /** bytes from the start of the NVDIMM to the filesystem (start_pad + dataoff of the fsdax info block; 0 raw) */
  fsOffset: number;
  layout: 'fsdax' | 'raw';
  ext4: boolean;
  e2fsck?: ToolRun;
  /** path inside the filesystem → sha256 of its content, as debugfs dumped it */
  files: Record<string, string>;
  /** debugfs could not read the tree (a filesystem destroyed on the standby is the SUT's doing) */
  dumpError?: string;
  pools: { path: string; check: ToolRun }[];
  /** the writer's log: one record per operation it made durable (undefined: no writer in this run) */
  durable?: DurableRecord[];
}

/** Where the filesystem starts on an NVDIMM whose namespace may be fsdax (info block) or raw. */
export function fsOffsetOf(nvdimm: Buffer): { offset: number; layout: 'fsdax' | 'raw' } {
  const sb = nvdimm.subarray(PFN_SB_OFFSET, PFN_SB_OFFSET + 128);
  if (sb.length < 80 || !sb.subarray(0, 16).equals(PFN_SIG)) return { offset: 0, layout: 'raw' };
  // signature 16, uuid 16, parent_uuid 16, flags 4, version major 2 / minor 2, dataoff 8, npfns 8,
  // mode 4, start_pad 4 (version ≥ 1.1): dataoff counts from the namespace base + start_pad.
  const dataoff = Number(sb.readBigUInt64LE(56));
  const minor = sb.readUInt16LE(54);
  const startPad = minor >= 1 ? sb.readUInt32LE(76) : 0;
  return { offset: startPad + dataoff, layout: 'fsdax' };
}

/** The bytes of the region's block device inside an NVDIMM backing file: past the fsdax info block
 *  and its reserve when the guest made the namespace fsdax, all of it when raw. What a save reads
 *  and a restore writes, so what the HA oracle compares. */
export const deviceBytes = (nvdimm: Buffer): Buffer => nvdimm.subarray(fsOffsetOf(nvdimm).offset);

const tail = (s: string, n = 3000) => (s.length > n ? s.slice(-n) : s);

async function hashTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out[`/${relative(root, p)}`] = createHash('sha256').update(await readFile(p)).digest('hex');
    }
  };
  await walk(root);
  return out;
}

export function parseDurableLog(text: string, file: string): DurableRecord[] {
  const lines = text.split('\n');
  const out: DurableRecord[] = [];
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    try {
      out.push(JSON.parse(l) as DurableRecord);
    } catch {
      // Only the last line can be torn (the writer's VM lost power while appending it).
      if (i < lines.length - 2) throw new Error(`${file}:${i + 1}: not a JSON record`);
    }
  });
  return out;
}

/** Read the filesystem on an NVDIMM backing file (a copy: e2fsck and debugfs never touch the original). */
export async function fsTruth(backingFile: string, workDir: string, opts: { pools?: string[]; durableLog?: string }): Promise<FsEvidence> {
  const nv = await readFile(backingFile);
  const { offset, layout } = fsOffsetOf(nv);
  const dir = join(workDir, `fs-truth-${process.pid}-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  try {
    const img = join(dir, 'fs.img');
    await writeFile(img, nv.subarray(offset));
    const ext4 = nv.length >= offset + 1082 && nv.readUInt16LE(offset + 1024 + 56) === EXT4_MAGIC;
    const ev: FsEvidence = { label: backingFile, fsOffset: offset, layout, ext4, files: {}, pools: [] };
    if (opts.durableLog !== undefined) ev.durable = parseDurableLog(await readFile(opts.durableLog, 'utf8').catch(() => ''), opts.durableLog);
    if (!ext4) return ev;
    const fsck = await execa('e2fsck', ['-fn', img], { reject: false, all: true, env: { LC_ALL: 'C' } });
    ev.e2fsck = { exitCode: fsck.exitCode ?? -1, output: tail(String(fsck.all ?? '')) };
    const tree = join(dir, 'tree');
    await mkdir(tree);
    const dump = await execa('debugfs', ['-R', `rdump / ${tree}`, img], { reject: false, all: true });
    if (dump.exitCode !== 0 || /rdump: /.test(String(dump.all))) ev.dumpError = tail(String(dump.all ?? ''), 500);
    ev.files = await hashTree(tree);
    for (const p of opts.pools ?? []) {
      const local = join(tree, p);
      const have = await stat(local).then((s) => s.isFile(), () => false);
      if (!have) { ev.pools.push({ path: p, check: { exitCode: -1, output: 'pool file missing from the filesystem' } }); continue; }
      const r = await execa('pmempool', ['check', '-v', local], { reject: false, all: true });
      ev.pools.push({ path: p, check: { exitCode: r.exitCode ?? -1, output: tail(String(r.all ?? ''), 1500) } });
    }
    return ev;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
