// The filesystem oracle on real images: the real fs-writer writes into a host directory, mke2fs
// -d turns it into ext4 (raw, or behind an fsdax info block as the guest kernel writes it), a real
// PMDK pool sits beside, and fsTruth reads them with e2fsck, debugfs and pmempool. Each way a
// standby's filesystem can be wrong is shown to make the checker say false.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { tmpDir } from '../helpers.js';
import { fsOffsetOf, fsTruth, deviceBytes, parseDurableLog } from '../../src/pmem-ha/plugin/fs-truth.js';
import { judgeFs } from '../../src/pmem-ha/plugin/fs-checker.js';
import { expectedState } from '../../src/workloads/fs-writer.js';

const MiB = 2 ** 20;

/** An fsdax info block as nd_pfn_init writes it (version 1.4): dataoff 2 MiB, start_pad 0. */
function pfnInfoBlock(dataoff: number): Buffer {
  const nv = Buffer.alloc(dataoff);
  const sb = nv.subarray(4096);
  sb.write('NVDIMM_PFN_INFO\0', 0, 'latin1');
  sb.writeUInt16LE(1, 52);
  sb.writeUInt16LE(4, 54);
  sb.writeBigUInt64LE(BigInt(dataoff), 56);
  return nv;
}

describe('PMEM HA filesystem oracle (ext4, debugfs, e2fsck, pmempool on the host)', function () {
  this.timeout(120_000);
  let root: string;
  let log: string;

  /** The tree the writer made, as an ext4 image (after `mutate` changed the tree). */
  async function image(mutate?: (data: string) => void, opts: { fsdax?: boolean } = {}): Promise<string> {
    const src = join(root, `src-${Math.random().toString(36).slice(2)}`);
    await execa('cp', ['-a', join(root, 'tree'), src]);
    mutate?.(join(src, 'data'));
    const img = join(root, `img-${Math.random().toString(36).slice(2)}`);
    await execa('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', src, img, '32M']);
    rmSync(src, { recursive: true });
    if (opts.fsdax) writeFileSync(img, Buffer.concat([pfnInfoBlock(2 * MiB), readFileSync(img)]));
    return img;
  }
  const judge = async (img: string, durable = log) => judgeFs({ ...(await fsTruth(img, root, { pools: ['/pool.obj'], durableLog: durable })), dir: '/data' });

  before(async () => {
    root = tmpDir();
    mkdirSync(join(root, 'tree', 'data'), { recursive: true });
    log = join(root, 'fs-writer.jsonl');
    await execa('node', ['dist/src/workloads/fs-writer.js', '--dir', join(root, 'tree', 'data'), '--log', log, '--seed', '7', '--ops', '60']);
    await execa('pmempool', ['create', 'obj', '--layout', 'ftharness', '--size', '8M', join(root, 'tree', 'pool.obj')]);
  });

  it('the writer logs one record per durable operation, and its log replays to the tree it left', () => {
    const recs = parseDurableLog(readFileSync(log, 'utf8'), log);
    assert.equal(recs.length, 60);
    assert.deepEqual(new Set(recs.map((r) => r.op)), new Set(['create', 'append', 'rename']));
    const { files, gone } = expectedState(recs);
    for (const [name] of files) assert.ok(readFileSync(join(root, 'tree', 'data', name)).length > 0);
    assert.ok(gone.size > 0);
  });

  it('a torn last line is dropped; a torn line elsewhere is an error naming the file and line', () => {
    assert.equal(parseDurableLog('{"op":"create","seq":1,"name":"a","sha256":"x","size":1}\n{"op":"cre', 'L').length, 1);
    assert.throws(() => parseDurableLog('{"op":"cre\n{"op":"create","seq":1,"name":"a","sha256":"x","size":1}\n', 'L'), /L:1: not a JSON record/);
  });

  it('a clean filesystem with every durable file and a good pool: valid, raw and behind an fsdax info block', async () => {
    const raw = await judge(await image());
    assert.equal(raw.valid, true, raw.message);
    assert.equal((raw.evidence as any).fsOffset, 0);
    const dax = await judge(await image(undefined, { fsdax: true }));
    assert.equal(dax.valid, true, dax.message);
    assert.equal((dax.evidence as any).layout, 'fsdax');
    assert.equal((dax.evidence as any).fsOffset, 2 * MiB);
    assert.match(dax.message, /all \d+ durable files of 60 operations/);
  });

  it('device frames: an fsdax NVDIMM is compared past its info block, a raw one whole', () => {
    const nv = Buffer.concat([pfnInfoBlock(2 * MiB), Buffer.from('device')]);
    assert.equal(deviceBytes(nv).toString(), 'device');
    assert.deepEqual(fsOffsetOf(Buffer.alloc(3 * MiB)), { offset: 0, layout: 'raw' });
  });

  it('says false: a durable file missing', async () => {
    const first = expectedState(parseDurableLog(readFileSync(log, 'utf8'), log)).files.keys().next().value as string;
    const c = await judge(await image((d) => unlinkSync(join(d, first))));
    assert.equal(c.valid, false);
    assert.match(c.message, new RegExp(`1 of \\d+ durable files missing: ${first}`));
  });

  it('says false: a durable file with other content (a lost append)', async () => {
    const recs = parseDurableLog(readFileSync(log, 'utf8'), log);
    const { files } = expectedState(recs);
    const appended = [...files.keys()].find((n) => recs.some((r) => r.op === 'append' && r.name === n))!;
    const c = await judge(await image((d) => { const b = readFileSync(join(d, appended)); writeFileSync(join(d, appended), b.subarray(0, b.length - 512)); }));
    assert.equal(c.valid, false);
    assert.match(c.message, /1 durable files with other content/);
  });

  it('says false: a name renamed away durably is back', async () => {
    const recs = parseDurableLog(readFileSync(log, 'utf8'), log);
    const gone = [...expectedState(recs).gone][0];
    const c = await judge(await image((d) => writeFileSync(join(d, gone), 'old')));
    assert.equal(c.valid, false);
    assert.match(c.message, /names renamed away durably are back/);
  });

  it('says false: e2fsck finds an inconsistency (a wrong link count)', async () => {
    const img = await image();
    await execa('debugfs', ['-w', '-R', 'set_inode_field /pool.obj links_count 7', img]);
    const c = await judge(img);
    assert.equal(c.valid, false);
    assert.match(c.message, /e2fsck -fn exit 4/);
  });

  it('says false: a damaged PMDK pool fails pmempool check', async () => {
    const c = await judge(await image((d) => {
      const pool = join(d, '..', 'pool.obj');
      const b = readFileSync(pool);
      b.fill(0xa5, 0, 4096); // the pool header
      writeFileSync(pool, b);
    }));
    assert.equal(c.valid, false);
    assert.match(c.message, /pmempool check \/pool.obj: exit [1-9]/);
  });

  it('says false: no filesystem where the layout says; unknown when the writer made nothing durable', async () => {
    const blank = join(root, 'blank.img');
    writeFileSync(blank, Buffer.alloc(4 * MiB));
    const none = await judge(blank);
    assert.equal(none.valid, false);
    assert.match(none.message, /no ext4 filesystem at byte 0 of the NVDIMM \(raw layout\)/);
    const empty = join(root, 'empty.jsonl');
    appendFileSync(empty, '');
    const u = await judge(await image(), empty);
    assert.equal(u.valid, 'unknown');
  });
});
