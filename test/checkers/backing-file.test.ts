// Every row of the backing-file oracle (src/checkers/backing-file.ts) on constructed content, as
// digests of device images (what a run keeps of a backing file).
import assert from 'node:assert/strict';
import { judgeBackingFile, type PatternWrite } from '../../src/checkers/backing-file.js';
import { digest } from '../../src/checkers/digest.js';
import { patternBytes } from '../../src/shared/patterns.js';

const SEED = 1;
const SIZE = 20 * 2 ** 20;
const a: PatternWrite = { name: 'a', offset: 3 * 2 ** 20, length: 2 ** 20, seed: SEED };
const b: PatternWrite = { name: 'b', offset: 9 * 2 ** 20 - 4096, length: 64 * 1024, seed: SEED };
function device(writes: PatternWrite[], size = SIZE): Buffer {
  const d = Buffer.alloc(size);
  for (const w of writes) patternBytes(w.seed, w.name, w.length).copy(d, w.offset);
  return d;
}
const judge = (dev: Buffer, writes: PatternWrite[], restZero = true) => judgeBackingFile({ label: 'dev.img', digest: digest(dev), writes, restZero });

describe('backing-file oracle, row by row', () => {
  it('row 1: a file that ends before a pattern does is false', () => {
    const c = judge(device([a], 3 * 2 ** 20 + 4096), [a]);
    assert.equal(c.valid, false);
    assert.match(c.message, /does not fit/);
  });

  it('row 2: one flipped byte inside a pattern is false, naming the pattern and its block', () => {
    for (const [w, at] of [[a, a.offset], [b, b.offset + 5000], [b, b.offset + b.length - 1]] as const) {
      const dev = device([a, b]);
      dev[at] ^= 0x40;
      const c = judge(dev, [a, b]);
      assert.equal(c.valid, false);
      const block = at - (at % 4096);
      assert.equal(c.message, `pattern ${w.name} differs at byte ${block} of dev.img (in the block there)`);
      assert.equal((c.evidence as any)[w.name].firstDifferenceAt, block);
    }
  });

  it('row 2 with overlapping writes: the later write is what the device must hold', () => {
    const over: PatternWrite = { name: 'over', offset: a.offset + 4096, length: 8192, seed: SEED };
    assert.equal(judge(device([a, over]), [a, over]).valid, true);
    const c = judge(device([over, a]), [a, over]);
    assert.equal(c.valid, false);
    assert.match(c.message, /^pattern over differs at byte/);
  });

  it('row 3: a non-zero byte outside every pattern is false with restZero, ignored without', () => {
    const dev = device([a, b]);
    dev[SIZE - 1] = 1;
    dev[12345] = 7;
    const c = judge(dev, [a, b]);
    assert.equal(c.valid, false);
    assert.match(c.message, /2 unexpected non-zero bytes outside the written patterns \(first in the block at 12288\)/);
    assert.equal(judge(dev, [a, b], false).valid, true);
  });

  it('row 4: every pattern intact and the rest zero is true', () => {
    const c = judge(device([a, b]), [a, b]);
    assert.equal(c.valid, true);
    assert.equal(c.message, '2 pattern(s) intact, rest all zero');
  });

  it('a digest is small and exact: equal content, equal hash; one bit apart, different block', () => {
    const d1 = digest(device([a, b]));
    const bad = device([a, b]); bad[a.offset + 9] ^= 1;
    const d2 = digest(bad);
    assert.notEqual(d1.sha256, d2.sha256);
    assert.equal(Object.keys(d1.blocks).length, (a.length + b.length) / 4096, 'only non-zero blocks are kept');
    assert.ok(JSON.stringify(d1).length < 20 * 1024, `digest of 20 MiB is ${JSON.stringify(d1).length} bytes`);
  });
});
