// The podVM's guest-side pod runner: starts one pod's containers with a real OCI runtime (crun,
// cgroup v2 through its cgroupfs manager) in Kubernetes order and keeps a PodRunStatus of them.
//   node pod-runner.mjs PLAN.json        (PodRunPlan, src/podvm/run-plan.ts)
// It imports nothing but Node built-ins and ./run-plan.js: it is bundled for the guest.
//
// What it does, in order:
//  1. The pod cgroup /sys/fs/cgroup/<cgroupPath> (+cpu +memory +pids enabled on the way down),
//     with the pod's cpu.max / cpu.weight / memory.max, read back.
//  2. Per container a busybox rootfs on tmpfs (/run/pods/<uid>/<name>/rootfs, fresh for every
//     start) and an OCI config.json whose linux.resources carry the container's cgroup values.
//  3. Init containers one at a time to completion, sidecars started in their declared place and
//     kept running, then all app containers; restarts per restartPolicy with a small backoff.
//  4. OOM attribution from the kernel's memory.events oom_kill of the container's cgroup.
//  5. SIGTERM/SIGINT: containers get SIGTERM, SIGKILL after a grace period; final status.
// The status file is replaced atomically (tmp + rename) on every change; progress goes to stderr.
//
// cgroups. `crun run` (foreground) removes the container's cgroup itself the moment the container
// exits (libcrun_container_run → force_delete_container_status), so nothing can be read from it
// afterwards. Each container therefore has two levels:
//   <cgroupPath>/<name>             the runner's, no processes, kept across restarts: its
//                                   memory.events (hierarchical) counts every OOM kill of the
//                                   container's instances — what OOM attribution reads;
//   <cgroupPath>/<name>/<restarts>  crun's linux.cgroupsPath for one instance: crun writes the
//                                   container's cpu.max / cpu.weight / memory.max there, and the
//                                   runner reads them back while it runs (status `cgroup`).
// crun 1.8.1 turns OCI cpu.shares into cgroup v2 cpu.weight with the linear formula
// 1 + ((shares - 2) * 9999) / 262142 (src/libcrun/cgroup-internal.h, convert_shares_to_weight; the
// same as runc 1.1, not the quadratic one of crun ≥ 1.23 / runc ≥ 1.3.2): the plan's cpu.weight is
// handed over as the smallest shares that crun maps onto exactly that weight.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants as fsc, copyFileSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { constants as osc } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CgroupValues, ContainerKind, ContainerRun, ContainerRunStatus, PodRunPlan, PodRunStatus } from './run-plan.js';

export const CGROUP_ROOT = '/sys/fs/cgroup';
export const PODS_DIR = '/run/pods';
const CRUN_ROOT = '/run/crun';
/** Controllers a pod and its containers use (init.sh enables these and cpuset in the root). */
const CONTROLLERS = ['cpu', 'memory', 'pids'];
const GRACE_MS = 5_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 8_000;
const PAGE = 4096;

// ---------------------------------------------------------------------------------------------
// Pure parts (unit-tested on the host, test/podvm/runner.test.ts)

/** crun 1.8.1's cgroup v2 cpu.weight for OCI cpu.shares (convert_shares_to_weight; shares 0 = unset). */
export function crunWeightForShares(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** The smallest OCI cpu.shares that crun 1.8.1 writes as cpu.weight `weight` (1..10000). */
export function sharesForWeight(weight: number): number {
  if (!Number.isInteger(weight) || weight < 1 || weight > 10000) throw new Error(`cpu.weight ${weight} is not an integer in 1..10000`);
  return 2 + Math.ceil(((weight - 1) * 262142) / 9999);
}

/** cpu.max "QUOTA PERIOD", "max PERIOD" or "QUOTA" / "max" (period 100000, the kernel's default). */
export function parseCpuMax(v: string): { quota?: number; period: number } {
  const [q, p, extra] = v.trim().split(/\s+/);
  const period = p === undefined ? 100_000 : Number(p);
  if (extra !== undefined || !Number.isInteger(period) || period < 1000 || period > 1_000_000) throw new Error(`cpu.max "${v}": period must be an integer in 1000..1000000 µs`);
  if (q === 'max') return { period };
  const quota = Number(q);
  if (!Number.isInteger(quota) || quota < 1000) throw new Error(`cpu.max "${v}": quota must be "max" or an integer ≥ 1000 µs`);
  return { quota, period };
}

/** memory.max bytes, or undefined for "max". */
export function parseMemoryMax(v: string): number | undefined {
  if (v.trim() === 'max') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new Error(`memory.max "${v}" is neither "max" nor a byte count`);
  const n = Number(v.trim());
  if (!Number.isSafeInteger(n)) throw new Error(`memory.max "${v}" is too large`);
  return n;
}

export interface OciResources {
  cpu?: { shares?: number; quota?: number; period?: number };
  memory?: { limit?: number };
}

/** A container's CgroupValues as OCI linux.resources (what crun turns back into those files). */
export function ociResources(cg: CgroupValues): OciResources {
  const out: OciResources = {};
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (cg.cpuWeight !== undefined) cpu.shares = sharesForWeight(cg.cpuWeight);
  if (cg.cpuMax !== undefined) {
    const m = parseCpuMax(cg.cpuMax);
    if (m.quota !== undefined) cpu.quota = m.quota;
    cpu.period = m.period; // quota unset + period: crun writes "max PERIOD"
  }
  if (Object.keys(cpu).length) out.cpu = cpu;
  if (cg.memoryMax !== undefined) {
    const limit = parseMemoryMax(cg.memoryMax);
    if (limit !== undefined) out.memory = { limit };
  }
  return out;
}

export type CgroupFiles = Partial<Record<'cpu.max' | 'cpu.weight' | 'memory.max', string>>;

/** What the kernel shows in the cgroup files once `cg` is applied (memory.max is kept in pages). */
export function expectedCgroupFiles(cg: CgroupValues, pageSize = PAGE): CgroupFiles {
  const out: CgroupFiles = {};
  if (cg.cpuMax !== undefined) {
    const m = parseCpuMax(cg.cpuMax);
    out['cpu.max'] = `${m.quota ?? 'max'} ${m.period}`;
  }
  if (cg.cpuWeight !== undefined) out['cpu.weight'] = String(crunWeightForShares(sharesForWeight(cg.cpuWeight)));
  if (cg.memoryMax !== undefined) {
    const b = parseMemoryMax(cg.memoryMax);
    out['memory.max'] = b === undefined ? 'max' : String(Math.floor(b / pageSize) * pageSize);
  }
  return out;
}

/** The files of `expected` whose content differs from `actual` (absent counts as differing). */
export function cgroupMismatches(expected: CgroupFiles, actual: CgroupFiles): string[] {
  return (Object.keys(expected) as (keyof CgroupFiles)[]).filter((k) => actual[k] !== expected[k])
    .map((k) => `${k}: expected "${expected[k]}", read "${actual[k] ?? '(missing)'}"`);
}

const norm = (p: string) => p.replace(/^\/+|\/+$/g, '');
/** The runner's cgroup of a container (below the pod's; no processes; kept across restarts). */
export const containerCgroup = (plan: PodRunPlan, name: string) => `${norm(plan.cgroupPath)}/${name}`;
/** crun's cgroup of one instance of a container (relative to the cgroup root). */
export const instanceCgroup = (plan: PodRunPlan, name: string, restarts: number) => `${containerCgroup(plan, name)}/${restarts}`;
/** crun's container id of one instance: unique per pod uid, container and restart. */
export const containerId = (plan: PodRunPlan, name: string, restarts: number) => `${plan.name}-${plan.uid.slice(0, 8)}-${name}-${restarts}`;

/** Docker's / containerd's default capability set. */
export const DEFAULT_CAPS = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

/** The OCI runtime config (config.json, ociVersion 1.0.2) of one instance of a container. */
export function ociConfig(plan: PodRunPlan, c: ContainerRun, o: { rootfs: string; restarts: number }): Record<string, unknown> {
  const env = new Map<string, string>([['PATH', '/bin:/sbin:/usr/bin:/usr/sbin'], ['HOSTNAME', plan.name.slice(0, 63)]]);
  for (const [k, v] of Object.entries(c.env ?? {})) env.set(k, v);
  const resources = ociResources(c.cgroup);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: c.command,
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: '/',
      capabilities: { bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, permitted: DEFAULT_CAPS },
      noNewPrivileges: false,
    },
    root: { path: o.rootfs, readonly: false },
    hostname: plan.name.slice(0, 63),
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      // With the cgroup namespace below, the container sees its own cgroup as /sys/fs/cgroup.
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ],
    annotations: {
      'io.kubernetes.pod.name': plan.name, 'io.kubernetes.pod.namespace': plan.namespace, 'io.kubernetes.pod.uid': plan.uid,
      'io.kubernetes.container.name': c.name,
    },
    linux: {
      // No network namespace: the containers share the guest's network, like a pod's sandbox.
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'cgroup' }],
      cgroupsPath: `/${instanceCgroup(plan, c.name, o.restarts)}`,
      ...(Object.keys(resources).length ? { resources } : {}),
    },
  };
}

/** Whether a container that exited with `exitCode` is started again (Kubernetes' rules). */
export function shouldRestart(kind: ContainerKind, policy: PodRunPlan['restartPolicy'], exitCode: number): boolean {
  if (kind === 'sidecar') return true; // an init container with restartPolicy Always
  if (kind === 'init') return exitCode !== 0 && policy !== 'Never';
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
}

/** Delay before restart number `restarts` + 1 (Kubernetes' doubling back-off, scaled down). */
export const backoffMs = (restarts: number) => Math.min(BACKOFF_BASE_MS * 2 ** restarts, BACKOFF_MAX_MS);

/** The phase of a pod whose app containers will not run again. */
export function finalPhase(apps: Pick<ContainerRunStatus, 'state' | 'exitCode'>[]): 'Succeeded' | 'Failed' {
  return apps.length > 0 && apps.every((a) => a.state === 'terminated' && a.exitCode === 0) ? 'Succeeded' : 'Failed';
}

/** oom_kill of a memory.events text (0 when absent). */
export function oomKillOf(memoryEvents: string): number {
  const m = /^oom_kill (\d+)$/m.exec(memoryEvents);
  return m ? Number(m[1]) : 0;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** What is wrong with a plan (empty: nothing). */
export function planErrors(p: PodRunPlan): string[] {
  const e: string[] = [];
  if (!p || typeof p !== 'object') return ['plan is not an object'];
  if (typeof p.uid !== 'string' || !/^[A-Za-z0-9-]+$/.test(p.uid)) e.push('uid: letters, digits and dashes');
  if (typeof p.name !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(p.name)) e.push('name: a DNS subdomain');
  if (typeof p.cgroupPath !== 'string' || !norm(p.cgroupPath) || norm(p.cgroupPath).split('/').some((s) => !s || s === '.' || s === '..' || !/^[A-Za-z0-9_.:-]+$/.test(s))) e.push(`cgroupPath "${p.cgroupPath}": relative path of plain names`);
  if (!['Always', 'OnFailure', 'Never'].includes(p.restartPolicy)) e.push(`restartPolicy "${p.restartPolicy}"`);
  if (typeof p.statusFile !== 'string' || !p.statusFile.startsWith('/')) e.push('statusFile: an absolute path');
  if (!Array.isArray(p.containers) || !p.containers.some((c) => c?.kind === 'app')) e.push('containers: at least one app container');
  const seen = new Set<string>();
  let appSeen = false;
  for (const [i, c] of (Array.isArray(p.containers) ? p.containers : []).entries()) {
    const at = `containers[${i}]`;
    if (typeof c?.name !== 'string' || !NAME.test(c.name) || c.name.length > 63) e.push(`${at}.name: a DNS label`);
    else if (seen.has(c.name)) e.push(`${at}.name "${c.name}" repeated`);
    else seen.add(c.name);
    if (!['init', 'sidecar', 'app'].includes(c?.kind)) e.push(`${at}.kind "${c?.kind}"`);
    if (c?.kind === 'app') appSeen = true;
    else if (appSeen) e.push(`${at}: init containers and sidecars come before the app containers`);
    if (!Array.isArray(c?.command) || !c.command.length || c.command.some((a) => typeof a !== 'string')) e.push(`${at}.command: a non-empty argv`);
    try { ociResources(c?.cgroup ?? {}); } catch (err) { e.push(`${at}.cgroup: ${(err as Error).message}`); }
  }
  try { expectedCgroupFiles(p.cgroup ?? {}); } catch (err) { e.push(`cgroup: ${(err as Error).message}`); }
  return e;
}

// ---------------------------------------------------------------------------------------------
// The guest side

/** Read back from a cgroup (recorded in the status as the evidence of what crun/the kernel hold). */
export interface CgroupReadback {
  path: string;
  expected: CgroupFiles;
  actual: CgroupFiles;
  verified: boolean;
  mismatches?: string[];
  error?: string;
}

/** ContainerRunStatus plus what the runner saw (extra fields; plain JSON for the host). */
export interface RunnerContainerStatus extends ContainerRunStatus {
  /** crun's id of the current (or last) instance */
  id?: string;
  /** the instance's cgroup files, read while it ran */
  cgroup?: CgroupReadback;
  /** oom_kill of the container's cgroup (all its instances) when the last instance ended */
  oomKills?: number;
  /** the instance before this one (Kubernetes' lastState) */
  lastTermination?: { exitCode?: number; reason?: string; startedAt?: string; finishedAt?: string };
}

export interface RunnerPodStatus extends PodRunStatus {
  containers: RunnerContainerStatus[];
  /** the pod cgroup's files as written by the runner and read back */
  cgroup?: CgroupReadback;
}

const log = (msg: string) => process.stderr.write(`[pod-runner ${new Date().toISOString()}] ${msg}\n`);
const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((res) => {
  if (signal?.aborted) return res();
  const onAbort = () => { clearTimeout(t); res(); };
  const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); res(); }, ms);
  signal?.addEventListener('abort', onAbort, { once: true });
});
const readOr = (f: string, dflt = '') => { try { return readFileSync(f, 'utf8'); } catch { return dflt; } };

function enableControllers(rel: string): void {
  const f = join(CGROUP_ROOT, rel, 'cgroup.subtree_control');
  try {
    writeFileSync(f, CONTROLLERS.map((c) => `+${c}`).join(' '));
  } catch {
    for (const c of CONTROLLERS) {
      try { writeFileSync(f, `+${c}`); } catch (e) { log(`cannot enable ${c} in /${rel}: ${(e as Error).message}`); }
    }
  }
}

/** mkdir -p a cgroup, enabling the controllers in every level on the way down (and in it). */
function ensureCgroup(rel: string): void {
  let cur = '';
  enableControllers('');
  for (const part of norm(rel).split('/')) {
    cur = cur ? `${cur}/${part}` : part;
    mkdirSync(join(CGROUP_ROOT, cur), { recursive: true });
    enableControllers(cur);
  }
}

function readCgroupFiles(rel: string, names: (keyof CgroupFiles)[]): CgroupFiles {
  const out: CgroupFiles = {};
  for (const n of names) out[n] = readFileSync(join(CGROUP_ROOT, rel, n), 'utf8').trim();
  return out;
}

function readback(rel: string, expected: CgroupFiles): CgroupReadback {
  const rb: CgroupReadback = { path: `/${rel}`, expected, actual: {}, verified: false };
  try {
    rb.actual = readCgroupFiles(rel, Object.keys(expected) as (keyof CgroupFiles)[]);
    const mm = cgroupMismatches(expected, rb.actual);
    rb.verified = mm.length === 0;
    if (mm.length) rb.mismatches = mm;
  } catch (e) {
    rb.error = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'cgroup gone before it could be read (the instance had already exited)' : (e as Error).message;
  }
  return rb;
}

/** Every applet path busybox knows (bin/sh, usr/bin/awk, …). */
function busyboxApplets(): string[] {
  const r = spawnSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`busybox --list-full failed: ${r.stderr}`);
  return r.stdout.split('\n').map((s) => s.trim()).filter((s) => s && s !== 'bin/busybox');
}

interface Ctr {
  c: ContainerRun;
  st: RunnerContainerStatus;
  /** container init's pid (guest pid namespace) while an instance runs */
  pid?: number;
  stopRequested: boolean;
  started: Promise<void>;
  markStarted: () => void;
}

class PodRunner {
  private readonly podDir: string;
  private readonly status: RunnerPodStatus;
  private readonly ctrs: Ctr[];
  private readonly stop = new AbortController();
  private stopSignal?: string;
  private applets: string[] = [];
  private readonly crun = existsSync('/usr/bin/crun') ? '/usr/bin/crun' : 'crun';

  constructor(private readonly plan: PodRunPlan) {
    this.podDir = join(PODS_DIR, plan.uid);
    const v = spawnSync(this.crun, ['--version'], { encoding: 'utf8' });
    const version = /crun version (\S+)/.exec(v.stdout ?? '')?.[1];
    if (!version) throw new Error(`crun does not answer --version (${v.error?.message ?? v.stderr})`);
    this.ctrs = plan.containers.map((c) => {
      let markStarted = () => {};
      const started = new Promise<void>((res) => { markStarted = res; });
      return { c, st: { name: c.name, kind: c.kind, state: 'waiting', restarts: 0 }, stopRequested: false, started, markStarted };
    });
    this.status = { uid: plan.uid, phase: 'Pending', runtime: { name: 'crun', version }, containers: this.ctrs.map((k) => k.st), updatedAt: '' };
  }

  private write(): void {
    this.status.updatedAt = new Date().toISOString();
    const f = this.plan.statusFile;
    mkdirSync(dirname(f), { recursive: true });
    const tmp = `${f}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(this.status, null, 2) + '\n');
    renameSync(tmp, f);
  }

  requestStop(sig: string): void {
    if (this.stop.signal.aborted) return;
    this.stopSignal = sig;
    log(`${sig}: stopping the pod`);
    this.stop.abort();
    for (const k of this.ctrs) this.stopContainer(k);
  }

  /** SIGTERM to the container's init now, SIGKILL after the grace period (from outside its pid
   *  namespace, so an init without a handler is killed too). */
  private stopContainer(k: Ctr): void {
    k.stopRequested = true;
    const pid = k.pid;
    if (pid === undefined) return; // not running; runInstance kills one that starts now
    try { process.kill(pid, 'SIGTERM'); } catch { return; }
    setTimeout(() => { if (k.pid === pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } } }, GRACE_MS).unref();
  }

  private buildRootfs(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'proc', 'dev', 'sys', 'tmp', 'etc', 'root', 'run', 'var/tmp']) mkdirSync(join(dir, d), { recursive: true });
    chmodSync(join(dir, 'tmp'), 0o1777);
    linkSync(join(this.podDir, 'busybox'), join(dir, 'bin/busybox'));
    for (const a of this.applets) { try { symlinkSync('/bin/busybox', join(dir, a)); } catch { /* a duplicate applet path */ } }
    writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    writeFileSync(join(dir, 'etc/group'), 'root:x:0:\n');
    writeFileSync(join(dir, 'etc/hostname'), `${this.plan.name.slice(0, 63)}\n`);
    writeFileSync(join(dir, 'etc/hosts'), `127.0.0.1 localhost\n127.0.1.1 ${this.plan.name.slice(0, 63)}\n`);
  }

  private setUpPod(): void {
    const pod = norm(this.plan.cgroupPath);
    ensureCgroup(pod);
    const cg = this.plan.cgroup ?? {};
    // cpu.max before cpu.weight before memory.max; a value the kernel refuses is an error.
    if (cg.cpuMax !== undefined) writeFileSync(join(CGROUP_ROOT, pod, 'cpu.max'), cg.cpuMax);
    if (cg.cpuWeight !== undefined) writeFileSync(join(CGROUP_ROOT, pod, 'cpu.weight'), String(cg.cpuWeight));
    if (cg.memoryMax !== undefined) writeFileSync(join(CGROUP_ROOT, pod, 'memory.max'), cg.memoryMax);
    this.status.cgroup = readback(pod, expectedCgroupFiles(cg));
    if (!this.status.cgroup.verified) log(`pod cgroup /${pod} does not hold the plan's values: ${this.status.cgroup.mismatches?.join('; ') ?? this.status.cgroup.error}`);
    for (const k of this.ctrs) ensureCgroup(containerCgroup(this.plan, k.c.name));
    mkdirSync(this.podDir, { recursive: true });
    // Static: hard-linked into every rootfs (same tmpfs). Kept if there: a container may run it.
    if (!existsSync(join(this.podDir, 'busybox'))) copyFileSync('/bin/busybox', join(this.podDir, 'busybox'));
    this.applets = busyboxApplets();
  }

  /** One instance of a container, start to exit; resolves with its exit code. */
  private async runInstance(k: Ctr): Promise<number> {
    const { plan } = this;
    const restarts = k.st.restarts;
    const id = containerId(plan, k.c.name, restarts);
    const bundle = join(this.podDir, k.c.name);
    const pidFile = join(bundle, 'container.pid');
    const ccg = containerCgroup(plan, k.c.name);
    const icg = instanceCgroup(plan, k.c.name, restarts);
    this.buildRootfs(join(bundle, 'rootfs'));
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(ociConfig(plan, k.c, { rootfs: join(bundle, 'rootfs'), restarts }), null, 2));
    rmSync(pidFile, { force: true });
    if (existsSync(join(CRUN_ROOT, id))) spawnSync(this.crun, [`--root=${CRUN_ROOT}`, 'delete', '-f', id]); // left by an earlier runner
    const oomBefore = oomKillOf(readOr(join(CGROUP_ROOT, ccg, 'memory.events')));

    const logFd = openSync(join(this.podDir, `${k.c.name}.log`), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND, 0o644);
    // --no-pivot: the guest's / is the initramfs, where pivot_root(2) fails with EINVAL; crun
    // then moves the rootfs over / and chroots instead.
    const child = spawn(this.crun, [`--root=${CRUN_ROOT}`, '--cgroup-manager=cgroupfs', 'run', '--no-pivot', '--bundle', bundle, '--pid-file', pidFile, id],
      { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    let done = false;
    const exited = new Promise<number>((res) => {
      child.once('error', (e) => { done = true; log(`${id}: cannot start crun: ${e.message}`); res(127); });
      child.once('exit', (code, sig) => { done = true; res(code ?? 128 + (sig ? osc.signals[sig] ?? 0 : 0)); });
    });
    k.st.id = id;
    log(`${id}: starting (${k.c.kind})`);

    // Running once crun has written the pid file (the container's process has been started).
    let pid: number | undefined;
    while (!done && pid === undefined) {
      await sleep(50);
      const txt = readOr(pidFile).trim();
      if (/^\d+$/.test(txt)) pid = Number(txt);
    }
    if (pid === undefined && /^\d+$/.test(readOr(pidFile).trim())) pid = Number(readOr(pidFile).trim()); // started and already gone
    if (pid !== undefined) {
      k.pid = done ? undefined : pid;
      if (k.st.state === 'terminated') {
        k.st.lastTermination = { exitCode: k.st.exitCode, reason: k.st.reason, startedAt: k.st.startedAt, finishedAt: k.st.finishedAt };
      }
      Object.assign(k.st, { state: 'running', startedAt: new Date().toISOString(), pid: k.pid, exitCode: undefined, reason: undefined, finishedAt: undefined });
      k.st.cgroup = readback(icg, expectedCgroupFiles(k.c.cgroup));
      if (k.st.cgroup.mismatches) log(`${id}: cgroup /${icg} does not hold the plan's values: ${k.st.cgroup.mismatches.join('; ')}`);
      this.write();
      k.markStarted();
      if (k.stopRequested) this.stopContainer(k);
    }

    const code = await exited;
    k.pid = undefined;
    const oomKills = oomKillOf(readOr(join(CGROUP_ROOT, ccg, 'memory.events')));
    const oom = oomKills > oomBefore;
    const reason = oom ? 'OOMKilled' : pid === undefined ? 'StartError' : code === 0 ? 'Completed' : 'Error';
    Object.assign(k.st, { state: 'terminated', exitCode: code, reason, finishedAt: new Date().toISOString(), pid: undefined, oomKills });
    if (pid === undefined) k.st.startedAt = undefined; // never ran
    if (existsSync(join(CRUN_ROOT, id))) spawnSync(this.crun, [`--root=${CRUN_ROOT}`, 'delete', '-f', id]);
    log(`${id}: exited ${code} (${reason}${oom ? `, oom_kill ${oomBefore} → ${oomKills}` : ''})`);
    this.write();
    return code;
  }

  /** Run a long-running container (sidecar or app), restarting it per policy, until it stays down. */
  private async supervise(k: Ctr): Promise<void> {
    for (;;) {
      const code = await this.runInstance(k);
      if (this.stop.signal.aborted || k.stopRequested) return;
      if (!shouldRestart(k.c.kind, this.plan.restartPolicy, code)) return;
      await sleep(backoffMs(k.st.restarts), this.stop.signal);
      if (this.stop.signal.aborted || k.stopRequested) return;
      k.st.restarts++;
    }
  }

  async run(): Promise<number> {
    const { plan } = this;
    this.write();
    try {
      this.setUpPod();
    } catch (e) {
      this.status.phase = 'Failed';
      this.status.message = `pod set-up failed: ${(e as Error).message}`;
      log(this.status.message);
      this.write();
      return 1;
    }
    const sidecars: Promise<void>[] = [];
    const before = this.ctrs.filter((k) => k.c.kind !== 'app');
    let failed: string | undefined;
    if (before.length) { this.status.phase = 'Init'; this.write(); }
    for (const k of before) {
      if (this.stop.signal.aborted) break;
      if (k.c.kind === 'sidecar') {
        sidecars.push(this.supervise(k));
        await Promise.race([k.started, new Promise<void>((res) => this.stop.signal.addEventListener('abort', () => res(), { once: true }))]);
        continue;
      }
      for (;;) {
        const code = await this.runInstance(k);
        if (this.stop.signal.aborted || code === 0) break;
        if (!shouldRestart('init', plan.restartPolicy, code)) { failed = `init container ${k.c.name} failed (exit ${code}${k.st.reason === 'OOMKilled' ? ', OOMKilled' : ''})`; break; }
        await sleep(backoffMs(k.st.restarts), this.stop.signal);
        if (this.stop.signal.aborted) break;
        k.st.restarts++;
      }
      if (failed) break;
    }
    const apps = this.ctrs.filter((k) => k.c.kind === 'app');
    if (!failed && !this.stop.signal.aborted) {
      this.status.phase = 'Running';
      this.write();
      log(`starting ${apps.length} app container(s)`);
      await Promise.all(apps.map((k) => this.supervise(k)));
    }
    // Sidecars end after the apps (or when the pod failed or is stopped).
    for (const k of this.ctrs.filter((x) => x.c.kind === 'sidecar')) this.stopContainer(k);
    await Promise.all(sidecars);
    if (failed) {
      this.status.phase = 'Failed';
      this.status.message = failed;
    } else {
      this.status.phase = finalPhase(apps.map((k) => k.st));
      if (this.stopSignal) this.status.message = `stopped (${this.stopSignal})`;
    }
    log(`pod ${plan.namespace}/${plan.name}: ${this.status.phase}${this.status.message ? ` — ${this.status.message}` : ''}`);
    this.write();
    if (this.stopSignal) return 128 + (osc.signals[this.stopSignal as NodeJS.Signals] ?? 0);
    return this.status.phase === 'Succeeded' ? 0 : 1;
  }
}

export async function main(argv: string[]): Promise<number> {
  const file = argv[0];
  if (!file) { process.stderr.write('usage: pod-runner PLAN.json\n'); return 2; }
  let plan: PodRunPlan;
  try {
    plan = JSON.parse(readFileSync(file, 'utf8')) as PodRunPlan;
  } catch (e) {
    process.stderr.write(`pod-runner: cannot read the plan ${file}: ${(e as Error).message}\n`);
    return 2;
  }
  const errs = planErrors(plan);
  if (errs.length) { process.stderr.write(`pod-runner: invalid plan ${file}:\n  ${errs.join('\n  ')}\n`); return 2; }
  const runner = new PodRunner(plan);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => runner.requestStop(sig));
  log(`pod ${plan.namespace}/${plan.name} (${plan.uid}): ${plan.containers.map((c) => `${c.name}:${c.kind}`).join(' ')}, restartPolicy ${plan.restartPolicy}`);
  return runner.run();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    process.stderr.write(`pod-runner: ${(e as Error).stack ?? e}\n`);
    process.exit(2);
  });
}
