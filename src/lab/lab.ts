// A Lab is everything one run creates: VMs, scratch files, helper processes. It records each
// resource on disk as it is created (ownership file) and tears everything down in reverse
// order on success, failure, SIGINT and SIGTERM. Names are unique per run, so concurrent runs
// never collide.
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Vm } from '../vm/vm.js';
import type { VmSpec } from '../vm/spec.js';
import { dropOwnership, saveOwnership, workRoot, type Ownership } from './ownership.js';

export const DOMAIN_PREFIX = 'fth-';

export function newRunId(now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${ts}-${randomBytes(3).toString('hex')}`;
}

/** batch: adjacent cleanups with the same key run side by side ('independent': needs no other
 *  resource of the run, e.g. a domain, the store daemons). */
type Cleanup = { what: string; fn: () => Promise<void>; batch?: string };

const liveLabs = new Set<Lab>();

export class Lab {
  readonly workDir: string;
  /** Shared read-only into every guest of the run at /opt/fthrun. */
  readonly shareDir: string;
  readonly vms = new Map<string, Vm>();
  private readonly cleanups: Cleanup[] = [];
  private readonly own: Ownership;
  private closed = false;

  private constructor(readonly runId: string) {
    this.workDir = join(workRoot(), runId);
    this.shareDir = join(this.workDir, 'share');
    this.own = { runId, pid: process.pid, startedAt: new Date().toISOString(), domains: [], pids: [], paths: [this.workDir] };
  }

  static async open(runId = newRunId()): Promise<Lab> {
    const lab = new Lab(runId);
    await mkdir(lab.shareDir, { recursive: true });
    await saveOwnership(lab.own);
    lab.onCleanup(`scratch dir ${lab.workDir}`, () => rm(lab.workDir, { recursive: true, force: true }));
    liveLabs.add(lab);
    return lab;
  }

  /** Domain name for a scenario VM: unique per run. */
  domainName(vm: string): string {
    return `${DOMAIN_PREFIX}${this.runId}-${vm}`;
  }

  onCleanup(what: string, fn: () => Promise<void>, opts: { batch?: string } = {}): void {
    this.cleanups.push({ what, fn, batch: opts.batch });
  }

  /** Record (for `ftharness clean`) a process the run started, e.g. a store daemon. */
  async ownPid(pid: number): Promise<void> {
    this.own.pids.push(pid);
    await saveOwnership(this.own);
  }

  async ownPath(path: string): Promise<void> {
    this.own.paths.push(path);
    await saveOwnership(this.own);
  }

  /** Define a VM (recorded before libvirt knows it, so a crash in between leaves no orphan). */
  async defineVm(key: string, spec: VmSpec, xmlOut?: string): Promise<Vm> {
    const vm = new Vm(spec);
    this.own.domains.push(spec.name);
    await saveOwnership(this.own);
    this.onCleanup(`domain ${spec.name}`, () => vm.remove(), { batch: 'independent' });
    await vm.define(xmlOut);
    this.vms.set(key, vm);
    return vm;
  }

  /** Start a transient VM (e.g. the accelerator canary): recorded first, destroyed at close. */
  async startTransientVm(key: string, spec: VmSpec, xmlOut?: string): Promise<Vm> {
    const vm = new Vm(spec);
    this.own.domains.push(spec.name);
    await saveOwnership(this.own);
    this.onCleanup(`domain ${spec.name}`, () => vm.remove(), { batch: 'independent' });
    this.vms.set(key, vm);
    await vm.startTransient(xmlOut);
    return vm;
  }

  vm(key: string): Vm {
    const v = this.vms.get(key);
    if (!v) throw new Error(`no VM "${key}" in this run`);
    return v;
  }

  /** Tear down everything, newest first; keeps going past failures and reports them. */
  async close(log: (l: string) => void = () => undefined): Promise<string[]> {
    if (this.closed) return [];
    this.closed = true;
    const problems: string[] = [];
    const run = async (c: Cleanup) => {
      try {
        await c.fn();
      } catch (e) {
        problems.push(`${c.what}: ${(e as Error).message}`);
        log(`cleanup of ${c.what} failed: ${(e as Error).message}`);
      }
    };
    const todo = this.cleanups.reverse();
    for (let i = 0; i < todo.length;) {
      let j = i + 1;
      while (todo[i].batch && j < todo.length && todo[j].batch === todo[i].batch) j++;
      await Promise.all(todo.slice(i, j).map(run));
      i = j;
    }
    if (!problems.length) await dropOwnership(this.runId);
    liveLabs.delete(this);
    return problems;
  }
}

/** Close every open lab (signal handlers call this). */
export async function closeAllLabs(log?: (l: string) => void): Promise<void> {
  await Promise.all([...liveLabs].map((l) => l.close(log)));
}
