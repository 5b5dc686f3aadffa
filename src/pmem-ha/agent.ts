#!/usr/bin/env node
// The pmem-ha agent (the system under test), run inside each guest:
//   node agent.js primary --dev /dev/pmem0 --endpoint http://10.0.2.2:PORT --bucket B --prefix P ...
//   node agent.js standby --dev /dev/pmem0 --meta /dev/pmem1 --endpoint ... --bucket B --prefix P ...
// Credentials come from a file named by FTH_S3_CREDENTIALS_FILE or from the environment (see
// credentials.ts), never from arguments, and are never printed. The harness drives it through files in --control-dir (see control.ts
// and README.md). Exit codes: 0 after a shutdown event or SIGTERM/SIGINT, 2 on bad usage or
// configuration, 1 on an unexpected crash.

import { Command, InvalidArgumentError, Option } from 'commander';
import { parseSize } from '../shared/size.js';
import { redact } from '../shared/redact.js';
import { DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY } from './chunks.js';
import { parsePauseAt, type PauseAt } from './pause.js';
import { PrimaryAgent } from './primary.js';
import { commandQuiescer, noQuiesce, pidFileQuiescer, type Quiescer } from './quiesce.js';
import { parseHostPort } from './signal.js';
import { StandbyAgent } from './standby.js';
import { makeS3Store, type ObjectStore } from './store.js';
import { credentialsFromEnv } from './credentials.js';

export { ENV_ACCESS_KEY, ENV_SECRET_KEY, ENV_REGION, ENV_CREDENTIALS_FILE } from './credentials.js';
export const ENV_SIGNAL_KEY = 'FTH_PMEMHA_SIGNAL_KEY';

class UsageError extends Error {}

function size(text: string): number {
  const n = parseSize(text);
  if (n === undefined || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`not a size: ${text} (e.g. 1048576, 1M, 256KiB)`);
  return n;
}
function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`not a positive integer: ${text}`);
  return n;
}
function fraction(text: string): number {
  const n = Number(text);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`not a fraction 0..1: ${text}`);
  return n;
}

interface CommonOpts {
  dev: string;
  endpoint: string;
  bucket: string;
  prefix: string;
  controlDir: string;
  concurrency: number;
  pauseAt?: string;
  size?: number;
  quiet?: boolean;
}

function storeFromEnv(o: CommonOpts): ObjectStore {
  const c = credentialsFromEnv();
  if (typeof c === 'string') throw new UsageError(c);
  return makeS3Store({ endpoint: o.endpoint, region: c.region, accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, bucket: o.bucket });
}

function pauseFrom(o: CommonOpts, role: 'primary' | 'standby'): PauseAt | undefined {
  if (!o.pauseAt) return undefined;
  try {
    return parsePauseAt(o.pauseAt, role);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function quiescerFrom(o: { quiescePidfile?: string; quiesceCmd?: string; resumeCmd?: string }): Quiescer {
  if (o.quiescePidfile && o.quiesceCmd) throw new UsageError('use --quiesce-pidfile or --quiesce-cmd, not both');
  if (o.quiescePidfile) return pidFileQuiescer(o.quiescePidfile);
  if (o.quiesceCmd) return commandQuiescer(o.quiesceCmd, o.resumeCmd);
  if (o.resumeCmd) throw new UsageError('--resume-cmd needs --quiesce-cmd');
  return noQuiesce;
}

/** Configuration both roles take from the common options and the environment. */
function shared(o: CommonOpts, role: 'primary' | 'standby') {
  return {
    store: storeFromEnv(o),
    prefix: o.prefix,
    regionPath: o.dev,
    regionSize: o.size,
    concurrency: o.concurrency,
    controlDir: o.controlDir,
    signalKey: process.env[ENV_SIGNAL_KEY] || undefined,
    pauseAt: pauseFrom(o, role),
    echo: o.quiet ? undefined : (line: string) => void process.stdout.write(redact(line) + '\n'),
  };
}

/** Run an agent until it stops; SIGTERM/SIGINT shut it down like a shutdown event. */
async function run(agent: { start(): Promise<void>; startFailed(err: unknown): void; shutdown(): Promise<void>; stopped: Promise<void> }): Promise<void> {
  const stop = (): void => void agent.shutdown();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    await agent.start();
  } catch (err) {
    agent.startFailed(err);
    throw err;
  }
  await agent.stopped;
  process.exit(0);
}

function common(cmd: Command): Command {
  return cmd
    .requiredOption('--dev <path>', 'the protected PMEM region (block device or file)')
    .requiredOption('--endpoint <url>', 'S3 endpoint, e.g. http://10.0.2.2:7480')
    .requiredOption('--bucket <name>', 'S3 bucket (must exist)')
    .requiredOption('--prefix <prefix>', 'key prefix for this pair of systems')
    .option('--control-dir <dir>', 'control.jsonl / status.json / events.jsonl live here', '/run/ftha')
    .option('--concurrency <n>', 'parallel chunk transfers', positiveInt, DEFAULT_CONCURRENCY)
    .option('--pause-at <phase>', 'block forever at this protocol phase (after recording it)')
    .option('--size <bytes>', 'region size override (default: detected)', size)
    .option('--quiet', 'do not echo events on stdout');
}

export function buildCli(): Command {
  const program = new Command('agent').description('ftharness pmem-ha agent: save PMEM on AC loss (primary), restore it (standby)')
    // Bad flags and missing options are usage errors (exit 2, as documented); help is 0.
    .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));
  common(program.command('primary').description('save /dev/pmemN to the store on an AC-loss notice, then signal the standby'))
    .option('--chunk-size <bytes>', 'chunk size', size, DEFAULT_CHUNK_SIZE)
    .option('--standby-addr <host:port>', 'signal the standby here after each commit')
    .addOption(new Option('--signal-at <when>', 'commit: signal after the manifest; start: also when the save begins, so the standby fetches and verifies chunks while they land (pipelined restore)').choices(['commit', 'start']).default('commit'))
    .option('--quiesce-pidfile <file>', 'SIGSTOP/SIGCONT the pids listed in this file around a save')
    .option('--quiesce-cmd <cmd>', 'shell command that stops the writers (exit 0 = stopped)')
    .option('--resume-cmd <cmd>', 'shell command that resumes the writers')
    .option('--finish-threshold <f>', 'on AC restore, finish the save if this fraction of chunks was read (default 1)', fraction, 1)
    .option('--source-id <id>', 'recorded in manifests (default hostname:dev)')
    .option('--precopy-ms <n>', 'continuous pre-copy while AC is present: a pass over the region every n ms (default off)', positiveInt)
    .option('--precopy-rate <MiB/s>', 'pre-copy read budget', positiveInt, 32)
    .addOption(new Option('--precopy-track <how>', 'how the pre-copy finds changed chunks: rehash (read every chunk again) or dm-era (stack dm-era over --dev and point --dev at it, so writers that use that name are tracked; not for DAX)').choices(['rehash', 'dm-era']).default('rehash'))
    .action(async (o: CommonOpts & { chunkSize: number; standbyAddr?: string; signalAt: 'commit' | 'start'; precopyMs?: number; precopyRate: number; precopyTrack: 'rehash' | 'dm-era'; quiescePidfile?: string; quiesceCmd?: string; resumeCmd?: string; finishThreshold: number; sourceId?: string }) => {
      if (o.precopyTrack === 'dm-era' && !o.precopyMs) throw new UsageError('--precopy-track dm-era needs --precopy-ms');
      const agent = new PrimaryAgent({
        ...shared(o, 'primary'),
        chunkSize: o.chunkSize,
        sourceId: o.sourceId,
        standby: o.standbyAddr ? parseHostPortOrUsage(o.standbyAddr, '--standby-addr') : undefined,
        signalAt: o.signalAt,
        precopy: o.precopyMs ? { intervalMs: o.precopyMs, rateMiBs: o.precopyRate, track: o.precopyTrack } : undefined,
        quiescer: quiescerFrom(o),
        finishThreshold: o.finishThreshold,
      });
      await run(agent);
    });
  common(program.command('standby').description('restore the newest committed generation into /dev/pmemN, journalled in --meta'))
    .requiredOption('--meta <path>', 'restore journal device (small NVDIMM, e.g. /dev/pmem1)')
    .option('--listen <host:port>', 'accept commit signals here')
    .option('--poll-ms <n>', 'poll the store this often', positiveInt, 1000)
    .option('--stage-dir <dir>', 'stage verified chunks in a temp file here (default: memory)')
    .action(async (o: CommonOpts & { meta: string; listen?: string; pollMs: number; stageDir?: string }) => {
      const agent = new StandbyAgent({
        ...shared(o, 'standby'),
        metaPath: o.meta,
        listen: o.listen ? parseHostPortOrUsage(o.listen, '--listen') : undefined,
        pollMs: o.pollMs,
        stageDir: o.stageDir,
      });
      await run(agent);
    });
  return program;
}

function parseHostPortOrUsage(text: string, what: string) {
  try {
    return parseHostPort(text, what);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Run the agent with these arguments (without node and the script); the guest's code-cache
 *  launcher calls it (src/shared/launch.ts). */
export function launch(args: string[]): void {
  buildCli()
    .parseAsync(args, { from: 'user' })
    .catch((err: unknown) => {
      process.stderr.write(`pmem-ha agent: ${redact(err instanceof Error ? err.message : String(err)).split('\n')[0]}\n`);
      process.exit(err instanceof UsageError ? 2 : 1);
    });
}

const isMain = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/pmem-ha/agent.js');
if (isMain) launch(process.argv.slice(2));
