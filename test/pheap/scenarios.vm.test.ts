// Real-VM integration tests of the persistent heap: each pheap scenario runs through the real
// CLI on real guests and must pass; then the evidence of its checks (the heap CLI's JSON, from
// the guest's exec output and the host-checks on backing-file snapshots) must show that the
// fault really happened and was handled as claimed, and nothing of the run may be left behind.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, domainNames, qemuProcessesOf, tmpDir } from '../helpers.js';
import type { CheckResult, RunResult } from '../../src/results/types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any; // the heap CLI's JSON output

interface Ran {
  res: RunResult;
  ms: number;
}

async function runScenario(file: string, seed: number): Promise<Ran> {
  const t0 = Date.now();
  const r = await cli(['run', file, '--json', '--out', tmpDir('fth-pheap-'), '--no-report', '--seed', String(seed)]);
  const ms = Date.now() - t0;
  assert.equal(r.exitCode, 0, r.all);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.verdict, 'pass', summary.runs?.[0]?.reason);
  const res = JSON.parse(readFileSync(join(summary.runs[0].dir, 'results.json'), 'utf8')) as RunResult;
  assert.equal(res.verdict, 'pass', res.reason);
  assert.equal(res.seed, seed);
  for (const c of res.checks) assert.equal(c.valid, true, `${c.name}: ${c.message}`);
  assert.ok(!(await domainNames()).some((d) => d.includes(res.runId)), 'domain left behind');
  assert.deepEqual(await qemuProcessesOf(res.runId), [], 'qemu left behind');
  return { res, ms };
}

/** Every JSON line a check printed (guest exec: stdout; host-check: output), in order. */
function jsonLines(c: CheckResult): Json[] {
  const e = c.evidence as Json;
  const text: string = e.stdout ?? e.output ?? '';
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}
const last = (c: CheckResult): Json => jsonLines(c).at(-1);
const byName = (res: RunResult, prefix: string): CheckResult => {
  const c = res.checks.find((x) => x.name.startsWith(prefix));
  assert.ok(c, `no check named "${prefix}…" in ${res.checks.map((x) => x.name).join(' | ')}`);
  return c;
};
/** Checks of guest execs whose last JSON line is from this heap CLI command, in run order. */
const execsOf = (res: RunResult, command: string): Json[] =>
  res.checks.filter((c) => c.name.startsWith('exec on')).map(last).filter((j) => j?.command === command);

describe('@vm persistent heap scenarios on real guests', function () {
  this.timeout(900_000);
  const timings: string[] = [];
  after(() => {
    if (timings.length) console.log(`      pheap scenario timings: ${timings.join(', ')}`);
  });

  it('pheap-crash-restart: mutations cut by the power persist and the heap verifies on host and guest', async () => {
    const { res, ms } = await runScenario('scenarios/pheap-crash-restart.yaml', 11);
    timings.push(`crash-restart ${Math.round(ms / 1000)} s`);
    const [build] = execsOf(res, 'build');
    assert.ok(build?.ok, 'build output');
    const host = byName(res, 'heap image in the backing file').evidence as Json;
    const guest = execsOf(res, 'verify')[0];
    assert.equal(res.faults.filter((f) => f.kind === 'power-cut').length, 1);
    for (const [who, v] of [['host', host.json], ['guest', guest]] as const) {
      assert.equal(v.ok, true, `${who} verify: ${JSON.stringify(v).slice(0, 800)}`);
      assert.equal(v.validation.issueCount, 0, who);
      assert.equal(v.check.nodesMatched, build.nodes, `${who}: every node of the seeded graph matched`);
      // Nothing lost: the objects after the cut are the built graph plus the mutate list (and at
      // most one in-flight allocation), so never fewer than right after build.
      assert.ok(v.stats.objects >= build.stats.objects, `${who}: ${v.stats.objects} objects after the cut < ${build.stats.objects} after build`);
      assert.equal(v.stats.objects, build.stats.objects + v.check.mutate.length + v.check.mutate.leaked, who);
      assert.ok(v.check.mutate.length >= v.check.mutate.counter, `${who}: acknowledged appends lost`);
      assert.equal(v.open.swizzled, true, `${who} reopened at another base`);
    }
    assert.equal(host.json.open.newBase, '0x300000000000');
    // Host and guest saw the same image (the host works on a copy).
    assert.equal(guest.check.mutate.length, host.json.check.mutate.length);
    assert.equal(guest.stats.objects, host.json.stats.objects);
  });

  it('pheap-swizzle-cut: a pass cut after K slabs (+ a torn slab) and a pass cut by the power resume at new bases', async () => {
    const { res, ms } = await runScenario('scenarios/pheap-swizzle-cut.yaml', 11);
    timings.push(`swizzle-cut ${Math.round(ms / 1000)} s`);
    assert.equal(res.faults.filter((f) => f.kind === 'power-cut').length, 2);
    const [build] = execsOf(res, 'build');
    const slabs: number = build.stats.slabsUsed;
    assert.ok(slabs >= 120, `heap has ${slabs} slabs; the pass must have many`);
    const b0: string = build.base;

    // Cut 1: stopped after exactly 100 slabs, slab 101 half rewritten, power cut.
    const [stop] = execsOf(res, 'open');
    assert.equal(stop.interrupted, true);
    assert.equal(stop.oldBase, b0);
    assert.notEqual(stop.newBase, b0, 'the reopen must be at another base');
    const b1: string = stop.passes[0].to; // = newBase, unless a detour base was needed
    assert.equal(stop.passes[0].slabsSwizzled, 100);
    assert.equal(typeof stop.tornSlab, 'number');

    const host1 = byName(res, 'cut 1:').evidence as Json;
    const [guest1, guest2] = execsOf(res, 'verify');
    const b2: string = guest1.open.newBase;
    for (const [who, v, to] of [['host', host1.json, '0x300000000000'], ['guest', guest1, b2]] as const) {
      const o = v.open;
      assert.equal(v.ok, true, `${who}: ${JSON.stringify(v).slice(0, 800)}`);
      assert.deepEqual(o.resumed, { from: b0, to: b1 }, `${who} resumed the cut pass B0 -> B1`);
      assert.equal(o.oldBase, b0);
      assert.equal(o.newBase, to);
      // The 100 finished slabs are skipped (never swizzled twice), the rest, the torn one
      // included, are redone; then the whole heap moves to the new base (in one pass, or two
      // through a detour base in the unlikely case that the mmap ranges overlap).
      const [resume, ...moves] = o.passes.map((p: Json) => [p.from, p.to, p.slabsSkipped, p.slabsSwizzled, p.stray]);
      assert.deepEqual(resume, [b0, b1, 100, slabs - 100, 0], who);
      assert.ok(moves.length === 1 || moves.length === 2, `${who}: ${JSON.stringify(o.passes)}`);
      assert.equal(moves[0][0], b1, who);
      assert.equal(moves.at(-1)[1], to, who);
      for (const m of moves) assert.deepEqual(m.slice(2), [0, slabs, 0], who);
      assert.equal(v.validation.issueCount, 0, who);
      assert.equal(v.check.nodesMatched, build.nodes, who);
    }
    assert.ok(![b0, b1].includes(b2), 'the guest reopened at a third base');

    // Cut 2: the opener was frozen right after slab m of the pass B2 -> B3, then the power cut.
    const frozen = res.checks.filter((c) => c.name.startsWith('exec on')).map(last).find((j) => j && 'frozenAfterSlab' in j);
    assert.ok(frozen, 'the watcher froze the opener mid-pass');
    assert.equal(frozen.from, b2);
    const b3: string = frozen.to;
    const host2 = byName(res, 'cut 2:').evidence as Json;
    for (const [who, v, to] of [['host', host2.json, '0x200000000000'], ['guest', guest2, guest2.open.newBase]] as const) {
      const o = v.open;
      assert.equal(v.ok, true, `${who}: ${JSON.stringify(v).slice(0, 800)}`);
      assert.deepEqual(o.resumed, { from: b2, to: b3 }, `${who} resumed the pass the power cut`);
      assert.equal(o.passes[0].from, b2);
      assert.equal(o.passes[0].to, b3);
      // The records of slabs 0..m-1 were durable before slab m was even touched (one barrier
      // per slab), so at least m slabs are skipped; some slabs were still to do.
      assert.ok(o.passes[0].slabsSkipped >= frozen.frozenAfterSlab, `${who}: skipped ${o.passes[0].slabsSkipped}, slab ${frozen.frozenAfterSlab} was done`);
      assert.ok(o.passes[0].slabsSkipped < slabs, `${who}: the pass was not complete at the cut`);
      assert.equal(o.passes[0].slabsSkipped + o.passes[0].slabsSwizzled, slabs);
      assert.equal(o.passes.at(-1).to, to);
      assert.equal(v.validation.issueCount, 0, who);
      assert.equal(v.check.nodesMatched, build.nodes, who);
    }
    assert.ok(![b2, b3].includes(guest2.open.newBase), 'the guest reopened at yet another base');
  });

  it('pheap-corrupt: each corruption kind is refused, naming the part (and slab/object/field)', async () => {
    const { res, ms } = await runScenario('scenarios/pheap-corrupt.yaml', 5);
    timings.push(`corrupt ${Math.round(ms / 1000)} s`);
    assert.equal(res.metrics.boot_to_agent_ms.values.length, 1, 'one boot');
    assert.equal((byName(res, 'control:').evidence as Json).json.ok, true, 'the clean image verifies');
    // Guest exec per kind: [corrupt JSON, verify JSON]; host-check per kind: verify JSON.
    const guest = new Map<string, Json[]>();
    for (const c of res.checks.filter((x) => x.name.startsWith('exec on'))) {
      const [corrupt, verify] = jsonLines(c);
      if (corrupt?.command === 'corrupt') guest.set(corrupt.what, [corrupt, verify]);
    }
    assert.deepEqual([...guest.keys()], ['header', 'registry', 'slab-header', 'slab-table', 'pointer']);
    for (const kind of ['header', 'registry', 'slab-header', 'slab-table']) {
      const [corrupt, gv] = guest.get(kind)!;
      const hv = (byName(res, `${kind}:`).evidence as Json).json;
      for (const [who, v] of [['guest', gv], ['host', hv]] as const) {
        assert.equal(v.command, 'verify');
        assert.equal(v.ok, false, `${who} ${kind}`);
        assert.equal(v.error, 'HeapCorruptError', `${who} ${kind}: ${v.message}`);
        assert.equal(v.part, kind, `${who} ${kind}: ${v.message}`);
        if (kind === 'slab-header') assert.match(v.detail, new RegExp(`^slab ${corrupt.slab}: checksum mismatch`), who);
        if (kind === 'slab-table') assert.equal(v.detail, `entry ${corrupt.slab} names unknown type 999`, who);
        if (kind === 'header' || kind === 'registry') assert.match(v.detail, /checksum mismatch/, who);
      }
    }
    // One pointer: the heap opens (and swizzles), validation names exactly that pointer.
    const [corrupt, gv] = guest.get('pointer')!;
    const hv = (byName(res, 'pointer:').evidence as Json).json;
    for (const [who, v] of [['guest', gv], ['host', hv]] as const) {
      assert.equal(v.ok, false, who);
      assert.equal(v.open.swizzled, true, `${who} opened at another base`);
      assert.equal(v.validation.issueCount, 1, `${who}: ${JSON.stringify(v.validation.issues)}`);
      const i = v.validation.issues[0];
      assert.deepEqual([i.kind, i.slab, i.object, i.field], ['not-object-start', corrupt.slab, corrupt.object, corrupt.field], who);
      assert.match(i.message, /points 8 bytes into object/, who);
      assert.ok(v.check.mismatchCount >= 1, `${who}: the graph check sees the redirected pointer too`);
    }
    assert.equal(hv.open.newBase, '0x300000000000');
  });

  it('pheap-ha-restore: the heap saved by PMEM HA opens on the standby at a different base, graph intact', async () => {
    const { res, ms } = await runScenario('scenarios/pheap-ha-restore.yaml', 4);
    timings.push(`ha-restore ${Math.round(ms / 1000)} s`);
    assert.equal(byName(res, 'standby holds').valid, true);
    const [verify] = execsOf(res, 'verify');
    assert.ok(verify?.ok, 'the standby guest verified the heap');
    // The base stored by the primary's mapping is not the standby's: the standby swizzled.
    assert.ok(verify.open.swizzled, JSON.stringify(verify.open));
    assert.notEqual(verify.open.oldBase, verify.open.newBase);
    const host = last(byName(res, 'the restored heap verifies on the host'));
    assert.equal(host.ok, true);
    assert.equal(host.open.oldBase, verify.open.newBase, 'the host sees the base the standby left');
  });
});
