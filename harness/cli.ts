// `ftharness` command line. Exit codes everywhere: 0 pass/ok, 1 fail (an invariant was
// violated), 2 error (bad input or infrastructure).
import '../src/util/warnings.js';
import { holdSecretsFromEnv } from '../src/util/held-secrets.js';
// Only what every command needs is imported here; the runner, libvirt, the image builder and the
// store load with the command that uses them (`validate` starts in half the time).
import { Command, InvalidArgumentError, Option } from 'commander';
import { holdLifeline } from '../src/lab/lifeline.js';
import { accelEnvProblems } from '../src/hosts/accel-rules.js';
import { BROKEN_ENV, brokenProblems } from '../src/util/broken-sut.js';
import { loadScenario, ScenarioError, type Scenario } from '../src/scenario/load.js';
import type { RunOutcome } from '../src/runner/run.js';
import { projectRoot } from '../src/util/paths.js';
import { join, resolve } from 'node:path';

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

interface RunFlags { runs: number; seed?: number; out: string; json?: boolean; keep?: boolean; report?: string | boolean }

async function runCommand(files: string[], o: RunFlags): Promise<number> {
  // Validate every file before starting anything.
  const scenarios: Scenario[] = [];
  const problems: string[] = [];
  for (const f of files) {
    try { scenarios.push(await loadScenario(f)); } catch (e) {
      if (e instanceof ScenarioError) problems.push(e.message); else throw e;
    }
  }
  problems.push(...accelEnvProblems(), ...brokenProblems(process.env[BROKEN_ENV]));
  if (problems.length) {
    err(`ftharness: invalid scenario file(s) or settings, nothing was started:\n${problems.join('\n')}`);
    return EXIT.error;
  }
  const { createProgress } = await import('../src/report/progress.js');
  const { runScenario } = await import('../src/runner/run.js');
  const { closeAllLabs } = await import('../src/lab/lab.js');
  usedLibvirt = true;
  const progress = createProgress();
  // SIGINT/SIGTERM/SIGHUP or the caller gone: the current run stops its step, tears its lab
  // down and writes results.json ("interrupted"); later runs do not start. Should that take
  // too long, the hard stop closes every lab and store and exits anyway (well within 15 s).
  const life = holdLifeline({
    onStop: (_cause, detail) => { progress.close(); err(`ftharness: ${detail}: stopping and cleaning up`); },
    onHardStop: async () => {
      await Promise.allSettled([closeAllLabs(err), import('../src/store/rgw.js').then((m) => m.stopAllEmbeddedStores())]);
    },
  });
  const outcomes: RunOutcome[] = [];
  try {
    for (const s of scenarios) {
      for (let k = 1; k <= o.runs && !life.signal.aborted; k++) {
        const seed = o.seed !== undefined ? o.seed + k - 1 : s.seed !== undefined ? s.seed + k - 1 : undefined;
        outcomes.push(await runScenario(s, { runIndex: k, runs: o.runs, seed, outRoot: o.out, keep: o.keep, progress, log: err, signal: life.signal }));
      }
    }
  } finally {
    life.release();
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
      })),
    }, null, 2) + '\n');
  } else {
    for (const { result: r, dir } of outcomes) process.stdout.write(`${r.verdict.toUpperCase().padEnd(7)} ${r.scenario.name} run ${r.runIndex}/${r.runs} seed ${r.seed}: ${r.reason}\n      ${dir}\n`);
    if (reportPath) process.stdout.write(`report: ${resolve(reportPath)}\n`);
  }
  if (life.cause()) {
    // Abandoned steps may still hold timers: everything they owned is gone, so leave now.
    await (await libvirt()).closeHypervisor();
    process.exit(life.exitCode());
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
    .addOption(new Option('--seed <n>', 'base seed (run k uses seed+k-1)').argParser(positiveInt('seed')))
    .option('--out <dir>', 'results root', join(projectRoot(), 'reports'))
    .option('--json', 'print a JSON summary on stdout')
    .option('--keep', 'leave VMs and scratch files for debugging (remove later with `ftharness clean --all`)')
    .option('--report <file>', 'write the HTML report here (default <out>/index.html)')
    .option('--no-report', 'do not write the HTML report')
    .action(async (files: string[], o: RunFlags) => { process.exitCode = await runCommand(files, o); });

  program.command('doctor').description('check the host prerequisites and show the accelerator decision; exit 0 only when ready')
    .option('--json', 'machine-readable output (the accelerator decision with its evidence under "accel")')
    .option('--probe', 'decide the accelerator afresh with a canary boot, ignoring the cached verdict')
    .action(async (o: { json?: boolean; probe?: boolean }) => {
      const { doctor, formatDoctor } = await import('./doctor.js');
      await libvirt();
      const { checks, accel } = await doctor({ probe: o.probe, log: err });
      const ready = checks.every((c) => c.ok || !c.required);
      process.stdout.write(o.json ? JSON.stringify({ ready, checks, accel }, null, 2) + '\n' : formatDoctor(checks) + '\n');
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
