// `ftharness` command line. Exit codes everywhere: 0 pass/ok, 1 fail (an invariant was
// violated), 2 error (bad input or infrastructure), 3 unknown (a checker could not decide).
import '../src/util/warnings.js';
import { holdSecretsFromEnv } from '../src/util/held-secrets.js';
// Only what every command needs is imported here; the runner, libvirt, the image builder and the
// store load with the command that uses them (`validate` starts in half the time).
import { Command, InvalidArgumentError, Option } from 'commander';
import { randomInt } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { loadScenario } from '../src/scenario/load.js';
import type { RunOutcome } from '../src/runner/run.js';
import type { Schedule, ScheduleSpec } from '../src/runner/schedule.js';
import type { RunResult } from '../src/results/types.js';
import { loadAll, openSession } from './session.js';
import { projectRoot } from '../src/util/paths.js';
import { join, relative, resolve } from 'node:path';
import { inShard, parseShard, workItems, type Shard } from '../src/runner/shard.js';

/** Set by commands that talk to libvirt, so that main() closes the connection. */
let usedLibvirt = false;
const libvirt = () => { usedLibvirt = true; return import('../src/vm/libvirt.js'); };

export const EXIT = { pass: 0, fail: 1, error: 2, unknown: 3 } as const;
/** Seeds stay exact integers and seed+k-1 stays distinct (the random default is below it too). */
export const MAX_SEED = 2 ** 31 - 1;

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < (name === 'seed' ? 0 : 1) || n > (name === 'seed' ? MAX_SEED : 100_000)) {
      throw new InvalidArgumentError(`--${name} must be a${name === 'seed' ? ` non-negative integer up to ${MAX_SEED}` : ' positive integer up to 100000'}, got "${v}"`);
    }
    return n;
  };
}

const err = (l: string) => process.stderr.write(`${l}\n`);
// Before anything starts a child process: credentials leave the environment children inherit.
holdSecretsFromEnv();
// A caller that went away takes our stdout/stderr pipes with it: writing must not crash the
// clean-up that follows.
for (const s of [process.stdout, process.stderr]) s.on('error', () => undefined);

/** Verdict of a whole invocation: a violation found anywhere is the news (1); else any error (2);
 *  else any run a checker could not decide (3); else pass (0). */
export function overallExit(outcomes: { result: { verdict: string } }[]): number {
  if (outcomes.some((o) => o.result.verdict === 'fail')) return EXIT.fail;
  if (outcomes.some((o) => o.result.verdict === 'error')) return EXIT.error;
  if (outcomes.some((o) => o.result.verdict === 'unknown')) return EXIT.unknown;
  return EXIT.pass;
}
const verdictOfExit = (code: number) => (['pass', 'fail', 'error', 'unknown'] as const)[code] ?? 'error';

interface RunFlags { /** print no per-run summary (nightly prints its own) */ quiet?: boolean; list?: boolean; shard?: Shard; runs: number; seed?: number; out: string; json?: boolean; keep?: boolean; report?: string | boolean; schedule?: 'random'; replay?: string; shrink?: boolean; shrinkRuns: number }

interface Shrunk { schedule: Schedule; dir?: string; runs: number }

async function runCommand(files: string[], o: RunFlags): Promise<number> {
  // Validate every file before starting anything.
  const { scenarios, problems } = await loadAll(files);
  const { drawSchedule } = await import('../src/runner/schedule.js');
  let replayed: { schedule: Schedule; seed: number; scenario: string } | undefined;
  if (o.schedule && o.replay) problems.push('--schedule and --replay: give one (a replay uses the schedule the run drew)');
  if (o.schedule) for (const s of scenarios) if (!s.schedule) problems.push(`${s.file}: --schedule random needs a \`schedule:\` section (which faults may be drawn)`);
  if (o.replay) {
    const r = await readFile(join(o.replay, 'results.json'), 'utf8').then((t) => JSON.parse(t) as RunResult).catch((e: Error) => { problems.push(`--replay ${o.replay}: no readable results.json (${e.message})`); return undefined; });
    if (r && !r.schedule) problems.push(`--replay ${o.replay}: that run fired no generated schedule`);
    else if (r) replayed = { schedule: r.schedule as Schedule, seed: r.seed, scenario: r.scenario.name };
    if (replayed && (scenarios.length !== 1 || scenarios[0]?.name !== replayed.scenario)) problems.push(`--replay ${o.replay}: give the one scenario file that run was of (${replayed.scenario})`);
  }
  if (problems.length) {
    err(`ftharness: invalid scenario file(s) or settings, nothing was started:\n${problems.join('\n')}`);
    return EXIT.error;
  }
  const all = workItems(scenarios, o.runs, o.seed ?? replayed?.seed);
  const items = o.shard ? inShard(all, o.shard) : all;
  if (o.list) {
    const shown = items.map((x) => ({ ...x, file: relative(process.cwd(), x.file) || x.file }));
    if (o.json) process.stdout.write(JSON.stringify({ ...(o.shard ? { shard: `${o.shard.index}/${o.shard.count}` } : {}), total: all.length, items: shown }, null, 2) + '\n');
    else for (const x of shown) process.stdout.write(`${x.scenario} run ${x.run}/${x.runs}${x.seed !== undefined ? ` seed ${x.seed}` : ''} ${x.file}\n`);
    return EXIT.pass;
  }
  usedLibvirt = true;
  const session = await openSession(err);
  const outcomes: RunOutcome[] = [];
  const shrunk = new Map<string, Shrunk>();
  try {
    for (const item of items) {
      if (session.stopped()) break;
      const s = scenarios.find((x) => x.file === item.file)!;
      const k = item.run;
      let seed = o.seed !== undefined ? o.seed + k - 1 : replayed ? replayed.seed : s.seed !== undefined ? s.seed + k - 1 : undefined;
      // A drawn schedule needs its seed now (it is the run's seed, recorded with it).
      if (o.schedule && seed === undefined) seed = randomInt(MAX_SEED);
      const schedule = replayed?.schedule ? { ...replayed.schedule, outcome: undefined } : o.schedule ? drawSchedule(s.schedule as ScheduleSpec, seed!) : undefined;
      const base = { runIndex: k, runs: o.runs, seed, outRoot: o.out, keep: o.keep };
      const out = await session.run(s, { ...base, schedule });
      outcomes.push(out);
      if (out.result.verdict === 'fail' && schedule?.faults.length && o.shrink !== false && !session.stopped()) {
        const { shrinkSchedule } = await import('../src/runner/shrink.js');
        const r = await shrinkSchedule(schedule, async (cand) => {
          const c = await session.run(s, { ...base, schedule: cand });
          return { failed: c.result.verdict === 'fail', dir: c.dir };
        }, { maxRuns: o.shrinkRuns, log: err });
        const found: Shrunk = { schedule: r.schedule, dir: r.dir ?? out.dir, runs: r.tried.length };
        shrunk.set(out.dir, found);
        await writeFile(join(out.dir, 'shrunk.json'), JSON.stringify({ ...found, tried: r.tried }, null, 2) + '\n');
      }
    }
  } finally {
    session.close();
  }
  let reportPath: string | undefined;
  if (o.report !== false) {
    const { reportCommand } = await import('../src/report/commands.js');
    const out = typeof o.report === 'string' ? o.report : join(o.out, 'index.html');
    reportPath = (await reportCommand({ inputs: outcomes.map((x) => x.dir), out, history: [o.out] })).htmlPath;
  }
  const code = overallExit(outcomes);
  if (o.json) {
    process.stdout.write(JSON.stringify({
      verdict: verdictOfExit(code),
      exitCode: code,
      resultsRoot: resolve(o.out),
      report: reportPath && resolve(reportPath),
      runs: outcomes.map(({ result: r, dir }) => ({
        scenario: r.scenario.name, runIndex: r.runIndex, seed: r.seed, verdict: r.verdict, reason: r.reason,
        dir: resolve(dir), metrics: r.metrics, dimensions: r.dimensions,
        ...(r.schedule ? { schedule: r.schedule } : {}), ...(shrunk.has(dir) ? { shrunk: shrunk.get(dir) } : {}),
      })),
    }, null, 2) + '\n');
  } else if (!o.quiet) {
    const { describe } = await import('../src/runner/shrink.js');
    for (const { result: r, dir } of outcomes) {
      process.stdout.write(`${r.verdict.toUpperCase().padEnd(7)} ${r.scenario.name} run ${r.runIndex}/${r.runs} seed ${r.seed}: ${r.reason}\n      ${dir}\n`);
      if (r.schedule) process.stdout.write(`      schedule: ${describe(r.schedule as Schedule)}\n`);
      const sh = shrunk.get(dir);
      if (sh) process.stdout.write(`      shrunk (${sh.runs} runs) to: ${describe(sh.schedule)}\n      ${sh.dir}\n`);
    }
    if (reportPath) process.stdout.write(`report: ${resolve(reportPath)}\n`);
  }
  if (session.stopped()) {
    // Abandoned steps may still hold timers: everything they owned is gone, so leave now.
    await (await libvirt()).closeHypervisor();
    process.exit(session.exitCode());
  }
  return code;
}

export function buildProgram(): Command {
  const program = new Command('ftharness')
    .description('Fault-tolerance test harness on real VMs (QEMU/libvirt, emulated NVDIMM and NUMA)')
    .showHelpAfterError()
    .exitOverride();

  program.command('run').description('run scenario files; exit 0 pass, 1 fail, 2 error, 3 unknown (not judged)')
    .argument('<files...>', 'scenario YAML files')
    .addOption(new Option('--runs <n>', 'runs per scenario').argParser(positiveInt('runs')).default(1))
    .option('--list', 'print the runs this invocation would execute (with --json: as JSON) and start nothing')
    .addOption(new Option('--shard <i/N>', 'execute only shard i of N: the runs split deterministically by scenario and run index (CI matrices; combine with --list)').argParser((v: string) => { const r = parseShard(v); if (typeof r === 'string') throw new InvalidArgumentError(r); return r; }))
    .addOption(new Option('--seed <n>', 'base seed (run k uses seed+k-1)').argParser(positiveInt('seed')))
    .option('--out <dir>', 'results root', join(projectRoot(), 'reports'))
    .option('--json', 'print a JSON summary on stdout')
    .option('--keep', 'leave VMs and scratch files for debugging (remove later with `ftharness clean --all`)')
    .option('--report <file>', 'write the HTML report here (default <out>/index.html)')
    .option('--no-report', 'do not write the HTML report')
    .addOption(new Option('--schedule <how>', 'draw each run\'s faults from the scenario\'s `schedule:` section, seeded by the run seed').choices(['random']))
    .option('--replay <run-dir>', 'fire exactly the schedule that run drew (same seed unless --seed)')
    .option('--no-shrink', 'do not shrink the schedule of a run that fails')
    .addOption(new Option('--shrink-runs <n>', 'at most this many runs to shrink one failing schedule').argParser(positiveInt('shrink-runs')).default(6))
    .action(async (files: string[], o: RunFlags) => { process.exitCode = await runCommand(files, o); });

  program.command('soak').description('draw fault schedules for the scenarios until the budget is spent; report coverage and violations (shrunk); exit 1 if any')
    .argument('<files...>', 'scenario files with a `schedule:` section')
    .requiredOption('--budget <duration>', 'how long, e.g. 2h, 90m, 600s')
    .addOption(new Option('--seed <n>', 'first seed (each run uses the next)').argParser(positiveInt('seed')))
    .option('--out <dir>', 'results root', join(projectRoot(), 'reports', 'soak'))
    .option('--json', 'print the JSON summary (runs, violations, errors, coverage) on stdout')
    .addOption(new Option('--shrink-runs <n>', 'at most this many runs to shrink one violation').argParser(positiveInt('shrink-runs')).default(6))
    .action(async (files: string[], o: { budget: string; seed?: number; out: string; json?: boolean; shrinkRuns: number }) => {
      const { soakCommand } = await import('./soak.js');
      usedLibvirt = true;
      process.exitCode = await soakCommand(files, o, err);
    });

  program.command('doctor').description('check the host prerequisites and show the accelerator decision; exit 0 only when ready')
    .option('--json', 'machine-readable output (the accelerator decision with its evidence under "accel")')
    .option('--probe', 'decide the accelerator afresh with a canary boot, ignoring the cached verdict')
    .action(async (o: { json?: boolean; probe?: boolean }) => {
      const { doctor, formatDoctor } = await import('./doctor.js');
      await libvirt();
      const { checks, accel } = await doctor({ probe: o.probe, log: err });
      const ready = checks.every((c) => c.ok || !c.required);
      const { hostLabels } = await import('../src/hosts/labels.js');
      const { workRoot } = await import('../src/lab/ownership.js');
      const host = await hostLabels({ accel: accel?.accel, cpuMode: accel?.cpuMode, workDir: workRoot() });
      process.stdout.write(o.json ? JSON.stringify({ ready, labels: host.labels, host, checks, accel }, null, 2) + '\n' : `${formatDoctor(checks)}\nlabels: ${host.labels.join(' ')}\n`);
      process.exitCode = ready ? 0 : EXIT.error;
    });

  program.command('accel').description('how guests will run: KVM or TCG, the CPU mode, how it was chosen and why')
    .option('--json', 'the decision with its evidence (modes tried, what each did, times)')
    .option('--probe', 'decide afresh with a canary boot, ignoring the cached verdict')
    .action(async (o: { json?: boolean; probe?: boolean }) => {
      await libvirt();
      const { resolveAccel } = await import('../src/hosts/accel.js');
      const d = await resolveAccel({ reprobe: o.probe, log: err });
      process.stdout.write(o.json ? JSON.stringify(d, null, 2) + '\n' : `${d.accel} (${d.how}, cpu ${d.cpuMode}): ${d.reason}\n`);
    });

  const image = program.command('image').description('guest image built from Debian packages');
  image.command('build').description('build (or reuse from cache) the guest kernel + initramfs')
    .option('--force', 'rebuild even if the cache has it')
    .action(async (o: { force?: boolean }) => {
      const { buildImage } = await import('../src/image/build.js');
      const img = await buildImage({ force: o.force });
      process.stdout.write(`${img.dir}\n`);
    });

  program.command('clean').description('remove leftovers of crashed runs (domains, processes, scratch files)')
    .option('--all', 'also remove resources of runs that are still running')
    .action(async (o: { all?: boolean }) => {
      const { clean } = await import('./clean.js');
      await libvirt();
      const n = await clean({ all: o.all, log: (l) => process.stdout.write(`${l}\n`) });
      process.stdout.write(n ? `cleaned ${n} leftover(s)\n` : 'nothing to clean\n');
    });

  program.command('schema').description('print the scenario JSON Schema (for editors)')
    .action(async () => {
      const { scenarioJsonSchema } = await import('../src/scenario/schema.js');
      process.stdout.write(JSON.stringify(scenarioJsonSchema(), null, 2) + '\n');
    });

  program.command('validate').description('validate scenario files without running them')
    .argument('<files...>')
    .action(async (files: string[]) => {
      let bad = 0;
      for (const f of files) {
        try { await loadScenario(f); process.stdout.write(`ok ${f}\n`); } catch (e) { bad++; err((e as Error).message); }
      }
      process.exitCode = bad ? EXIT.error : 0;
    });

  program.command('report').description('HTML report (and JUnit / trend) from results dirs')
    .argument('<inputs...>', 'run dirs, results.json files or report roots')
    .requiredOption('--out <file>', 'HTML file to write')
    .option('--junit <file>', 'also write JUnit XML')
    .option('--trend <file>', 'also write the nightly trend page')
    .option('--history <roots...>', 'older results (reports roots) for "failing since"')
    .action(async (inputs: string[], o: { out: string; junit?: string; trend?: string; history?: string[] }) => {
      const { reportCommand } = await import('../src/report/commands.js');
      const r = await reportCommand({ inputs, out: o.out, junit: o.junit, trend: o.trend, history: o.history });
      for (const p of r.problems) err(`skipped ${p.file}: ${p.error}`);
      process.stdout.write([r.htmlPath, r.junitPath, r.trendPath].filter(Boolean).join('\n') + '\n');
    });

  program.command('check').description('judge stored runs again from their evidence, without VMs; exit as run')
    .argument('<dirs...>', 'run dirs (each with results.json and evidence/)')
    .option('--json', 'JSON: per run the verdict, the one the run gave, and every check')
    .action(async (dirs: string[], o: { json?: boolean }) => {
      const { rejudge } = await import('./check.js');
      const all = [];
      for (const d of dirs) all.push(await rejudge(d));
      const code = overallExit(all.map((r) => ({ result: { verdict: r.verdict } })));
      if (o.json) process.stdout.write(JSON.stringify({ verdict: verdictOfExit(code), exitCode: code, runs: all }, null, 2) + '\n');
      else {
        for (const r of all) {
          process.stdout.write(`${r.verdict.toUpperCase().padEnd(7)} ${r.scenario}: ${r.reason}${r.verdict !== r.was ? ` (the run said ${r.was})` : ''}\n      ${r.dir}\n`);
          for (const c of r.checks) if (c.valid !== c.was) process.stdout.write(`      changed: ${c.name}: ${c.was} → ${c.valid}: ${c.message}\n`);
        }
      }
      process.exitCode = code;
    });

  program.command('hosts').description('the lab inventory\'s hosts with their capability labels and health (SSH with the pinned host key, libvirt, BMC); exit 0 all healthy, 2 otherwise')
    .requiredOption('--inventory <file>', 'lab inventory YAML (see README "Running in the lab")')
    .option('--json', 'JSON output')
    .action(async (o: { inventory: string; json?: boolean }) => {
      const { hostsCommand } = await import('./hosts.js');
      process.exitCode = await hostsCommand(o, (s) => process.stdout.write(`${s}\n`), err);
    });

  program.command('nightly').description('one night of a suite on this host: results, report, JUnit, the host\'s trend, and an A/B comparison with the last good night; exit 0 good, 1 violation or regression, 2 error')
    .requiredOption('--suite <file>', 'suite YAML: name, scenarios, runs, seed (date | N), baseline (last-good | none)')
    .requiredOption('--reports <root>', 'where nights are kept: <root>/<host>/<date>/')
    .option('--date <YYYY-MM-DD>', 'the night (default today, UTC); with seed: date it is also the seed')
    .option('--json', 'print the night as JSON')
    .action(async (o: import('./nightly.js').NightlyFlags) => {
      const { nightlyCommand } = await import('./nightly.js');
      process.exitCode = await nightlyCommand(o, (files, f) => runCommand(files, { ...f, quiet: true, shrinkRuns: 6 }), (s) => process.stdout.write(`${s}\n`), err);
    });

  const podvm = program.command('podvm').description('podVMs: a VM per pod, sized from its containers, placed by a VM scheduler');
  podvm.command('plan').description('explain how pods would be sized, placed and bound (nothing starts); exit 0 planned (bound or Pending), 1 the schedulers disagree, 2 bad input')
    .argument('<pods...>', 'Pod manifests (v1 Pod YAML, as kubectl takes them; several documents per file allowed)')
    .option('--inventory <file>', 'hosts (YAML, see README); default: this machine as one host')
    .addOption(new Option('--policy <p>', 'sizing policy').choices(['fth', 'kata-go-static', 'kata-rs']).default('fth'))
    .addOption(new Option('--score <s>', 'VM scheduler scoring').choices(['LeastAllocated', 'MostAllocated']).default('LeastAllocated'))
    .addOption(new Option('--numa <m>', 'split a podVM into NUMA cells when it exceeds a host cell').choices(['auto', 'never']).default('auto'))
    .addOption(new Option('--seed <n>', 'seed of the tie-breaks').argParser(positiveInt('seed')).default(1))
    .option('--json', 'JSON output (quantities as exact strings: millicores, bytes)')
    .action(async (files: string[], o: import('./podvm.js').PlanFlags) => {
      const { podvmPlanCommand } = await import('./podvm.js');
      process.exitCode = await podvmPlanCommand(files, o, (s) => process.stdout.write(`${s}\n`), err);
    });

  program.command('compare').description('A/B comparison of two result sets (permutation test per metric)')
    .argument('<a>').argument('<b>')
    .addOption(new Option('--p <p>', 'significance level').argParser(Number).default(0.01))
    .addOption(new Option('--noise <fraction>', 'relative noise floor').argParser(Number).default(0.05))
    .option('--json', 'JSON output')
    .option('--html <file>', 'also write an HTML page')
    .action(async (a: string, b: string, o: { p: number; noise: number; json?: boolean; html?: string }) => {
      const { compareCommand } = await import('../src/report/commands.js');
      const r = await compareCommand({ a, b, p: o.p, noise: o.noise, json: o.json, html: o.html });
      process.stdout.write(r.text.endsWith('\n') ? r.text : `${r.text}\n`);
      process.exitCode = r.anyRegression ? EXIT.fail : 0;
    });
  return program;
}

async function main() {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (e) {
    const ce = e as { code?: string; exitCode?: number };
    if (ce.code?.startsWith('commander.')) {
      process.exitCode = ce.code === 'commander.helpDisplayed' || ce.code === 'commander.version' ? 0 : EXIT.error;
    } else {
      err(`ftharness: ${e instanceof Error ? e.message : String(e)}`);
      process.exitCode = EXIT.error;
    }
  } finally {
    if (usedLibvirt) await (await libvirt()).closeHypervisor();
  }
}

if (process.argv[1] && /(cli\.js|ftharness(\.js)?)$/.test(process.argv[1])) await main();
