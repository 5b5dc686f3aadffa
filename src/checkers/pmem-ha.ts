// Ground truth for PMEM HA, read by the harness itself:
// - the primary's NVDIMM backing file at the power cut (writers were quiesced at the notice, so
//   this is what a correct save must hold);
// - the standby's backing file after recovery;
// - the store: every generation the harness can find, each chunk fetched and hashed by the
//   harness (the SUT's manifest checksum and verdicts are not trusted).
// The table of every case and its verdict is judgeHa's doc comment; test/checkers/pmem-ha.test
// has a row for each.
import { createHash } from 'node:crypto';
import type { CheckResult } from '../results/types.js';
import { getObject, headObject, makeS3Client, type S3Connection } from '../store/s3.js';
import { firstDifference } from '../runner/patterns.js';

export interface GenerationTruth {
  generation: string;
  intact: boolean;
  problem?: string;
  /** reassembled content when intact */
  content?: Buffer;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface ManifestView { regionSize: number; chunkSize: number; chunks: { index: number; sha256: string; zero: boolean }[] }

/** Read one generation as the harness sees it: manifest + every chunk, hashed here. */
export async function readGeneration(conn: S3Connection, bucket: string, prefix: string, generation: string): Promise<GenerationTruth> {
  const s3 = makeS3Client(conn);
  try {
    let m: ManifestView;
    try {
      m = JSON.parse((await getObject(s3, bucket, `${prefix}/gen/${generation}/manifest.json`)).toString('utf8')) as ManifestView;
      if (!Number.isInteger(m.regionSize) || !Number.isInteger(m.chunkSize) || !Array.isArray(m.chunks)) throw new Error('manifest lacks regionSize/chunkSize/chunks');
    } catch (e) {
      return { generation, intact: false, problem: `manifest unreadable: ${(e as Error).message}` };
    }
    const content = Buffer.alloc(m.regionSize);
    for (const c of m.chunks) {
      const off = c.index * m.chunkSize;
      const len = Math.min(m.chunkSize, m.regionSize - off);
      if (c.zero) {
        if (c.sha256 !== sha(Buffer.alloc(len))) return { generation, intact: false, problem: `chunk ${c.index} marked zero with a non-zero hash` };
        continue;
      }
      const key = `${prefix}/gen/${generation}/chunk/${c.index}`;
      if (!(await headObject(s3, bucket, key))) return { generation, intact: false, problem: `chunk ${c.index} missing from the store` };
      const body = await getObject(s3, bucket, key);
      if (body.length !== len || sha(body) !== c.sha256) return { generation, intact: false, problem: `chunk ${c.index} does not match its manifest hash` };
      body.copy(content, off);
    }
    return { generation, intact: true, content };
  } finally {
    s3.destroy();
  }
}

export interface HaTruth {
  primaryAtCut: Buffer;
  standbyNow: Buffer;
  standbyBefore: Buffer;
  generations: GenerationTruth[]; // newest first
  expect: 'restored' | 'previous';
  /** the SUT's own status: used to explain a verdict, never to decide it */
  standbyStatus?: Record<string, any>;
  /** saves that stored chunks but never a manifest (torn saves), with their chunk counts */
  uncommitted?: { generation: string; chunks: number }[];
}

const BLOCK = 4096;
/** Non-zero bytes of the primary's PMEM that the standby does not hold (block by block). */
export function bytesAtRisk(primary: Buffer, standby: Buffer): number {
  let n = 0;
  for (let off = 0; off < primary.length; off += BLOCK) {
    const p = primary.subarray(off, off + BLOCK);
    const s = standby.subarray(off, off + BLOCK);
    if (p.equals(s)) continue;
    for (let i = 0; i < p.length; i++) if (p[i] !== 0 && p[i] !== s[i]) n++;
  }
  return n;
}

/**
 * The PMEM HA oracle. Everything it reads was collected by the harness:
 *   P  the primary's NVDIMM backing file at the power cut (writers quiesced at the notice, so
 *      this is what a correct save must hold);
 *   B  the standby's content before the fault (its backing file when its agent started, or a
 *      named snapshot);
 *   S  the standby's backing file now (after `wait-ha` let it settle or restore);
 *   G  every generation the harness found and reassembled from the store, hashed here, newest
 *      first; N = the newest intact one; E = "some intact generation equals P".
 *
 * Every case, first matching row wins:
 *
 * | row | case                                                     | valid   | meaning                                   |
 * |-----|----------------------------------------------------------|---------|-------------------------------------------|
 * | 1   | S is neither P, nor B, nor any intact generation          | false   | SILENT MISMATCH: bytes nobody committed   |
 * | 2   | S = P, P ≠ B, and no intact generation equals P           | false   | restored from a torn or damaged save      |
 * | 3   | N exists, N ≠ B, and S ≠ N                                | false   | the standby ignored or lost the newest    |
 * |     |                                                          |         | intact generation (liveness)              |
 * | 4   | expect restored, not E                                    | false   | the save did not commit P (not saved in   |
 * |     |                                                          |         | time, or saved while writers still ran)   |
 * | 5   | expect restored, E, S = P                                 | true    | standby holds the primary's PMEM          |
 * | 6   | expect restored, E, S ≠ P                                 | false   | holds an intact generation, but not P     |
 * | 7   | expect previous, E                                        | unknown | the fault did not bite: the save committed |
 * |     |                                                          |         | anyway and the standby rightly holds it   |
 * | 8   | expect previous, not E                                    | true    | standby kept B (or the newest intact      |
 * |     |                                                          |         | older generation); the reasons are listed |
 *
 * Row 6 cannot follow rows 3–5 when N is the generation equal to P; it is kept so the table is
 * total (e.g. an older intact generation equals P while a newer, different one exists and the
 * standby holds P: row 3 already catches that, row 6 any remainder).
 * dataAtRiskBytes: non-zero bytes of P the standby does not hold (the RPO in bytes).
 */
export function judgeHa(t: HaTruth): { check: CheckResult; dataAtRiskBytes: number; row: number } {
  const intact = t.generations.filter((g) => g.intact);
  const torn = t.generations.filter((g) => !g.intact);
  const newest = intact[0];
  const equalsPrimary = intact.find((g) => g.content!.equals(t.primaryAtCut));
  const holdsPrimary = t.standbyNow.equals(t.primaryAtCut);
  const holdsBefore = t.standbyNow.equals(t.standbyBefore);
  const holdsGen = intact.find((g) => g.content!.equals(t.standbyNow));
  const refusals = t.standbyStatus?.refusals;
  const holds = holdsPrimary ? 'primary data' : holdsBefore ? 'its previous content' : holdsGen ? `generation ${holdsGen.generation}` : 'unknown bytes';
  const evidence: Record<string, unknown> = {
    generations: t.generations.map((g) => ({ generation: g.generation, intact: g.intact, problem: g.problem, sha256: g.content && sha(g.content) })),
    primaryAtCutSha256: sha(t.primaryAtCut), standbyNowSha256: sha(t.standbyNow), standbyBeforeSha256: sha(t.standbyBefore),
    standbyHolds: holds, newestIntact: newest?.generation ?? null, equalsPrimary: equalsPrimary?.generation ?? null,
    uncommitted: t.uncommitted ?? [],
    standbySays: t.standbyStatus ? { heldGeneration: t.standbyStatus.heldGeneration, refusals, lastError: t.standbyStatus.lastError } : 'no status',
  };
  const name = `standby holds ${t.expect === 'restored' ? "the primary's PMEM" : 'its previous content'}`;
  const atRisk = bytesAtRisk(t.primaryAtCut, t.standbyNow);
  const out = (row: number, valid: CheckResult['valid'], message: string) => ({ row, dataAtRiskBytes: atRisk, check: { name, valid, message, evidence: { ...evidence, row } } });

  if (!holdsPrimary && !holdsBefore && !holdsGen) {
    const d = firstDifference(t.standbyNow, t.primaryAtCut);
    return out(1, false, `SILENT MISMATCH: the standby holds bytes that are neither the primary's PMEM, its previous content, nor an intact generation (first difference from the primary at byte ${d})`);
  }
  if (holdsPrimary && !holdsBefore && !equalsPrimary) {
    return out(2, false, 'standby holds the primary data although no intact generation carries it (restored from a torn or damaged save)');
  }
  if (newest && !newest.content!.equals(t.standbyBefore) && !newest.content!.equals(t.standbyNow)) {
    return out(3, false, `generation ${newest.generation} is intact and the newest in the store, but the standby holds ${holds}: it ignored or lost it${refusals?.length ? ` (it says it refused: ${JSON.stringify(refusals.at(-1)).slice(0, 200)})` : ''}`);
  }
  if (t.expect === 'restored') {
    if (!equalsPrimary) return out(4, false, `no intact generation in the store equals the primary's PMEM at the cut (${intact.length} intact, ${torn.length} damaged, ${t.uncommitted?.length ?? 0} torn): not saved in time, or saved while writers still ran`);
    if (holdsPrimary) return out(5, true, `standby holds generation ${equalsPrimary.generation}, byte for byte the primary's PMEM at the cut`);
    return out(6, false, `generation ${equalsPrimary.generation} is intact and equals the primary, but the standby holds ${holds}`);
  }
  if (equalsPrimary) {
    return out(7, 'unknown', `the fault did not bite: generation ${equalsPrimary.generation} committed the primary's PMEM anyway and the standby holds ${holds}; nothing was learned about a failed save`);
  }
  const reasons: string[] = [];
  if (refusals?.length) reasons.push(`the standby refused ${JSON.stringify(refusals.at(-1)).slice(0, 300)}`);
  if (torn.length) reasons.push(`damaged generation(s): ${torn.map((g) => `${g.generation} (${g.problem})`).join(', ')}`);
  if (t.uncommitted?.length) reasons.push(`torn save(s) without a manifest, not a generation: ${t.uncommitted.map((u) => `${u.generation} (${u.chunks} chunks stored)`).join(', ')}`);
  if (!t.generations.length && !t.uncommitted?.length) reasons.push('no save reached the store');
  return out(8, true, `standby kept ${holds}${reasons.length ? `: ${reasons.join('; ')}` : ''}`);
}
