// The PMEM HA oracle: a pure function of evidence the harness collected itself and kept in the
// results dir (digests of backing files and of every generation it reassembled from the store),
// so `ftharness check` can judge a stored run again.
import type { CheckResult } from '../../results/types.js';
import { bytesAtRisk, firstDifferentBlock, sameContent, type Digest } from '../../checkers/digest.js';

export interface GenerationTruth {
  generation: string;
  /** intact now: the manifest reads, every chunk is there and matches its hash (checked here) */
  intact: boolean;
  problem?: string;
  /** its content when intact */
  digest?: Digest;
  /** its content as the harness saw it intact earlier, before a fault damaged it */
  wasIntact?: Digest;
}

export interface HaEvidence {
  primaryAtCut: Digest;
  standbyNow: Digest;
  standbyBefore: Digest;
  /** newest first (generation ids sort by time) */
  generations: GenerationTruth[];
  /** any: a generated fault schedule, whose outcome nobody knows in advance */
  expect: 'restored' | 'previous' | 'any';
  /** the SUT's own status: explains a verdict, never decides it */
  standbyStatus?: Record<string, any>;
  /** saves that stored chunks but never a manifest (torn saves), with their chunk counts */
  uncommitted?: { generation: string; chunks: number }[];
}

/**
 * The oracle's table. P = the primary's NVDIMM at the power cut (writers quiesced at the notice,
 * so what a correct save must hold); B = the standby's content before the fault; S = the
 * standby's content now; N = the newest generation intact now; E = "a generation intact now
 * equals P, or S = P from a generation damaged since". A generation that was intact when the
 * harness saw it and was damaged afterwards (a corruption fault) still counts as a source the
 * standby may hold. First matching row wins:
 *
 * | row | case                                                         | valid   | meaning                                    |
 * |-----|--------------------------------------------------------------|---------|--------------------------------------------|
 * | 1   | S is neither P, nor B, nor a generation that is/was intact    | false   | SILENT MISMATCH: bytes nobody committed    |
 * | 2   | S = P, P ≠ B, and no generation that is/was intact equals P   | false   | restored from a torn or damaged save       |
 * | 3   | N exists, N ≠ B, and S is older than N (B or an older gen)     | false   | the standby ignored or lost the newest     |
 * |     |                                                              |         | intact generation (liveness)               |
 * | 4   | expect restored, not E                                        | false   | the save did not commit P (not saved in    |
 * |     |                                                              |         | time, or saved while writers still ran)    |
 * | 5   | expect restored, E, S = P                                     | true    | the standby holds the primary's PMEM       |
 * | 6   | expect restored or any, E, S ≠ P                              | false   | holds an intact generation, but not P      |
 * | 7   | expect previous, E                                            | unknown | the fault did not bite: the save committed |
 * |     |                                                              |         | anyway and the standby rightly holds it    |
 * | 8   | expect previous, not E                                        | true    | the standby kept B (or the newest intact   |
 * |     |                                                              |         | older generation); the reasons are listed  |
 * | 9   | expect any, E, S = P                                          | true    | the save committed and the standby holds it |
 * | 10  | expect any, not E                                             | true    | the save did not commit; the standby kept  |
 * |     |                                                              |         | B or the newest intact generation          |
 *
 * Row 6 cannot follow rows 3–5 when N is the generation equal to P; it keeps the table total.
 * dataAtRiskBytes: the non-zero bytes of P in blocks the standby does not hold (the RPO).
 */
export function judgeHa(t: HaEvidence): CheckResult & { dataAtRiskBytes: number; row: number } {
  const source = (g: GenerationTruth) => (g.intact ? g.digest : g.wasIntact);
  const intact = t.generations.filter((g) => g.intact);
  const damaged = t.generations.filter((g) => !g.intact);
  const newest = intact[0];
  const holds = (d: Digest) => sameContent(t.standbyNow, d);
  const equalsPrimary = t.generations.find((g) => source(g) && sameContent(source(g)!, t.primaryAtCut));
  const intactEqualsPrimary = intact.find((g) => sameContent(g.digest!, t.primaryAtCut));
  const holdsPrimary = holds(t.primaryAtCut);
  const holdsBefore = holds(t.standbyBefore);
  const holdsGen = t.generations.find((g) => source(g) && holds(source(g)!));
  const refusals = t.standbyStatus?.refusals;
  const what = holdsPrimary ? 'primary data' : holdsBefore ? 'its previous content' : holdsGen ? `generation ${holdsGen.generation}${holdsGen.intact ? '' : ' (intact when restored, damaged since)'}` : 'unknown bytes';
  const evidence: Record<string, unknown> = {
    generations: t.generations.map((g) => ({ generation: g.generation, intact: g.intact, problem: g.problem, sha256: source(g)?.sha256 })),
    primaryAtCutSha256: t.primaryAtCut.sha256, standbyNowSha256: t.standbyNow.sha256, standbyBeforeSha256: t.standbyBefore.sha256,
    standbyHolds: what, newestIntact: newest?.generation ?? null, equalsPrimary: equalsPrimary?.generation ?? null,
    uncommitted: t.uncommitted ?? [],
    standbySays: t.standbyStatus ? { heldGeneration: t.standbyStatus.heldGeneration, refusals, lastError: t.standbyStatus.lastError } : 'no status',
  };
  const name = `standby holds ${t.expect === 'restored' ? "the primary's PMEM" : t.expect === 'previous' ? 'its previous content' : 'only committed data'}`;
  const atRisk = bytesAtRisk(t.primaryAtCut, t.standbyNow);
  const out = (row: number, valid: CheckResult['valid'], message: string) => ({ row, dataAtRiskBytes: atRisk, name, valid, message, evidence: { ...evidence, row, dataAtRiskBytes: atRisk } });

  if (!holdsPrimary && !holdsBefore && !holdsGen) {
    return out(1, false, `SILENT MISMATCH: the standby holds bytes that are neither the primary's PMEM, its previous content, nor an intact generation (first difference from the primary in the block at byte ${firstDifferentBlock(t.standbyNow, t.primaryAtCut)})`);
  }
  if (holdsPrimary && !holdsBefore && !equalsPrimary) {
    return out(2, false, 'standby holds the primary data although no intact generation carries it (restored from a torn or damaged save)');
  }
  // Newer than N is fine: a generation damaged after the standby restored it.
  const newerThanNewest = holdsGen && newest && holdsGen.generation > newest.generation;
  if (newest && !sameContent(newest.digest!, t.standbyBefore) && !holds(newest.digest!) && !newerThanNewest) {
    return out(3, false, `generation ${newest.generation} is intact and the newest in the store, but the standby holds ${what}: it ignored or lost it${refusals?.length ? ` (it says it refused: ${JSON.stringify(refusals.at(-1)).slice(0, 200)})` : ''}`);
  }
  // E: a generation intact now equals P — or the standby holds P from one damaged since.
  const committed = intactEqualsPrimary ?? (holdsPrimary ? equalsPrimary : undefined);
  if (t.expect === 'restored') {
    if (!committed) return out(4, false, `no intact generation in the store equals the primary's PMEM at the cut (${intact.length} intact, ${damaged.length} damaged, ${t.uncommitted?.length ?? 0} torn): not saved in time, or saved while writers still ran`);
    if (holdsPrimary) return out(5, true, `standby holds generation ${committed.generation}, byte for byte the primary's PMEM at the cut`);
    return out(6, false, `generation ${committed.generation} is intact and equals the primary, but the standby holds ${what}`);
  }
  const reasons: string[] = [];
  if (refusals?.length) reasons.push(`the standby refused ${JSON.stringify(refusals.at(-1)).slice(0, 300)}`);
  if (damaged.length) reasons.push(`damaged generation(s): ${damaged.map((g) => `${g.generation} (${g.problem})`).join(', ')}`);
  if (t.uncommitted?.length) reasons.push(`torn save(s) without a manifest, not a generation: ${t.uncommitted.map((u) => `${u.generation} (${u.chunks} chunks stored)`).join(', ')}`);
  if (!t.generations.length && !t.uncommitted?.length) reasons.push('no save reached the store');
  const why = reasons.length ? `: ${reasons.join('; ')}` : '';
  if (t.expect === 'previous') {
    if (committed) return out(7, 'unknown', `the fault did not bite: generation ${committed.generation} committed the primary's PMEM anyway and the standby holds ${what}; nothing was learned about a failed save`);
    return out(8, true, `standby kept ${what}${why}`);
  }
  if (committed && holdsPrimary) return out(9, true, `the save committed (generation ${committed.generation}) and the standby holds the primary's PMEM`);
  if (committed) return out(6, false, `generation ${committed.generation} committed the primary's PMEM, but the standby holds ${what}`);
  return out(10, true, `no intact generation carries the PMEM at the cut; the standby kept ${what}${why}`);
}
