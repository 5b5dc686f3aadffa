// PMEM HA on real guests, through the CLI: the basic save/restore, a cut mid-save, a corrupted
// stored chunk, a standby cut mid-restore, and a wrong key. Each asserts the verdict and the
// evidence the harness read itself (backing files, store), not only the SUT's word.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, domainNames, qemuProcessesOf, tmpDir } from '../helpers.js';
import type { RunResult } from '../../src/results/types.js';

async function run(scenario: string): Promise<RunResult & { dir: string }> {
  const out = tmpDir();
  const r = await cli(['run', `scenarios/${scenario}.yaml`, '--json', '--out', out, '--no-report', '--seed', '21']);
  const summary = JSON.parse(r.stdout || '{}');
  assert.ok(summary.runs?.length, r.all);
  const res = JSON.parse(readFileSync(join(summary.runs[0].dir, 'results.json'), 'utf8')) as RunResult;
  assert.equal(r.exitCode, 0, `${scenario}: ${res.verdict}: ${res.reason}`);
  assert.ok(!(await domainNames()).some((d) => d.includes(res.runId)), 'domain left behind');
  assert.deepEqual(await qemuProcessesOf(res.runId), []);
  assert.match(res.dimensions.store ?? '', /ceph-rgw .*embedded|s3 \(external|minio/);
  return { ...res, dir: summary.runs[0].dir };
}

const haCheck = (r: RunResult) => r.checks.find((c) => c.name.startsWith('standby holds'))!;

describe('@vm PMEM HA scenarios on real guests', function () {
  this.timeout(400_000);

  it('basic: the standby holds the primary PMEM byte for byte; metrics recorded', async () => {
    const r = await run('pmem-ha-basic');
    const c = haCheck(r);
    assert.equal(c.valid, true);
    const ev = c.evidence as any;
    assert.equal(ev.standbyNowSha256, ev.primaryAtCutSha256);
    assert.equal(ev.standbyHolds, 'primary data');
    for (const m of ['notice_to_save_start_ms', 'save_duration_ms', 'save_throughput_mibs', 'bytes_uploaded', 'bytes_skipped_zero', 'rto_ms', 'restore_duration_ms', 'rpo_bytes']) {
      assert.ok(r.metrics[m]?.values.length, `metric ${m}`);
    }
    // 17 MiB of pattern in 1 MiB chunks were uploaded; the rest of the 64 MiB was skipped as zero.
    assert.equal(r.metrics.bytes_uploaded.values[0], 17 * 2 ** 20);
    assert.equal(r.metrics.bytes_skipped_zero.values[0], 47 * 2 ** 20);
    assert.equal(r.metrics.rpo_bytes.values[0], 0);
    assert.ok(r.faults.some((f) => f.kind === 'ac-loss') && r.faults.some((f) => f.kind === 'power-cut'));
  });

  it('cut mid-save (after 3 chunks): the torn save is no generation; the standby keeps its previous content', async () => {
    const r = await run('pmem-ha-cut-mid-save');
    const c = haCheck(r);
    assert.equal(c.valid, true, c.message);
    const ev = c.evidence as any;
    assert.equal(ev.standbyHolds, 'its previous content');
    assert.equal(ev.generations.length, 0);
    assert.equal(ev.uncommitted.length, 1);
    assert.equal(ev.uncommitted[0].chunks, 3);
    assert.match(c.message, /torn save/);
    assert.ok(r.metrics.rpo_bytes.values[0] > 0, 'data at risk is reported');
    // every HA metric is named; the ones this run could not sample say why
    assert.equal(r.metrics.restore_duration_ms.values.length, 0);
    assert.match(r.metrics.restore_duration_ms.missing ?? '', /did not restore this save: .*torn save/);
    assert.match(r.metrics.save_duration_ms.missing ?? '', /no save ran to its end/);
  });

  it('pipelined (64 MiB half full): the standby fetched the chunks during the save and holds the primary PMEM byte for byte', async () => {
    const r = await run('pmem-ha-pipelined');
    const c = haCheck(r);
    assert.equal(c.valid, true, c.message);
    assert.equal((c.evidence as any).standbyNowSha256, (c.evidence as any).primaryAtCutSha256);
    assert.equal(r.metrics.bytes_uploaded.values[0], 32 * 2 ** 20);
    // the pipelined path ran (the SUT's report of how, not whether, it restored)
    const holds = r.history.find((e) => e.f === 'holds')?.value as any;
    assert.equal(holds.prefetch?.generation, holds.generation);
    assert.ok(holds.restore.chunksReused > 0, `no prefetched chunk reused: ${JSON.stringify(holds.restore)}`);
  });

  it('pipelined, cut mid-save (after 3 chunks): the standby staged the torn save but its PMEM keeps the previous content', async () => {
    const r = await run('pmem-ha-pipelined-cut-mid-save');
    const c = haCheck(r);
    assert.equal(c.valid, true, c.message);
    const ev = c.evidence as any;
    assert.equal(ev.standbyHolds, 'its previous content');
    assert.equal(ev.uncommitted[0].chunks, 3);
    const settled = r.history.filter((e) => e.f === 'settled').at(-1)?.value as any;
    assert.equal(settled?.prefetch?.chunksStaged, 3);
  });

  it('pre-copy (10 % dirtied after the sync): only dirty chunks are saved after the notice; the standby holds the primary PMEM byte for byte', async () => {
    const r = await run('pmem-ha-precopy');
    const c = haCheck(r);
    assert.equal(c.valid, true, c.message);
    assert.equal((c.evidence as any).standbyNowSha256, (c.evidence as any).primaryAtCutSha256);
    // 6 of the 32 non-zero 1 MiB chunks changed after the copy synced; the copy may have caught
    // some of them before the notice, never more than those are left for the save
    assert.ok(r.metrics.bytes_uploaded.values[0] <= 6 * 2 ** 20, `uploaded ${r.metrics.bytes_uploaded.values[0]} bytes after the notice`);
    const synced = r.history.find((e) => e.f === 'precopy-synced')?.value as any;
    assert.equal(synced?.chunksHeld, 32);
  });

  it('pre-copy tracked by dm-era: the save reads and uploads only the chunks written after the sync; the standby holds the primary PMEM byte for byte', async () => {
    const r = await run('pmem-ha-precopy-era');
    const c = haCheck(r);
    assert.equal(c.valid, true, c.message);
    assert.equal((c.evidence as any).standbyNowSha256, (c.evidence as any).primaryAtCutSha256);
    // 6 of the 32 non-zero 1 MiB chunks were written after the sync, through /dev/nvdimm0 (which
    // the agent pointed at dm-era); a pass may have copied some of them before the notice
    assert.ok(r.metrics.bytes_uploaded.values[0] <= 6 * 2 ** 20, `uploaded ${r.metrics.bytes_uploaded.values[0]} bytes after the notice`);
    // without tracking the save reads all 64 MiB; with it, at most the 6 written chunks
    assert.ok(r.metrics.bytes_read_at_save.values[0] <= 6 * 2 ** 20, `read ${r.metrics.bytes_read_at_save.values[0]} bytes at the save`);
  });

  it('corrupted chunk: the standby refuses the generation, naming the chunk', async () => {
    const r = await run('pmem-ha-corrupt-chunk');
    const c = haCheck(r);
    assert.equal(c.valid, true, c.message);
    const ev = c.evidence as any;
    assert.equal(ev.generations[0].intact, false);
    assert.match(ev.generations[0].problem, /chunk \d+ does not match/);
    assert.match(c.message, /refused .*chunk/i);
  });

  it('standby cut mid-restore: the next boot redoes the restore from the journal', async () => {
    const r = await run('pmem-ha-standby-cut');
    const c = haCheck(r);
    assert.equal(c.valid, true, c.message);
    assert.equal((c.evidence as any).standbyHolds, 'primary data');
    const settled = r.history.filter((e) => e.f === 'settled').at(-1)?.value as any;
    assert.equal(settled?.restore?.trigger, 'boot-redo');
    assert.ok(r.faults.filter((f) => f.kind === 'power-cut').length >= 1);
  });

  it('wrong key: the save fails with SignatureDoesNotMatch, the secret appears nowhere', async () => {
    const r = await run('pmem-ha-wrong-key');
    const ended = r.history.find((e) => e.f === 'save-ended')?.value as any;
    assert.equal(ended.outcome, 'failed');
    assert.match(ended.error, /SignatureDoesNotMatch/);
    assert.equal(haCheck(r).valid, true);
    // The agent got the (wrong) key in a file on its control share: the guest-exec call carries
    // only the file's name, never a key.
    const transcript = readFileSync(join(r.dir, 'primary.agent.jsonl'), 'utf8');
    assert.match(transcript, /"env":\["FTH_S3_CREDENTIALS_FILE=\/run\/fthctl\/credentials.json"\]/);
    assert.doesNotMatch(transcript, /SECRET_ACCESS_KEY|ACCESS_KEY_ID/);
  });

  it('ext4-DAX with a PMDK pool: the frozen filesystem is restored clean, every durable file there, the pool passes pmempool check', async () => {
    const r = await run('pmem-ha-ext4-dax');
    assert.equal(haCheck(r).valid, true, haCheck(r).message);
    const fs = r.checks.find((c) => c.name.includes('filesystem on its PMEM'))!;
    assert.equal(fs.valid, true, fs.message);
    const ev = fs.evidence as any;
    assert.equal(ev.layout, 'fsdax'); // DAX needs the fsdax namespace: the fs starts past its info block
    assert.equal(ev.fsOffset, 2 * 2 ** 20);
    assert.equal(ev.e2fsckExit, 0);
    assert.ok(ev.durableRecords >= 50, `writer made ${ev.durableRecords} operations durable`);
    assert.equal(ev.missing, 0);
    assert.deepEqual(ev.pools, [{ path: '/pool.obj', exitCode: 0 }]);
    // the quiesce really was the filesystem freeze
    const started = JSON.stringify(r.history.filter((e) => e.f === 'ha-agent-start'));
    assert.match(started, /fsfreeze --freeze \/mnt\/pmem/);
  });
});
