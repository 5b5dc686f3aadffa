// The step interpreter: the core steps, `parallel` groups, and the steps SUT plugins bring
// (looked up in the registry, never by name). A step that cannot be carried out throws (→ verdict
// error); one that finds a violation records a failed check (→ fail); checks that can be judged
// again go through ctx.evidence.
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { digest } from '../checkers/digest.js';
import { qemuCommandLine, readGuestTopology } from '../checkers/topology.js';
import { linkCut, linkRestore } from '../faults/network.js';
import { powerCut } from '../faults/power.js';
import { storeOutage } from '../faults/store.js';
import type { CoreStep, ParallelStep, Step } from '../scenario/schema.js';
import { brokenEnv } from '../shared/broken-sut.js';
import { patternBytes, sha256 } from '../shared/patterns.js';
import { sizeBytes } from '../shared/size.js';
import { sutStep } from '../sut/registry.js';
import { projectRoot } from '../util/paths.js';
import { bootVm } from './boot.js';
import { addCheck, addMetric, sliceOf, type RunContext } from './context.js';
import { controlDir, GUEST_MOUNTS } from './plan.js';
import { runSchedule } from './schedule.js';

const BLOCK = 4096;
/** Keep the end of long output (where results and errors are) without cutting its last line,
 *  which is often the one JSON object a tool printed. */
function tail(text: string, max = 4000): string {
  if (text.length <= max) return text;
  const lastLine = text.trimEnd().split('\n').at(-1) ?? '';
  return lastLine.length >= max ? lastLine : text.slice(-max);
}
const spec = (ctx: RunContext, vm: string) => ctx.specs.get(vm)!;
const lastJson = (out: string) => { try { return JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? ''); } catch { return undefined; } };

type Core<K extends CoreStep['do']> = (ctx: RunContext, s: Extract<CoreStep, { do: K }>) => Promise<void>;

const CORE_STEPS: { [K in CoreStep['do']]: Core<K> } = {
  async boot(ctx, s) {
    await bootVm(ctx, s.vm, s.timeout);
  },

  async 'power-cut'(ctx, s) {
    await powerCut(ctx, s.vm, `power cut ${s.vm}`);
  },

  async exec(ctx, s) {
    const vm = ctx.lab.vm(s.vm);
    const cmd = s.cmd.replaceAll('${seed}', String(ctx.seed));
    const r = await ctx.history.op(s.vm, 'exec', { cmd, role: s.role }, async () => {
      const res = await vm.agent.exec('/bin/sh', ['-c', cmd], { timeoutMs: (s.timeout ?? 60) * 1000, env: brokenEnv() });
      return { exitCode: res.exitCode, stdout: tail(res.stdout), stderr: tail(res.stderr, 2000) };
    });
    const want = s.exit ?? 0;
    if (s.role === 'setup') {
      // Preparing the run did not work: nothing can be said about the SUT.
      if (r.exitCode !== want) throw new Error(`setup step "${s.name ?? s.cmd.slice(0, 60)}" on ${s.vm}: exit ${r.exitCode}, expected ${want}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
      return;
    }
    addCheck(ctx, await ctx.evidence.judge('core/exit', {
      name: s.name ?? `exec on ${s.vm}: ${s.cmd.slice(0, 60)}`, where: `guest ${s.vm}`, exitCode: r.exitCode, expected: want,
      output: r.stderr || r.stdout, json: lastJson(r.stdout),
    }));
  },

  async spawn(ctx, s) {
    const vm = ctx.lab.vm(s.vm);
    const cmd = s.cmd.replaceAll('${seed}', String(ctx.seed));
    const log = s.log ?? `/tmp/spawn-${ctx.history.events.length}.log`;
    await ctx.history.op(s.vm, 'spawn', { cmd, log }, () => vm.agent.spawn(cmd, log, brokenEnv()));
  },

  async 'host-check'(ctx, s) {
    const snapshots: string[] = [];
    let cmd = s.cmd.replaceAll('${seed}', String(ctx.seed)).replaceAll('${root}', projectRoot())
      .replace(/\$\{ctl:([a-z][a-z0-9-]*)\}/g, (_, vm: string) => controlDir(ctx.lab, vm));
    for (const m of [...cmd.matchAll(/\$\{backing:([a-z][a-z0-9-]*):(\d+)\}/g)]) {
      const nv = ctx.specs.get(m[1])?.nvdimms[Number(m[2])];
      if (!nv) throw new Error(`host-check: no NVDIMM ${m[2]} on VM ${m[1]}`);
      // A copy, so the check can never change what the guest will see next.
      const snap = join(ctx.lab.workDir, `snapshot-${m[1]}-${m[2]}-${snapshots.length}.img`);
      await copyFile(nv.backingFile, snap);
      snapshots.push(snap);
      cmd = cmd.replace(m[0], snap);
    }
    const r = await ctx.history.op('checker', 'host-check', { cmd }, async () => {
      const res = await execa('sh', ['-c', cmd], { reject: false, timeout: (s.timeout ?? 120) * 1000, all: true, cancelSignal: ctx.signal });
      return { exitCode: res.exitCode ?? -1, output: tail(String(res.all ?? '')) };
    });
    await Promise.all(snapshots.map((f) => rm(f, { force: true })));
    addCheck(ctx, await ctx.evidence.judge('core/exit', {
      name: s.name ?? `host check: ${s.cmd.slice(0, 60)}`, where: 'host', exitCode: r.exitCode, expected: s.exit ?? 0, output: r.output, json: lastJson(r.output),
    }));
  },

  async 'pmem-write'(ctx, s) {
    const vm = ctx.lab.vm(s.vm);
    const nvdimm = s.nvdimm ?? 0;
    const offset = sizeBytes(s.offset ?? 0);
    const bytes = patternBytes(ctx.seed, s.pattern, sizeBytes(s.length));
    const dev = `/dev/nvdimm${nvdimm}`; // stable name made by the guest init, see vm-images/init.sh
    const file = `pattern-${s.pattern}.bin`;
    const t0 = Date.now();
    await ctx.history.op(s.vm, 'pmem-write', { pattern: s.pattern, dev, offset, length: bytes.length, sha256: sha256(bytes) }, async () => {
      await writeFile(join(ctx.lab.shareDir, file), bytes);
      // O_DIRECT + fsync: the bytes must be in the NVDIMM, not in the guest's page cache.
      await vm.agent.sh(`dd if=${GUEST_MOUNTS.fthrun}/${file} of=${dev} bs=64K seek=${offset} count=${bytes.length} iflag=count_bytes oflag=direct,seek_bytes conv=notrunc,fsync 2>&1`);
    });
    addMetric(ctx, 'pmem_write_ms', 'ms', Date.now() - t0, 'pattern handed over 9p + O_DIRECT write in the guest');
    // Map order = write order (a rewritten name moves to the end): later writes win on overlap.
    ctx.patterns.delete(s.pattern);
    ctx.patterns.set(s.pattern, { vm: s.vm, nvdimm, offset, bytes, sha256: sha256(bytes) });
  },

  async 'check-pmem'(ctx, s) {
    const p = ctx.patterns.get(s.pattern)!;
    const vm = ctx.lab.vm(s.vm);
    const dev = `/dev/nvdimm${p.nvdimm}`;
    const out = await ctx.history.op(s.vm, 'pmem-read', { pattern: s.pattern, dev }, () =>
      vm.agent.sh(`dd if=${dev} bs=${BLOCK} skip=${p.offset / BLOCK} count=${p.bytes.length / BLOCK} iflag=direct 2>/dev/null | sha256sum`));
    addCheck(ctx, await ctx.evidence.judge('core/read-back', {
      name: `guest reads ${s.pattern} from ${dev} on ${s.vm}`, dev, offset: p.offset, length: p.bytes.length, expected: p.sha256, actual: out.trim().split(/\s+/)[0],
    }));
  },

  async 'check-backing-file'(ctx, s) {
    const p = ctx.patterns.get(s.pattern)!;
    const file = spec(ctx, s.vm).nvdimms[p.nvdimm].backingFile;
    // The named pattern must be there; other patterns written to this NVDIMM may be too, and
    // nothing else may be non-zero.
    const writes = [...ctx.patterns.entries()]
      .filter(([name, w]) => name === s.pattern || (w.vm === s.vm && w.nvdimm === p.nvdimm))
      .map(([name, w]) => ({ name, offset: w.offset, length: w.bytes.length, seed: ctx.seed }));
    addCheck(ctx, await ctx.evidence.judge('core/backing-file', { label: file, digest: digest(await readFile(file)), writes, restZero: true }));
  },

  async 'check-topology'(ctx, s) {
    const vm = ctx.lab.vm(s.vm);
    const sides = { liveXml: await vm.liveXml(), cmdline: await qemuCommandLine(spec(ctx, s.vm).name), guest: await readGuestTopology(vm.agent) };
    addCheck(ctx, await ctx.evidence.judge('core/topology', { label: s.vm, spec: spec(ctx, s.vm), sides }));
  },

  async 'snapshot-pmem'(ctx, s) {
    const nv = ctx.specs.get(s.vm)!.nvdimms[s.nvdimm ?? 0];
    ctx.snapshots.set(s.as, await readFile(nv.backingFile));
  },

  async 'store-outage'(ctx, s) {
    const back = storeOutage(ctx, s.ms);
    if (s.wait) await back;
    else ctx.nemesis.track(back);
  },

  async 'net-cut'(ctx, s) { await linkCut(ctx, s.vm, s.nic); },
  async 'net-restore'(ctx, s) { await linkRestore(ctx, s.vm, s.nic); },

  async sleep(ctx, s) {
    await sleep(s.ms, undefined, { signal: ctx.signal });
  },

  async schedule(ctx) {
    if (!ctx.schedule) {
      ctx.history.add('info', 'nemesis', 'schedule', { faults: [], note: 'no schedule drawn: run with --schedule random or --replay' });
      return;
    }
    await runSchedule(ctx, ctx.schedule);
  },
};

/** The step talks to the object store (it waits until the store has started). */
export function needsStore(s: Step): boolean {
  if (s.do === 'parallel') return (s as ParallelStep).parallel.some(needsStore);
  return s.do === 'store-outage' || s.do === 'schedule' || !!sutStep(s.do)?.def.store;
}

export function describeStep(s: Step): string {
  if (s.do === 'parallel') return `parallel: ${(s as ParallelStep).parallel.map(describeStep).join(' + ')}`;
  const plug = sutStep(s.do);
  if (plug?.def.describe) return plug.def.describe(s);
  return 'vm' in s && typeof s.vm === 'string' ? `${s.do} ${s.vm}` : s.do;
}

/** Run one step: core, a parallel group (all at once; the first failure is the group's once all
 *  have ended), or a SUT plugin's. */
export async function runStep(ctx: RunContext, s: Step): Promise<void> {
  if (s.do === 'parallel') {
    const group = s as ParallelStep;
    ctx.history.add('info', 'harness', 'parallel', { steps: group.parallel.map(describeStep) });
    const ends = await Promise.allSettled(group.parallel.map((inner) => runStep(ctx, inner)));
    const failed = ends.find((e): e is PromiseRejectedResult => e.status === 'rejected');
    if (failed) throw failed.reason;
    return;
  }
  const plug = sutStep(s.do);
  if (plug) return plug.def.run(ctx, s, sliceOf(ctx, plug.sut));
  const core = CORE_STEPS[s.do as CoreStep['do']] as Core<CoreStep['do']> | undefined;
  if (!core) throw new Error(`no executor for step "${s.do}"`);
  await core(ctx, s as CoreStep);
}
