// Helpers shared by the integration tests: run the real CLI, look at libvirt and processes.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { runsDir } from '../src/lab/ownership.js';

export const CLI = join(process.cwd(), 'bin', 'ftharness.js');

// Scratch directories of the tests, removed when the test process exits. Kept for a look when
// the run failed (mocha exits with the failure count) or FTHARNESS_KEEP_TMP=1, as the report
// fixtures do. Removal at exit, not per test: a run dir is read again by later assertions.
const scratch: string[] = [];
process.on('exit', (code) => {
  if (!scratch.length) return;
  if (code !== 0 || process.env.FTHARNESS_KEEP_TMP) {
    console.log(`\n  kept ${scratch.length} test scratch dirs under ${tmpdir()} (${code !== 0 ? `exit ${code}` : 'FTHARNESS_KEEP_TMP'})`);
    return;
  }
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function tmpDir(prefix = 'fth-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(d);
  return d;
}

export function cli(args: string[], opts: { env?: Record<string, string> } = {}): ResultPromise<{ reject: false; all: true }> {
  return execa('node', [CLI, ...args], { reject: false, all: true, env: opts.env });
}

export async function domainNames(): Promise<string[]> {
  const r = await execa('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name']);
  return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
}

/** qemu processes whose command line names this run's domains. */
export async function qemuProcessesOf(runId: string): Promise<string[]> {
  const r = await execa('pgrep', ['-af', `qemu-system.*${runId}`], { reject: false });
  return r.stdout.split('\n').filter(Boolean);
}

export function ownershipOfPid(pid: number): { runId: string; domains: string[] } | undefined {
  if (!existsSync(runsDir())) return undefined;
  for (const f of readdirSync(runsDir())) {
    if (!f.endsWith('.json')) continue;
    try {
      const o = JSON.parse(readFileSync(join(runsDir(), f), 'utf8'));
      if (o.pid === pid) return o;
    } catch { /* being written */ }
  }
  return undefined;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every results.json under a results root (run dirs; the `latest` links are symlinks). */
export function resultsUnder(root: string): string[] {
  const out: string[] = [];
  for (const scen of existsSync(root) ? readdirSync(root, { withFileTypes: true }) : []) {
    if (!scen.isDirectory()) continue;
    for (const run of readdirSync(join(root, scen.name), { withFileTypes: true })) {
      const f = join(root, scen.name, run.name, 'results.json');
      if (run.isDirectory() && existsSync(f)) out.push(f);
    }
  }
  return out;
}

/** pid and all its descendants (children first found through /proc). */
export async function processTree(pid: number): Promise<number[]> {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const r = await execa('pgrep', ['-P', String(out[i])], { reject: false });
    out.push(...r.stdout.split('\n').filter(Boolean).map(Number));
  }
  return out;
}

/** The ownership record of a run started anywhere below pid (npm → sh → node …). */
export async function ownershipBelow(pid: number): Promise<{ runId: string; domains: string[]; pid: number } | undefined> {
  for (const p of await processTree(pid)) {
    const o = ownershipOfPid(p);
    if (o) return o as { runId: string; domains: string[]; pid: number };
  }
  return undefined;
}
