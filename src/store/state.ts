// The state file of an embedded store, and the clean-up of stores whose owner died. Kept
// apart from rgw.ts: `ftharness clean` needs only this, and it must work on stores started by
// another process (another checkout even), so it trusts nothing but the file and /proc.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pidAlive, pidStartTime, pidsWithArg, signalGroup } from './procs.js';

export const STATE_FILE = 'ftharness-store.json';

/** What `ftharness clean` needs to find and kill leftovers. No secrets in here. */
export interface StateFile {
  kind: 'ftharness-embedded-rgw';
  dir: string;
  ownerPid: number;
  ownerStartTime?: string;
  ports: { mon?: number; rgw?: number };
  pids: { mon?: number; osd?: number; rgw?: number };
  createdAt: string;
}

/** Write then rename: a reader never sees half a file. */
export function writeStateFile(dir: string, state: StateFile): void {
  const file = path.join(dir, STATE_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export interface LeftoverResult {
  dir: string;
  /** What was done: removed, or why it was left alone. */
  action: 'removed' | 'in-use' | 'failed';
  killed: number[];
  detail?: string;
}

export function readStateFile(dir: string): StateFile | undefined {
  try {
    const s = JSON.parse(readFileSync(path.join(dir, STATE_FILE), 'utf8')) as StateFile;
    return s.kind === 'ftharness-embedded-rgw' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Kills what is left of each store under rootDir (itself and its direct subdirs) whose owner
 *  is dead, then removes its dir. isOurs: dirs of stores this process runs. */
export async function cleanLeftovers(rootDir: string, isOurs: (dir: string) => boolean): Promise<LeftoverResult[]> {
  const candidates = [rootDir];
  try {
    for (const e of readdirSync(rootDir, { withFileTypes: true })) if (e.isDirectory()) candidates.push(path.join(rootDir, e.name));
  } catch {
    return [];
  }
  const results: LeftoverResult[] = [];
  for (const dir of candidates) {
    const state = readStateFile(dir);
    if (!state || path.resolve(state.dir) !== path.resolve(dir)) continue;
    const ownerAlive = pidAlive(state.ownerPid) && (!state.ownerStartTime || pidStartTime(state.ownerPid) === state.ownerStartTime);
    if ((ownerAlive && state.ownerPid !== process.pid) || isOurs(path.resolve(dir))) {
      results.push({ dir, action: 'in-use', killed: [], detail: `owned by live pid ${state.ownerPid}` });
      continue;
    }
    // Only processes whose command line names this store's config: a recorded pid may have
    // been reused by something unrelated since.
    const pids = pidsWithArg(path.join(dir, 'ceph.conf'));
    for (const pid of pids) signalGroup(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while (pids.some(pidAlive) && Date.now() < deadline) await sleep(50);
    const alive = pids.filter(pidAlive);
    if (alive.length) {
      results.push({ dir, action: 'failed', killed: pids, detail: `pids ${alive.join(', ')} survived SIGKILL` });
      continue;
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    results.push({ dir, action: existsSync(dir) ? 'failed' : 'removed', killed: pids });
  }
  return results;
}
