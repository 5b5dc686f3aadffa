// What a run owns, on disk, so that a crashed run's leftovers can be found and removed by
// `ftharness clean`. One JSON file per live run under the state dir; removed when the run has
// cleaned up after itself.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

export interface Ownership {
  runId: string;
  pid: number;
  startedAt: string;
  /** libvirt domain names */
  domains: string[];
  /** processes started by the run (e.g. store daemons), killed by process group */
  pids: number[];
  /** files/dirs to delete */
  paths: string[];
}

export function stateRoot(): string {
  return process.env.FTH_STATE_DIR ?? (process.getuid?.() === 0 ? '/var/lib/ftharness' : join(process.env.HOME ?? '/tmp', '.local/state/ftharness'));
}
export const runsDir = () => join(stateRoot(), 'runs');
/** Scratch space for big per-run files (NVDIMM backing files, store data). */
export const workRoot = () => process.env.FTH_WORK_DIR ?? '/var/tmp/ftharness';

// Writes of one run's file are queued: a run registers from concurrent work (its store starts
// while its VMs are defined), and the file on disk must always be the latest whole snapshot.
const queues = new Map<string, Promise<void>>();

export function saveOwnership(o: Ownership): Promise<void> {
  const f = join(runsDir(), `${o.runId}.json`);
  const next = (queues.get(f) ?? Promise.resolve()).catch(() => undefined).then(async () => {
    await mkdir(runsDir(), { recursive: true });
    await writeFile(`${f}.tmp-${process.pid}`, JSON.stringify(o, null, 2));
    await rename(`${f}.tmp-${process.pid}`, f);
  });
  queues.set(f, next);
  void next.finally(() => { if (queues.get(f) === next) queues.delete(f); }).catch(() => undefined);
  return next;
}

export async function dropOwnership(runId: string): Promise<void> {
  await queues.get(join(runsDir(), `${runId}.json`))?.catch(() => undefined);
  await rm(join(runsDir(), `${runId}.json`), { force: true });
}

export async function listOwnerships(): Promise<Ownership[]> {
  if (!existsSync(runsDir())) return [];
  const out: Ownership[] = [];
  for (const f of await readdir(runsDir())) {
    if (!f.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(await readFile(join(runsDir(), f), 'utf8')) as Ownership);
    } catch { /* half-written file of a crashed run: its domains are still found by name */ }
  }
  return out;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
