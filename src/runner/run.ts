// One run of one scenario: plan → lab → steps (history) → checks → verdict → results dir.
// The lab is always closed, whatever happened; the verdict keeps error (harness/infra) apart
// from fail (an invariant was violated).
import { randomInt } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { findImage, type GuestImage } from '../image/build.js';
import { Lab } from '../lab/lab.js';
import type { Progress } from '../report/progress.js';
import { createRunDir, redactResult, writeRunResult } from '../results/store.js';
import { writeRunReport } from '../report/commands.js';
import type { Dimensions, RunResult } from '../results/types.js';
import { addCheck } from './context.js';
import { Evidence } from './evidence.js';
import { Nemesis } from './nemesis.js';
import type { Schedule } from './schedule.js';
import { DEFAULT_DEADLINE_S } from '../scenario/schema.js';
import { SutDeadline, verdictOf } from './outcomes.js';
import { BROKEN_ENV } from '../shared/broken-sut.js';
import type { Scenario } from '../scenario/load.js';
import { redact } from '../shared/redact.js';
import { hostVersions, LIBVIRT_URI } from '../vm/libvirt.js';
import { resolveAccel, type AccelDecision } from '../hosts/accel.js';
import { Interrupted, raceAbort } from '../util/abort.js';
import type { RunContext, RunStore } from './context.js';
import { History } from './history.js';
import { controlDir, planVms } from './plan.js';
import { topologyOf } from './host-topology.js';
import { openRunStore } from './store.js';
import { describeStep, needsStore, runStep } from './steps.js';
import { hostname, release } from 'node:os';
import { projectRoot } from '../util/paths.js';

export interface RunOptions {
  runIndex: number;
  runs: number;
  seed?: number;
  outRoot: string;
  keep?: boolean;
  progress?: Progress;
  log?: (line: string) => void;
  /** Called with the lab as soon as it exists (signal handlers close it). */
  onLab?: (lab: Lab) => void;
  /** Stops the run (signal, parent gone): the current step is abandoned, the lab torn down,
   *  and results.json still written, with verdict error and reason "interrupted (…)". */
  signal?: AbortSignal;
  /** The accelerator decision; default: resolveAccel() (forced, cached or probed now). */
  accel?: AccelDecision;
  /** A drawn (or replayed) fault schedule for the scenario's `schedule` step. */
  schedule?: Schedule;
}

export interface RunOutcome { result: RunResult; dir: string }

let gitRev: Promise<string | undefined> | undefined;
function gitRevision() {
  gitRev ??= execa('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot(), reject: false }).then((r) => (r.exitCode === 0 ? r.stdout.trim() : undefined));
  return gitRev;
}

async function dimensions(s: Scenario, ctx: RunContext | undefined, accel: AccelDecision | undefined, image?: GuestImage): Promise<Dimensions> {
  const v = await hostVersions().catch(() => ({ qemu: 'unknown', libvirt: 'unknown' }));
  return {
    // Undecided only when the run ended before the decision: then no guest ran at all.
    accel: accel?.accel ?? 'tcg',
    cpuMode: accel?.cpuMode,
    accelChosen: accel?.how,
    accelReason: accel?.reason ?? 'not decided: the run ended before the accelerator was chosen',
    // Guest NUMA cells are QEMU's inventions unless every cell is bound to its own host node.
    topology: topologyOf(s),
    host: hostname(), hostKernel: release(), qemu: v.qemu, libvirt: v.libvirt,
    // which libvirt ran the guests (its query, with the key file and ssh wrapper, left out)
    libvirtUri: LIBVIRT_URI.split('?')[0],
    guestKernel: ctx?.guestKernel, gitRevision: await gitRevision(),
    ...(image ? { guestImage: image.hash } : {}),
    // A deliberately broken SUT (tests of the checkers): never to be mistaken for the real one.
    ...(process.env[BROKEN_ENV] ? { brokenSut: process.env[BROKEN_ENV] } : {}),
  };
}

export async function runScenario(s: Scenario, o: RunOptions): Promise<RunOutcome> {
  const log = o.log ?? (() => undefined);
  const seed = o.seed ?? s.seed ?? randomInt(2 ** 31);
  const startedAt = new Date();
  const dir = await createRunDir(o.outRoot, s.name, o.runIndex, startedAt);
  const history = new History();
  let accel: AccelDecision | undefined = o.accel;
  let error: string | undefined;
  let storeStart: Promise<RunStore> | undefined;
  let ctx: RunContext | undefined;
  let lab: Lab | undefined;
  let image: GuestImage | undefined;
  o.progress?.start(s.name, o.runIndex, o.runs);
  // The run stops when its caller says so, or when its own deadline passes.
  const deadlineS = s.deadline ?? DEFAULT_DEADLINE_S;
  const deadline = new AbortController();
  const deadlineTimer = setTimeout(() => deadline.abort(`deadline: the run took longer than its ${deadlineS} s`), deadlineS * 1000);
  deadlineTimer.unref();
  const signal = o.signal ? AbortSignal.any([o.signal, deadline.signal]) : deadline.signal;
  const abortable = <T>(p: Promise<T>) => raceAbort(p, signal);
  try {
    image = s.image ? undefined : await findImage();
    if (!s.image && !image) throw new Error('no guest image: run `ftharness image build` (or harness/setup.sh)');
    if (!accel) {
      o.progress?.step('deciding the accelerator');
      accel = await abortable(resolveAccel({ log, signal: o.signal }));
    }
    lab = await abortable(Lab.open());
    o.onLab?.(lab);
    history.add('info', 'harness', 'run-start', { runId: lab.runId, seed, accel: accel.accel, cpuMode: accel.cpuMode, accelChosen: accel.how, accelReason: accel.reason });
    const planned = await planVms(s, lab, image, { accel: accel.accel, cpu: accel.cpu }, dir);
    const c: RunContext = {
      scenario: s, seed, lab, history, dir, image, host: { accel: accel.accel, cpu: accel.cpu }, specs: new Map(planned.map((p) => [p.key, p.spec])),
      metrics: {}, checks: [], patterns: new Map(), cuts: new Map(), snapshots: new Map(),
      nemesis: undefined as unknown as Nemesis, evidence: new Evidence(dir), signal, progress: o.progress, log, slices: new Map(), dimensions: {},
      schedule: o.schedule,
    };
    c.nemesis = new Nemesis(c);
    ctx = c;
    if (s.store) {
      // The store starts while the VMs are defined and boot; the first step that needs it waits.
      // Recorded as backend, endpoint and bucket only: the handle holds the credentials.
      storeStart = history.op('harness', 'store-start', { kind: s.store }, () => openRunStore(s.store!, lab!, log),
        (st) => ({ backend: st.backend, endpoint: st.conn.endpoint, bucket: st.bucket }));
      storeStart.catch(() => undefined);
    }
    await abortable(history.op('harness', 'define', { vms: planned.map((p) => p.key) }, () => Promise.all(planned.map(async (p) => {
      await mkdir(controlDir(lab!, p.key), { recursive: true });
      for (const nv of p.spec.nvdimms) {
        // A fresh, sparse, all-zero backing file: anything non-zero later was written by the guest.
        await execa('truncate', ['-s', `${nv.sizeMiB}M`, nv.backingFile]);
      }
      if (p.spec.boot.kind === 'disk') {
        await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', s.image!.format, '-b', s.image!.disk, p.spec.boot.path]);
      }
      await lab!.defineVm(p.key, p.spec, join(dir, `${p.key}.domain.xml`));
    }))));
    for (const [i, step] of s.steps.entries()) {
      if (storeStart && !c.store && needsStore(step)) {
        o.progress?.step('waiting for the object store');
        c.store = await abortable(storeStart);
      }
      o.progress?.step(`${i + 1}/${s.steps.length} ${describeStep(step)}`);
      await abortable(history.op('runner', 'step', { i, step: describeStep(step) }, () => runStep(c, step)));
    }
    // Background fault work (a cut at the end of a hold-up, a store coming back) belongs to the run.
    await abortable(c.nemesis.settle());
  } catch (e) {
    if (e instanceof SutDeadline && ctx) {
      // The SUT missed a deadline: a finding about the SUT (fail), not a harness error.
      addCheck(ctx, e.toCheck());
    } else {
      error = redact(e instanceof Interrupted && deadline.signal.aborted ? String(deadline.signal.reason) : (e as Error).message);
      history.add('info', 'harness', e instanceof Interrupted ? 'interrupted' : 'error', { error });
    }
  } finally {
    clearTimeout(deadlineTimer);
    // A store still starting registers its own cleanup: let it, so that the lab stops it.
    await storeStart?.catch(() => undefined);
    // Every fault still open is healed (a store brought back, a link up), on error and interrupt too.
    const unhealed = ctx ? await ctx.nemesis.healAll() : [];
    if (unhealed.length) error = [error, ...unhealed].filter(Boolean).join('; ');
    if (lab) {
      // Artefacts before teardown: the live XML and agent transcripts exist only now.
      for (const [key, vm] of lab.vms) {
        await vm.liveXml().then((x) => writeFile(join(dir, `${key}.live.xml`), x)).catch(() => undefined);
        await writeFile(join(dir, `${key}.agent.jsonl`), redact(vm.agent.transcript.map((t) => JSON.stringify(t)).join('\n') + '\n'));
      }
      if (!o.keep) {
        const problems = await history.op('harness', 'teardown', undefined, () => lab!.close(log));
        if (problems.length) error = [error, `cleanup failed: ${problems.join('; ')}`].filter(Boolean).join('; ');
      } else log(`--keep: leaving ${lab.workDir} and domains of run ${lab.runId} (remove with ftharness clean --all)`);
    }
  }
  const { verdict, reason } = verdictOf(ctx?.checks ?? [], error);
  const finishedAt = new Date();
  const artefacts: Record<string, string> = {};
  // the scenario's VMs and those its steps defined (podVMs)
  for (const name of new Set([...s.vms.map((v) => v.name), ...(lab ? lab.vms.keys() : [])])) {
    artefacts[`${name} console`] = `${name}.console.log`;
    artefacts[`${name} domain XML`] = `${name}.domain.xml`;
    artefacts[`${name} live domain XML`] = `${name}.live.xml`;
    artefacts[`${name} agent transcript`] = `${name}.agent.jsonl`;
  }
  artefacts.history = 'history.jsonl';
  artefacts['run report'] = 'report.html';
  const result: RunResult = {
    schemaVersion: 1,
    scenario: { name: s.name, file: s.file, description: s.description },
    runId: lab?.runId ?? 'not-started', runIndex: o.runIndex, runs: o.runs, seed,
    startedAt: startedAt.toISOString(), finishedAt: finishedAt.toISOString(), durationMs: finishedAt.getTime() - startedAt.getTime(),
    verdict, reason, ...(error ? { error } : {}), ...(o.schedule ? { schedule: o.schedule } : {}),
    checks: ctx?.checks ?? [], metrics: ctx?.metrics ?? {},
    dimensions: { ...(await dimensions(s, ctx, accel, image)), ...(ctx?.store ? { store: ctx.store.backend } : {}), ...ctx?.dimensions },
    history: history.events, faults: history.faults, artefacts,
  };
  await writeFile(join(dir, 'history.jsonl'), redact(history.events.map((e) => JSON.stringify(e)).join('\n') + '\n'));
  await writeRunResult(dir, result);
  const safe = redactResult(result);
  await writeRunReport(dir, safe).catch((e: Error) => log(`run report not written: ${e.message}`));
  o.progress?.done(verdict, safe.reason);
  return { result: safe, dir };
}
