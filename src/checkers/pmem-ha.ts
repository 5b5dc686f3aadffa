// Ground truth for PMEM HA, read by the harness itself:
// - the primary's NVDIMM backing file at the power cut (writers were quiesced at the notice, so
//   this is what a correct save must hold);
// - the standby's backing file after recovery;
// - the store: every generation the harness can find, each chunk fetched and hashed by the
//   harness (the SUT's manifest checksum and verdicts are not trusted).
// A silent mismatch — the standby holding bytes that are neither the primary's truth nor its
// previous content nor an intact older generation — is always a failed run.
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
  standbyStatus?: Record<string, any>;
  /** saves that stored chunks but never a manifest (torn saves), with their chunk counts */
  uncommitted?: { generation: string; chunks: number }[];
}

function nonZeroBytes(b: Buffer): number {
  let n = 0;
  for (let i = 0; i < b.length; i++) if (b[i]) n++;
  return n;
}

export function judgeHa(t: HaTruth): { check: CheckResult; dataAtRiskBytes: number } {
  const intact = t.generations.filter((g) => g.intact);
  const torn = t.generations.filter((g) => !g.intact);
  const equalsPrimary = intact.find((g) => g.content!.equals(t.primaryAtCut));
  const holdsPrimary = t.standbyNow.equals(t.primaryAtCut);
  const holdsBefore = t.standbyNow.equals(t.standbyBefore);
  const holdsGen = intact.find((g) => g.content!.equals(t.standbyNow));
  const refusals = t.standbyStatus?.refusals;
  const evidence: Record<string, unknown> = {
    generations: t.generations.map((g) => ({ generation: g.generation, intact: g.intact, problem: g.problem, sha256: g.content && sha(g.content) })),
    primaryAtCutSha256: sha(t.primaryAtCut), standbyNowSha256: sha(t.standbyNow), standbyBeforeSha256: sha(t.standbyBefore),
    standbyHolds: holdsPrimary ? 'primary data' : holdsBefore ? 'its previous content' : holdsGen ? `generation ${holdsGen.generation}` : 'unknown bytes',
    uncommitted: t.uncommitted ?? [],
    standbySays: t.standbyStatus ? { heldGeneration: t.standbyStatus.heldGeneration, refusals, lastError: t.standbyStatus.lastError } : 'no status',
  };
  const name = `standby holds ${t.expect === 'restored' ? "the primary's PMEM" : 'its previous content'}`;
  const atRisk = holdsPrimary ? 0 : nonZeroBytes(t.primaryAtCut);
  if (!holdsPrimary && !holdsBefore && !holdsGen) {
    const d = firstDifference(t.standbyNow, t.primaryAtCut);
    return { dataAtRiskBytes: atRisk, check: { name, valid: false, message: `SILENT MISMATCH: the standby holds bytes that are neither the primary's PMEM, its previous content, nor an intact generation (first difference from the primary at byte ${d})`, evidence } };
  }
  if (t.expect === 'restored') {
    if (!equalsPrimary) {
      return { dataAtRiskBytes: atRisk, check: { name, valid: false, message: `no intact generation in the store equals the primary's PMEM at the cut (${intact.length} intact, ${torn.length} torn)`, evidence } };
    }
    return holdsPrimary
      ? { dataAtRiskBytes: 0, check: { name, valid: true, message: `standby holds generation ${equalsPrimary.generation}, byte for byte the primary's PMEM at the cut`, evidence } }
      : { dataAtRiskBytes: atRisk, check: { name, valid: false, message: `generation ${equalsPrimary.generation} is intact and equals the primary, but the standby holds ${evidence.standbyHolds}`, evidence } };
  }
  // expect previous: the save could not be trusted; the standby must not hold the torn data.
  if (holdsPrimary && !equalsPrimary) {
    return { dataAtRiskBytes: 0, check: { name, valid: false, message: 'standby holds the primary data although no intact generation carries it (restored from a torn save?)', evidence } };
  }
  if (holdsPrimary) {
    return { dataAtRiskBytes: 0, check: { name, valid: false, message: `expected the standby to keep its previous content, but generation ${equalsPrimary!.generation} is intact and was restored: the fault did not bite`, evidence } };
  }
  const reasons: string[] = [];
  if (refusals?.length) reasons.push(`the standby refused ${JSON.stringify(refusals.at(-1)).slice(0, 300)}`);
  if (torn.length) reasons.push(`damaged generation(s): ${torn.map((g) => `${g.generation} (${g.problem})`).join(', ')}`);
  if (t.uncommitted?.length) reasons.push(`torn save(s) without a manifest, not a generation: ${t.uncommitted.map((u) => `${u.generation} (${u.chunks} chunks stored)`).join(', ')}`);
  if (!t.generations.length && !t.uncommitted?.length) reasons.push('no save reached the store');
  const why = reasons.length ? `: ${reasons.join('; ')}` : '';
  return { dataAtRiskBytes: atRisk, check: { name, valid: true, message: `standby kept ${evidence.standbyHolds}${why}`, evidence } };
}
