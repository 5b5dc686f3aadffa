// The filesystem oracle: a pure function of what fs-truth.ts read from the standby's backing file,
// so `ftharness check` can judge a stored run again. Valid only if all hold:
//   - the region holds an ext4 filesystem where its layout says (fsdax info block or raw);
//   - e2fsck -fn exits 0 and does not need its journal replayed (a quiesced save holds a frozen,
//     hence clean, filesystem; an unquiesced one holds a mounted one, mid-transaction);
//   - every file the writer reported durable is there with its content, and every name it
//     renamed away is gone;
//   - each PMDK pool passes pmempool check.
// With no durable record at all the writer never wrote, and nothing can be said about it: unknown.
import type { CheckResult } from '../../results/types.js';
import { expectedState } from '../../workloads/fs-writer.js';
import type { FsEvidence } from './fs-truth.js';

export interface FsCheckInput extends FsEvidence { dir: string; name?: string }

const NEEDS_RECOVERY = /skipping journal recovery|needs_recovery|journal recovery/i;

export function judgeFs(e: FsCheckInput): CheckResult {
  const name = e.name ?? `standby filesystem (${e.label})`;
  const problems: string[] = [];
  if (!e.ext4) return { name, valid: false, message: `no ext4 filesystem at byte ${e.fsOffset} of the NVDIMM (${e.layout} layout)`, evidence: { fsOffset: e.fsOffset, layout: e.layout } };
  if (!e.e2fsck || e.e2fsck.exitCode !== 0) problems.push(`e2fsck -fn exit ${e.e2fsck?.exitCode ?? 'not run'}`);
  else if (NEEDS_RECOVERY.test(e.e2fsck.output)) problems.push('e2fsck -fn: the journal needs recovery (the save read a mounted, unquiesced filesystem)');
  if (e.dumpError) problems.push(`debugfs could not read the whole tree: ${e.dumpError.trim().split('\n').at(-1)}`);
  let missing: string[] = [];
  let wrong: string[] = [];
  let resurrected: string[] = [];
  if (e.durable !== undefined) {
    const { files, gone } = expectedState(e.durable);
    const at = (n: string) => `${e.dir.replace(/\/+$/, '')}/${n}`;
    missing = [...files.keys()].filter((n) => e.files[at(n)] === undefined);
    wrong = [...files.entries()].filter(([n, h]) => e.files[at(n)] !== undefined && e.files[at(n)] !== h).map(([n]) => n);
    resurrected = [...gone].filter((n) => e.files[at(n)] !== undefined);
    const list = (xs: string[]) => `${xs.slice(0, 5).join(', ')}${xs.length > 5 ? ` … (${xs.length})` : ''}`;
    if (missing.length) problems.push(`${missing.length} of ${files.size} durable files missing: ${list(missing)}`);
    if (wrong.length) problems.push(`${wrong.length} durable files with other content: ${list(wrong)}`);
    if (resurrected.length) problems.push(`${resurrected.length} names renamed away durably are back: ${list(resurrected)}`);
  }
  for (const p of e.pools) if (p.check.exitCode !== 0) problems.push(`pmempool check ${p.path}: exit ${p.check.exitCode}: ${p.check.output.trim().split('\n').slice(-2).join(' / ')}`);
  const evidence = { fsOffset: e.fsOffset, layout: e.layout, files: Object.keys(e.files).length, durableRecords: e.durable?.length, missing: missing.length, wrongContent: wrong.length, resurrected: resurrected.length, pools: e.pools.map((p) => ({ path: p.path, exitCode: p.check.exitCode })), e2fsckExit: e.e2fsck?.exitCode };
  if (problems.length) return { name, valid: false, message: problems.join('; '), evidence };
  if (e.durable !== undefined && e.durable.length === 0) return { name, valid: 'unknown', message: 'the writer reported no durable operation: nothing to hold the filesystem to', evidence };
  const held = e.durable ? `, all ${expectedState(e.durable).files.size} durable files of ${e.durable.length} operations there with their content` : '';
  return { name, valid: true, message: `ext4 at byte ${e.fsOffset} (${e.layout}) clean by e2fsck -fn${held}${e.pools.length ? `, ${e.pools.length} PMDK pool(s) pass pmempool check` : ''}`, evidence };
}
