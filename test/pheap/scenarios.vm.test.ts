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

/** Runs a scenario through the real CLI (env added to the CLI's own); nothing of it may be left. */
async function runCli(file: string, seed: number, env: Record<string, string> = {}): Promise<Ran & { exitCode: number | undefined; all: string; summary: Json }> {
  const t0 = Date.now();
  const r = await cli(['run', file, '--json', '--out', tmpDir('fth-pheap-'), '--no-report', '--seed', String(seed)], { env });
  const ms = Date.now() - t0;
  let summary: Json;
  try {
    summary = JSON.parse(r.stdout);
  } catch {
    assert.fail(`no JSON summary (exit ${r.exitCode}): ${r.all}`);
  }
  const res = JSON.parse(readFileSync(join(summary.runs[0].dir, 'results.json'), 'utf8')) as RunResult;
  assert.equal(res.seed, seed);
  assert.ok(!(await domainNames()).some((d) => d.includes(res.runId)), 'domain left behind');
  assert.deepEqual(await qemuProcessesOf(res.runId), [], 'qemu left behind');
  return { res, ms, exitCode: r.exitCode, all: r.all ?? '', summary };
}

async function runScenario(file: string, seed: number): Promise<Ran> {
  const { res, ms, exitCode, all, summary } = await runCli(file, seed);
  assert.equal(exitCode, 0, all);
  assert.equal(summary.verdict, 'pass', summary.runs?.[0]?.reason);
  assert.equal(res.verdict, 'pass', res.reason);
  for (const c of res.checks) assert.equal(c.valid, true, `${c.name}: ${c.message}`);
  assert.equal(res.dimensions.brokenSut, undefined, 'a real run, not a broken variant');
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
/** The last JSON line of every guest exec, setup (no check of its own) and check alike, in run
 *  order: from the run's history, where each exec's ok event holds its output. */
const execOutputs = (res: RunResult): Json[] =>
  res.history
    .filter((e) => e.type === 'ok' && e.f === 'exec')
    .map((e) => String((e.value as Json)?.stdout ?? '').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).at(-1));
/** Guest execs whose last JSON line is from this heap CLI command, in run order. */
const execsOf = (res: RunResult, command: string): Json[] => execOutputs(res).filter((j) => j?.command === command);
/** The base the heap was built at in the guest (the build step's mmap base). */
const build0Base = (res: RunResult): string => execsOf(res, 'build')[0].base;

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
    const truth = byName(res, 'ground truth (independent decoder)').evidence as Json;
    const host = byName(res, 'heap image in the backing file').evidence as Json;
    const guest = execsOf(res, 'verify')[0];
    assert.equal(res.faults.filter((f) => f.kind === 'power-cut').length, 1);
    // Not vacuous: the cut came after >= 50 acknowledged appends, and the image (ground truth,
    // decoded without the heap's code) holds them: committed-append counter and mutate nodes.
    const t = truth.json;
    assert.equal(t.checker, 'pheap');
    assert.equal(t.ok, true, t.message);
    assert.ok(Number(t.root.u0) >= 50, `committed appends on the media: ${t.root.u0}`);
    assert.ok(t.counts['wl.mnode'] >= Number(t.root.u0), `${t.counts['wl.mnode']} wl.mnode objects, counter ${t.root.u0}`);
    assert.equal(t.swizzle.state, 'idle');
    assert.equal(t.objects, build.stats.objects + t.counts['wl.mnode']);
    for (const [who, v] of [['host', host.json], ['guest', guest]] as const) {
      assert.equal(v.ok, true, `${who} verify: ${JSON.stringify(v).slice(0, 800)}`);
      assert.equal(v.validation.issueCount, 0, who);
      assert.equal(v.check.nodesMatched, build.nodes, `${who}: every node of the seeded graph matched`);
      // Nothing lost: the objects after the cut are the built graph plus the mutate list (and at
      // most one in-flight allocation), so never fewer than right after build.
      assert.ok(v.stats.objects >= build.stats.objects, `${who}: ${v.stats.objects} objects after the cut < ${build.stats.objects} after build`);
      assert.equal(v.stats.objects, build.stats.objects + v.check.mutate.length + v.check.mutate.leaked, who);
      assert.ok(v.check.mutate.length >= v.check.mutate.counter, `${who}: acknowledged appends lost`);
      assert.ok(v.check.mutate.counter >= 50, `${who}: mutations reached the media before the cut (counter ${v.check.mutate.counter})`);
      assert.equal(v.open.swizzled, true, `${who} reopened at another base`);
    }
    assert.equal(host.json.open.newBase, '0x300000000000');
    // The independent decoder and the heap's verify read the same image.
    assert.equal(host.json.check.mutate.counter, Number(t.root.u0));
    assert.equal(host.json.stats.objects, t.objects);
    assert.equal(host.json.open.oldBase, t.header.base, 'verify started from the base the decoder found');
    // Host and guest saw the same image (the host works on a copy).
    assert.equal(guest.check.mutate.length, host.json.check.mutate.length);
    assert.equal(guest.stats.objects, host.json.stats.objects);
  });

  it('pheap-crash-restart with FTH_BROKEN_SUT=pheap:skip-swizzle-slab: the checkers catch the unswizzled slab (verdict fail)', async () => {
    const { res, ms, exitCode, all, summary } = await runCli('scenarios/pheap-crash-restart.yaml', 11, { FTH_BROKEN_SUT: 'pheap:skip-swizzle-slab' });
    timings.push(`crash-restart broken ${Math.round(ms / 1000)} s`);
    assert.equal(exitCode, 1, all);
    assert.equal(summary.verdict, 'fail');
    assert.equal(res.verdict, 'fail', res.reason);
    assert.equal(res.dimensions.brokenSut, 'pheap:skip-swizzle-slab');
    // The workload ran (the broken swizzle is silent to it) and the cut came after it committed.
    assert.equal(res.faults.filter((f) => f.kind === 'power-cut').length, 1);
    assert.ok(execsOf(res, 'build')[0]?.ok, 'build output');
    // Ground truth first: the independent decoder names the unswizzled slab.
    const truth = byName(res, 'ground truth (independent decoder)');
    assert.equal(truth.valid, false);
    assert.match(truth.message, /^exit 1, expected 0: /);
    assert.match(truth.message, /is not swizzled: all \d+ of its non-null pointers lie outside the heap \[0x[0-9a-f]+, 0x[0-9a-f]+\)/);
    const t = (truth.evidence as Json).json;
    assert.equal(t.ok, false);
    assert.equal(t.unswizzledSlabs.length, 1, JSON.stringify(t.unswizzledSlabs));
    const u = t.unswizzledSlabs[0];
    assert.equal(u.type, 'wl.snode', 'the first non-root slab with pointers');
    assert.equal(u.relBase, t.header.base, 'its record says done at the current base');
    assert.equal(u.validAtBase, build0Base(res), 'its pointers are still valid for the base the heap was built at');
    const v = t.violations[0];
    assert.deepEqual([v.part, v.kind, v.slab, v.type, v.field], ['pointer', 'outside-heap', u.slab, 'wl.snode', 'next']);
    assert.equal(Number(t.root.u0) >= 50, true, 'the appends reached the media: the failure is the pointers, not the cut');
    // The heap's own verify (host, other base) and the guest's after reboot fail as well.
    const host = byName(res, 'heap image in the backing file');
    assert.equal(host.valid, false);
    const hv = (host.evidence as Json).json;
    assert.ok(hv.validation.issues.every((i: Json) => i.slab === u.slab && i.kind === 'outside-heap'), JSON.stringify(hv.validation.issues.slice(0, 2)));
    const guest = res.checks.filter((c) => c.name.startsWith('exec on')).at(-1)!;
    assert.equal(guest.valid, false, guest.message);
    assert.equal(last(guest).validation.issues[0].slab, u.slab);
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
    // Ground truth without the heap's code: a consistent image with the pass B0 -> B1 in flight,
    // exactly the 100 finished slabs recorded at B1.
    const truth1 = (byName(res, 'cut 1 ground truth').evidence as Json).json;
    assert.equal(truth1.ok, true, truth1.message);
    assert.deepEqual([truth1.swizzle.state, truth1.swizzle.from, truth1.swizzle.to, truth1.swizzle.slabsAtTo, truth1.swizzle.slabsAtFrom], ['active', b0, b1, 100, slabs - 100]);
    assert.equal(truth1.objects, build.stats.objects);

    // Cut 2: the opener was frozen right after slab m of the pass B2 -> B3, then the power cut.
    const frozen = execOutputs(res).find((j) => j && 'frozenAfterSlab' in j);
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
    const truth2 = (byName(res, 'cut 2 ground truth').evidence as Json).json;
    assert.equal(truth2.ok, true, truth2.message);
    assert.deepEqual([truth2.swizzle.state, truth2.swizzle.from, truth2.swizzle.to], ['active', b2, b3]);
    assert.ok(truth2.swizzle.slabsAtTo >= frozen.frozenAfterSlab, `${truth2.swizzle.slabsAtTo} slabs recorded done, slab ${frozen.frozenAfterSlab} was`);
    assert.equal(truth2.swizzle.slabsAtTo + truth2.swizzle.slabsAtFrom, slabs);
  });

  it('pheap-corrupt: each corruption kind is refused, naming the part (and slab/object/field)', async () => {
    const { res, ms } = await runScenario('scenarios/pheap-corrupt.yaml', 5);
    timings.push(`corrupt ${Math.round(ms / 1000)} s`);
    assert.equal(res.metrics.boot_to_agent_ms.values.length, 1, 'one boot');
    assert.equal((byName(res, 'control:').evidence as Json).json.ok, true, 'the clean image verifies');
    assert.equal((byName(res, 'control (independent decoder)').evidence as Json).json.ok, true, 'the clean image is consistent');
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
      // The independent decoder names the same part (and slab).
      const d = (byName(res, `${kind} (independent decoder)`).evidence as Json).json;
      assert.equal(d.ok, false, kind);
      assert.equal(d.violations[0].part, kind, d.message);
      if (kind === 'slab-header' || kind === 'slab-table') assert.equal(d.violations[0].slab, corrupt.slab, d.message);
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
    const d = (byName(res, 'pointer (independent decoder)').evidence as Json).json;
    assert.equal(d.violationCount, 1, d.message);
    const dv = d.violations[0];
    assert.deepEqual([dv.part, dv.kind, dv.slab, dv.object, dv.field], ['pointer', 'not-object-start', corrupt.slab, corrupt.object, corrupt.field]);
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
    // Ground truth without the heap's code: consistent as restored (at the primary's base) and
    // after the standby's swizzle (at its base).
    const [restored, swizzled] = res.checks.filter((c) => c.name.startsWith('ground truth (independent decoder)')).map((c) => (c.evidence as Json).json);
    assert.equal(restored?.ok, true, restored?.message);
    assert.equal(restored.header.base, verify.open.oldBase, 'restored as the primary left it');
    assert.equal(swizzled?.ok, true, swizzled?.message);
    assert.equal(swizzled.header.base, verify.open.newBase);
    assert.equal(swizzled.objects, restored.objects);
  });
});
