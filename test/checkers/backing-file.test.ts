// Every row of the backing-file oracle (src/checkers/backing-file.ts) on constructed content.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkBackingFile, judgeBackingFile, type ExpectedRegion } from '../../src/checkers/backing-file.js';
import { patternBytes } from '../../src/runner/patterns.js';
import { tmpDir } from '../helpers.js';

const SIZE = 20 * 2 ** 20; // more than one 8 MiB compare range
const a: ExpectedRegion = { name: 'a', offset: 3 * 2 ** 20, bytes: patternBytes(1, 'a', 2 ** 20) };
const b: ExpectedRegion = { name: 'b', offset: 9 * 2 ** 20 - 4096, bytes: patternBytes(1, 'b', 64 * 1024) }; // crosses a range edge
function device(writes: ExpectedRegion[], size = SIZE): Buffer {
  const d = Buffer.alloc(size);
  for (const w of writes) w.bytes.copy(d, w.offset);
  return d;
}
const judge = (dev: Buffer, writes: ExpectedRegion[], restZero = true) =>
  judgeBackingFile('dev.img', dev.length, async (o, l) => dev.subarray(o, o + l), writes, restZero);

describe('backing-file oracle, row by row', () => {
  it('row 1: a file that ends before a pattern does is false', async () => {
    const c = await judge(device([a], 3 * 2 ** 20 + 100), [a]);
    assert.equal(c.valid, false);
    assert.match(c.message, /does not fit/);
  });

  it('row 2: one flipped byte inside a pattern is false, naming the pattern and the byte', async () => {
    for (const [w, at] of [[a, a.offset], [b, b.offset + 5000], [b, b.offset + b.bytes.length - 1]] as const) {
      const dev = device([a, b]);
      dev[at] ^= 0x40;
      const c = await judge(dev, [a, b]);
      assert.equal(c.valid, false);
      assert.equal(c.message, `pattern ${w.name} differs at byte ${at} of dev.img`);
      assert.equal((c.evidence as any)[w.name].firstDifferenceAt, at);
    }
  });

  it('row 2 with overlapping writes: the later write is what the device must hold', async () => {
    const over: ExpectedRegion = { name: 'over', offset: a.offset + 4096, bytes: patternBytes(1, 'over', 8192) };
    assert.equal((await judge(device([a, over]), [a, over])).valid, true);
    // the earlier pattern's bytes where the later one wrote are wrong now
    const c = await judge(device([over, a]), [a, over]);
    assert.equal(c.valid, false);
    assert.match(c.message, /^pattern over differs at byte/);
  });

  it('row 3: a non-zero byte outside every pattern is false with restZero, ignored without', async () => {
    const dev = device([a, b]);
    dev[SIZE - 1] = 1;
    dev[12345] = 7;
    const c = await judge(dev, [a, b]);
    assert.equal(c.valid, false);
    assert.match(c.message, /2 unexpected non-zero bytes outside the written patterns \(first at 12345\)/);
    assert.equal((await judge(dev, [a, b], false)).valid, true);
  });

  it('row 4: every pattern intact and the rest zero is true; also through a real file', async () => {
    const c = await judge(device([a, b]), [a, b]);
    assert.equal(c.valid, true);
    assert.equal(c.message, '2 pattern(s) intact, rest all zero');
    const f = join(tmpDir(), 'nv.img');
    writeFileSync(f, device([a, b]));
    assert.equal((await checkBackingFile(f, [a, b], true)).valid, true);
    const bad = device([a, b]);
    bad[a.offset + 10] ^= 1;
    writeFileSync(f, bad);
    assert.equal((await checkBackingFile(f, [a, b], true)).valid, false);
  });
});
