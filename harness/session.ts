// What `run` and `soak` share: reading every scenario file before anything starts, and a session
// of runs that stops when its caller stops (signals, the caller gone), with progress on stderr.
import { accelEnvProblems } from '../src/hosts/accel-rules.js';
import { holdLifeline } from '../src/lab/lifeline.js';
import type { Progress } from '../src/report/progress.js';
import type { RunOptions, RunOutcome } from '../src/runner/run.js';
import { loadScenario, ScenarioError, type Scenario } from '../src/scenario/load.js';
import { BROKEN_ENV, brokenProblems } from '../src/shared/broken-sut.js';
import { heldSecret } from '../src/util/held-secrets.js';
import { hostNodeProblems } from '../src/runner/host-topology.js';

/** Every file read and validated; problems (file:line: field: reason) instead of scenarios. */
export async function loadAll(files: string[]): Promise<{ scenarios: Scenario[]; problems: string[] }> {
  const scenarios: Scenario[] = [];
  const problems: string[] = [];
  for (const f of files) {
    try { scenarios.push(await loadScenario(f)); } catch (e) {
      if (e instanceof ScenarioError) problems.push(e.message); else throw e;
    }
  }
  problems.push(...accelEnvProblems(), ...brokenProblems(process.env[BROKEN_ENV]), ...scenarios.flatMap(hostNodeProblems));
  // A BMC's password is named by reference: it must be there before anything starts.
  for (const s of scenarios) {
    s.vms.forEach((v, i) => {
      const env = v.power?.ipmi.passwordEnv;
      if (env && heldSecret(env) === undefined) problems.push(`${s.file}: vms[${i}].power.ipmi.passwordEnv: environment variable ${env} is not set (it holds the BMC password)`);
    });
  }
  return { scenarios, problems };
}

export interface Session {
  run(s: Scenario, o: Omit<RunOptions, 'progress' | 'log' | 'signal'>): Promise<RunOutcome>;
  readonly signal: AbortSignal;
  stopped(): boolean;
  exitCode(): number;
  close(): void;
}

/** SIGINT/SIGTERM/SIGHUP or the caller gone: the current run stops its step, tears its lab down
 *  and writes results.json ("interrupted"); later runs do not start. Should that take too long,
 *  the hard stop closes every lab and store and exits anyway (well within 15 s). */
export async function openSession(err: (l: string) => void): Promise<Session> {
  const { createProgress } = await import('../src/report/progress.js');
  const { runScenario } = await import('../src/runner/run.js');
  const { closeAllLabs } = await import('../src/lab/lab.js');
  const progress: Progress = createProgress();
  const life = holdLifeline({
    onStop: (_cause, detail) => { progress.close(); err(`ftharness: ${detail}: stopping and cleaning up`); },
    onHardStop: async () => {
      await Promise.allSettled([closeAllLabs(err), import('../src/store/rgw.js').then((m) => m.stopAllEmbeddedStores())]);
    },
  });
  return {
    run: (s, o) => runScenario(s, { ...o, progress, log: err, signal: life.signal }),
    signal: life.signal,
    stopped: () => life.signal.aborted,
    exitCode: () => life.exitCode(),
    close: () => life.release(),
  };
}

/** One real run of one scenario file for a benchmark: validated first (problems → exit 2), the
 *  session released and libvirt closed afterwards whatever happens. */
export async function benchRun(file: string, seed: number, outRoot: string): Promise<RunOutcome> {
  return (await benchRuns([file], seed, outRoot, 1))[0];
}

/** Each file `rounds` times, interleaved (A B A B …), in one session: an A/B comparison whose
 *  sides share the machine's state and drift. Stops early when the session is stopped. */
export async function benchRuns(files: string[], seed: number, outRoot: string, rounds: number): Promise<RunOutcome[]> {
  const { scenarios, problems } = await loadAll(files);
  if (problems.length) { console.error(problems.join('\n')); process.exit(2); }
  const session = await openSession((l) => process.stderr.write(`${l}\n`));
  const out: RunOutcome[] = [];
  try {
    for (let k = 1; k <= rounds; k++) {
      for (const s of scenarios) {
        if (session.stopped()) return out;
        out.push(await session.run(s, { runIndex: k, runs: rounds, seed: seed + k, outRoot, keep: false }));
      }
    }
    return out;
  } finally {
    session.close();
    await (await import('../src/vm/libvirt.js')).closeHypervisor();
  }
}
