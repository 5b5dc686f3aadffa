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

export async function saveOwnership(o: Ownership): Promise<void> {
  await mkdir(runsDir(), { recursive: true });
  const f = join(runsDir(), `${o.runId}.json`);
  await writeFile(`${f}.tmp`, JSON.stringify(o, null, 2));
  await rename(`${f}.tmp`, f);
}

export async function dropOwnership(runId: string): Promise<void> {
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
