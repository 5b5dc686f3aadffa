// Helpers shared by the integration tests: run the real CLI, look at libvirt and processes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { runsDir } from '../src/lab/ownership.js';

export const CLI = join(process.cwd(), 'bin', 'ftharness.js');

export function tmpDir(prefix = 'fth-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
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
