// Every row of judgeHa's table (src/pmem-ha/plugin/checker.ts) on constructed ground truth: what a
// standby that restores torn data, ignores a generation, or holds stray bytes gets told.
import assert from 'node:assert/strict';
import { bytesAtRisk, digest } from '../../src/checkers/digest.js';
import { judgeHa, type GenerationTruth, type HaEvidence } from '../../src/pmem-ha/plugin/checker.js';

const SIZE = 64 * 1024;
const fill = (byte: number, from = 0, len = SIZE) => { const b = Buffer.alloc(SIZE); b.fill(byte, from, from + len); return b; };
const B = fill(0);                    // standby before: empty
const P = fill(0xa5, 0, 16 * 1024);   // primary at the cut
const OLD = fill(0x11, 0, 8 * 1024);  // an older committed state
const gen = (generation: string, content: Buffer): GenerationTruth => ({ generation, intact: true, digest: digest(content) });
const torn = (generation: string): GenerationTruth => ({ generation, intact: false, problem: 'chunk 2 does not match its manifest hash' });
type T = Omit<Partial<HaEvidence>, 'primaryAtCut' | 'standbyBefore' | 'standbyNow'> & { primaryAtCut?: Buffer; standbyBefore?: Buffer; standbyNow?: Buffer };
const judge = (t: T) => judgeHa({
  generations: [], expect: 'restored', ...t,
  primaryAtCut: digest(t.primaryAtCut ?? P), standbyBefore: digest(t.standbyBefore ?? B), standbyNow: digest(t.standbyNow ?? B),
});

describe('judgeHa: the PMEM HA oracle, row by row', () => {
  it('row 1: stray bytes on the standby are a silent mismatch, whatever was expected', () => {
    const stray = fill(0x77, 100, 10);
    for (const expect of ['restored', 'previous'] as const) {
      const r = judge({ expect, standbyNow: stray, generations: [gen('g2', P)] });
      assert.deepEqual([r.row, r.valid], [1, false]);
      assert.match(r.message, /^SILENT MISMATCH/);
    }
  });

  it('row 2: the primary data restored although no intact generation carries it (torn save restored)', () => {
    const r = judge({ expect: 'previous', standbyNow: P, generations: [torn('g2')], uncommitted: [{ generation: 'g3', chunks: 3 }] });
    assert.deepEqual([r.row, r.valid], [2, false]);
    assert.match(r.message, /no intact generation carries it/);
  });

  it('row 3: a standby that ignores the newest intact generation fails, also under expect previous (the old hole)', () => {
    // The store holds an intact generation equal to P; the standby never restored it.
    for (const expect of ['restored', 'previous'] as const) {
      const r = judge({ expect, standbyNow: B, generations: [gen('g2', P)] });
      assert.deepEqual([r.row, r.valid], [3, false], expect);
      assert.match(r.message, /generation g2 is intact and the newest .* ignored or lost it/);
    }
    // Holding an older generation while a newer intact one exists is the same violation.
    const r = judge({ standbyBefore: B, standbyNow: OLD, generations: [gen('g2', P), gen('g1', OLD)] });
    assert.deepEqual([r.row, r.valid], [3, false]);
  });

  it('row 3 does not apply when the newest intact generation is what the standby already had', () => {
    const r = judge({ expect: 'previous', standbyBefore: OLD, standbyNow: OLD, generations: [gen('g1', OLD)] });
    assert.deepEqual([r.row, r.valid], [8, true]);
  });

  it('row 4: expect restored, but no intact generation equals the primary at the cut (not saved, or saved while writers ran)', () => {
    const wrote = fill(0xa5, 0, 12 * 1024); // a save that caught an earlier state of P
    const r = judge({ standbyNow: wrote, generations: [gen('g2', wrote)] });
    assert.deepEqual([r.row, r.valid], [4, false]);
    assert.match(r.message, /no intact generation in the store equals the primary's PMEM at the cut/);
    assert.equal(judge({ generations: [], uncommitted: [{ generation: 'g2', chunks: 1 }] }).row, 4);
  });

  it('row 5: the standby holds the primary PMEM byte for byte, carried by an intact generation', () => {
    const r = judge({ standbyNow: P, generations: [gen('g2', P), gen('g1', OLD)] });
    assert.deepEqual([r.row, r.valid], [5, true]);
    assert.equal(r.dataAtRiskBytes, 0);
  });

  it('row 6: an intact generation equals the primary but the standby holds another intact one (table completeness)', () => {
    // Older generation = P, newest = OLD (a later save of other content), standby holds OLD.
    const r = judge({ standbyNow: OLD, generations: [gen('g3', OLD), gen('g2', P)] });
    assert.deepEqual([r.row, r.valid], [6, false]);
  });

  it('row 7: expect previous, but the save committed anyway: unknown (the fault did not bite), never pass or fail', () => {
    const r = judge({ expect: 'previous', standbyNow: P, generations: [gen('g2', P)] });
    assert.deepEqual([r.row, r.valid], [7, 'unknown']);
    assert.match(r.message, /the fault did not bite/);
  });

  it('row 8: expect previous, the save could not be trusted, the standby kept its content and the verdict says why', () => {
    const r = judge({ expect: 'previous', standbyNow: B, generations: [torn('g2')], uncommitted: [{ generation: 'g3', chunks: 3 }], standbyStatus: { refusals: [{ generation: 'g2', reason: 'chunk 2 hash' }] } });
    assert.deepEqual([r.row, r.valid], [8, true]);
    assert.match(r.message, /damaged generation\(s\): g2 .*torn save\(s\) without a manifest.*g3 \(3 chunks stored\)/);
    assert.match(judge({ expect: 'previous' }).message, /no save reached the store/);
    // Kept an older intact generation that is also the newest intact one: fine.
    assert.equal(judge({ expect: 'previous', standbyBefore: B, standbyNow: OLD, generations: [torn('g2'), gen('g1', OLD)] }).row, 8);
  });

  it('the SUT\'s own status never decides: a standby claiming to hold g2 while holding B still fails', () => {
    const r = judge({ standbyNow: B, generations: [gen('g2', P)], standbyStatus: { heldGeneration: 'g2' } });
    assert.equal(r.valid, false);
  });

  it('data at risk counts the non-zero bytes of the primary in blocks the standby does not hold', () => {
    assert.equal(bytesAtRisk(digest(P), digest(P)), 0);
    assert.equal(bytesAtRisk(digest(P), digest(B)), 16 * 1024);
    assert.equal(bytesAtRisk(digest(P), digest(fill(0xa5, 0, 4096))), 12 * 1024);
    assert.equal(judge({ expect: 'previous', generations: [torn('g2')] }).dataAtRiskBytes, 16 * 1024);
  });
});

describe('judgeHa under generated schedules (expect any) and damage after the fact', () => {
  it('row 9 and 10: whatever the faults allowed is fine, as long as nobody\'s bytes are invented', () => {
    assert.deepEqual([judge({ expect: 'any', standbyNow: P, generations: [gen('g2', P)] }).row, judge({ expect: 'any', standbyNow: P, generations: [gen('g2', P)] }).valid], [9, true]);
    const kept = judge({ expect: 'any', standbyNow: B, generations: [torn('g2')] });
    assert.deepEqual([kept.row, kept.valid], [10, true]);
    assert.equal(judge({ expect: 'any', standbyNow: fill(0x77, 0, 10), generations: [gen('g2', P)] }).row, 1);
  });

  it('a generation damaged after the standby restored it is still a source, and not a liveness miss', () => {
    const wasP: GenerationTruth = { generation: 'g2', intact: false, problem: 'chunk 1 does not match its manifest hash', wasIntact: digest(P) };
    for (const expect of ['restored', 'any'] as const) {
      const r = judge({ expect, standbyNow: P, generations: [wasP, gen('g1', OLD)] });
      assert.equal(r.valid, true, `${expect}: ${r.message}`);
    }
    // …but damaged before the standby saw it: keeping B is right, restoring it would not be.
    const before: GenerationTruth = { generation: 'g2', intact: false, problem: 'chunk 1 does not match its manifest hash' };
    assert.equal(judge({ expect: 'any', standbyNow: B, generations: [before] }).valid, true);
    assert.equal(judge({ expect: 'any', standbyNow: P, generations: [before] }).row, 2);
  });
});
