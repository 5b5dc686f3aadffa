// dm-era write tracking, host side: the parser against real era_invalidate answers (metadata
// made by era_restore from thin-provisioning-tools, the same tools the guest runs), and the
// helper shell the agent runs them through. The kernel side (dm-era in a guest) is covered by
// the pmem-ha-precopy-era scenario and its bypass negative control (@vm tests).
import assert from 'node:assert/strict';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { tmpDir } from '../helpers.js';
import { parseEraStatus, parseWrittenBlocks } from '../../src/pmem-ha/era.js';
import { CommandShell } from '../../src/pmem-ha/shell.js';

/** era metadata in which block i was last written in era eras[i]. */
async function eraMetadata(eras: number[], current: number): Promise<string> {
  const dir = tmpDir();
  const xml = `<superblock uuid="" block_size="2048" nr_blocks="${eras.length}" current_era="${current}">\n  <era_array>\n${eras.map((e, i) => `    <era block="${i}" era="${e}"/>`).join('\n')}\n  </era_array>\n</superblock>\n`;
  writeFileSync(join(dir, 'era.xml'), xml);
  const meta = join(dir, 'era.meta');
  writeFileSync(meta, '');
  truncateSync(meta, 4 * 2 ** 20);
  await execa('era_restore', ['-i', join(dir, 'era.xml'), '-o', meta]);
  return meta;
}

const writtenSince = async (meta: string, since: number) => parseWrittenBlocks((await execa('era_invalidate', ['--written-since', String(since), meta])).stdout);

describe('dm-era write tracking (host side)', () => {
  it('reads era_invalidate: single blocks and ranges (end exclusive), exactly the blocks written in eras >= since', async () => {
    const eras = [1, 3, 3, 3, 0, 2, 0, 3, 5, 5, 5, 5, 1];
    const meta = await eraMetadata(eras, 6);
    for (const since of [0, 1, 2, 3, 4, 5, 6]) {
      const want = eras.flatMap((e, i) => (e >= since ? [i] : []));
      assert.deepEqual([...(await writtenSince(meta, since))].sort((a, b) => a - b), want, `since ${since}`);
    }
  });

  it('refuses an answer it does not know instead of guessing (a tracker that misreads loses writes)', () => {
    assert.throws(() => parseWrittenBlocks('<blocks>\n  <block block="3"/>\n  <extent begin="4" length="2"/>\n</blocks>'), /unexpected element/);
    assert.throws(() => parseWrittenBlocks('error: bad metadata'), /unexpected answer/);
    assert.throws(() => parseWrittenBlocks('<blocks>\n  <block block="-1"/>\n</blocks>'), /unexpected element/);
    assert.deepEqual([...parseWrittenBlocks('<blocks>\n</blocks>\n')], []);
  });

  it('reads the current era from dmsetup status of an era target, and refuses another target', () => {
    assert.equal(parseEraStatus('0 131072 era 8 12/4096 4 45\n'), 4);
    assert.equal(parseEraStatus('0 131072 era 8 11/4096 17 -'), 17);
    assert.throws(() => parseEraStatus('0 131072 linear 259:0 0'), /not an era target/);
  });

  it('helper shell: runs commands in order and returns their exact stdout; a failure names the command and its stderr', async () => {
    const dir = tmpDir();
    mkdirSync(dir, { recursive: true });
    const sh = new CommandShell(dir, process.env);
    try {
      const [a, b, c] = await Promise.all([sh.run(['printf', 'one\\ntwo\\n']), sh.run(['printf', 'no newline']), sh.run(['sh', '-c', "echo 'it''s quoted'"])]);
      assert.equal(a, 'one\ntwo\n');
      assert.equal(b, 'no newline');
      assert.equal(c, "its quoted\n");
      await assert.rejects(sh.run(['sh', '-c', 'echo boom >&2; exit 3']), /^Error: sh -c echo boom >&2; exit 3: boom$/);
      // the shell goes on after a failure, and an argument with a quote reaches the command whole
      assert.equal(await sh.run(['printf', '%s', "a'b c"]), "a'b c");
      assert.equal(await sh.run(['printf', '%s', '@@fth-done 99 0']), '@@fth-done 99 0');
    } finally {
      sh.close();
    }
  });

  it('helper shell: a command after the shell died is refused, not left waiting', async () => {
    const sh = new CommandShell(tmpDir(), process.env);
    sh.close();
    await assert.rejects(sh.run(['true']), /helper shell exited/);
  });
});
