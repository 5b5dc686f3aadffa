// Step executors, one per scenario step kind. A step that cannot be carried out throws
// (→ verdict error); a step that observes a violated invariant records a failed check (→ fail).
import { checkBackingFile } from '../checkers/backing-file.js';
import { checkTopology } from '../checkers/topology.js';
import type { Step, StepKind } from '../scenario/schema.js';
import { powerCut } from '../faults/power.js';
import { sizeBytes } from '../scenario/load.js';
import { addCheck, addMetric, type RunContext, type StepExec, type StepRegistry } from './context.js';
import { HA_STEPS } from './ha-steps.js';
import { bootVm } from './boot.js';
import { patternBytes, sha256 } from './patterns.js';
import { controlDir, GUEST_MOUNTS } from './plan.js';
import { copyFile, rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { projectRoot } from '../util/paths.js';
import { join } from 'node:path';
import { brokenEnv } from '../util/broken-sut.js';

const BLOCK = 4096;
/** Keep the end of long output (where results and errors are) without cutting its last line,
 *  which is often the one JSON object a tool printed. */
function tail(text: string, max = 4000): string {
  if (text.length <= max) return text;
  const lastLine = text.trimEnd().split('\n').at(-1) ?? '';
  return lastLine.length >= max ? lastLine : text.slice(-max);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const spec = (ctx: RunContext, vm: string) => ctx.specs.get(vm)!;

const CORE_STEPS: Omit<StepRegistry, keyof typeof HA_STEPS> = {
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
    addCheck(ctx, {
      name: s.name ?? `exec on ${s.vm}: ${s.cmd.slice(0, 60)}`, valid: r.exitCode === want,
      message: r.exitCode === want ? `exit ${r.exitCode}` : `exit ${r.exitCode}, expected ${want}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`,
      evidence: r,
    });
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
      const res = await execa('sh', ['-c', cmd], { reject: false, timeout: (s.timeout ?? 120) * 1000, all: true });
      return { exitCode: res.exitCode ?? -1, output: tail(String(res.all ?? '')) };
    });
    await Promise.all(snapshots.map((f) => rm(f, { force: true })));
    const want = s.exit ?? 0;
    let evidence: Record<string, unknown> = { cmd, exitCode: r.exitCode, output: r.output };
    try { evidence = { ...evidence, json: JSON.parse(r.output.trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '') }; } catch { /* not JSON */ }
    addCheck(ctx, {
      name: s.name ?? `host check: ${s.cmd.slice(0, 60)}`, valid: r.exitCode === want,
      message: r.exitCode === want ? `exit ${r.exitCode}` : `exit ${r.exitCode}, expected ${want}: ${r.output.trim().slice(-300)}`,
      evidence,
    });
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
    const got = out.trim().split(/\s+/)[0];
    addCheck(ctx, {
      name: `guest reads ${s.pattern} from ${dev} on ${s.vm}`, valid: got === p.sha256,
      message: got === p.sha256 ? 'sha256 matches the pattern' : `sha256 ${got} read in the guest, pattern is ${p.sha256}`,
      evidence: { dev, offset: p.offset, length: p.bytes.length, expected: p.sha256, actual: got },
    });
  },

  async 'check-backing-file'(ctx, s) {
    const p = ctx.patterns.get(s.pattern)!;
    const file = spec(ctx, s.vm).nvdimms[p.nvdimm].backingFile;
    // The named pattern must be there; other patterns written to this NVDIMM may be too, and
    // nothing else may be non-zero.
    const regions = [...ctx.patterns.entries()]
      .filter(([name, w]) => name === s.pattern || (w.vm === s.vm && w.nvdimm === p.nvdimm))
      .map(([name, w]) => ({ name, offset: w.offset, bytes: w.bytes }));
    addCheck(ctx, await checkBackingFile(file, regions, true));
  },

  async 'check-topology'(ctx, s) {
    const vm = ctx.lab.vm(s.vm);
    addCheck(ctx, await checkTopology(s.vm, spec(ctx, s.vm), await vm.liveXml(), vm.agent));
  },

  async sleep(_ctx, s) {
    await sleep(s.ms);
  },
};

export const STEP_EXECUTORS: StepRegistry = { ...CORE_STEPS, ...HA_STEPS };

export function describeStep(s: Step): string {
  return 'vm' in s ? `${s.do} ${s.vm}` : s.do;
}

export async function runStep(ctx: RunContext, s: Step): Promise<void> {
  const exec = STEP_EXECUTORS[s.do] as StepExec<StepKind>;
  await exec(ctx, s as never);
}
