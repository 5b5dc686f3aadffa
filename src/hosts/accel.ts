// The accelerator decision for this host: FTH_ACCEL forces one; otherwise no openable /dev/kvm
// means TCG; otherwise a canary boot of the real guest image under KVM decides (the rules are in
// accel-rules.ts). The probed verdict is cached with its evidence under the state dir, keyed by
// everything that could change it, so a host pays for the canary once.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { release, version } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findImage, type GuestImage } from '../image/build.js';
import { FAST_BOOT_ARGS } from '../image/kernel-args.js';
import { Lab } from '../lab/lab.js';
import { pidAlive, stateRoot } from '../lab/ownership.js';
import { raceAbort } from '../util/abort.js';
import { hostVersions, LIBVIRT_URI, virsh } from '../vm/libvirt.js';
import { cpuModeLabel, parseCpuMode, type Accel, type CpuMode, type VmSpec } from '../vm/spec.js';
import { READY_MARKER } from '../vm/vm.js';
import { parseDomainXml } from '../vm/xml.js';
import {
  accelEnvProblems, classifyAttempt, cpuLadder, decideAccel, nextRung, qemuErrorLine, TCG_CPU,
  type AccelHow, type Attempt, type KvmFacts,
} from './accel-rules.js';

export { accelEnvProblems };

/** How long a canary may take to be ready under KVM before it counts as hung. Our guest is
 *  ready in about 1–2 s under working KVM (5–7 s even under TCG); 20 s leaves room for a
 *  loaded lab host and costs 20 s once per host where KVM hangs. FTH_CANARY_TIMEOUT_MS. */
export const CANARY_TIMEOUT_MS = 20_000;

export interface AccelDecision {
  accel: Accel;
  cpu: CpuMode;
  /** cpuModeLabel(cpu) */
  cpuMode: string;
  how: AccelHow;
  /** one line: why */
  reason: string;
  decidedAt: string;
  /** cache key (hash of keyInputs); absent when nothing was probed */
  key?: string;
  evidence?: {
    facts: KvmFacts;
    ladder: string[];
    attempts: Attempt[];
    boundMs: number;
    probeMs: number;
    keyInputs: Record<string, string>;
  };
}

const accelDir = () => join(stateRoot(), 'accel');

function deviceFacts(): Pick<KvmFacts, 'device' | 'deviceError' | 'pvm'> {
  const pvm = existsSync('/sys/module/kvm_pvm');
  if (!existsSync('/dev/kvm')) return { device: 'absent', pvm };
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
    return { device: 'present', pvm };
  } catch (e) {
    return { device: 'unopenable', deviceError: (e as NodeJS.ErrnoException).code ?? (e as Error).message, pvm };
  }
}

async function libvirtKvm(): Promise<NonNullable<KvmFacts['libvirt']>> {
  const r = await virsh(['domcapabilities', '--virttype', 'kvm'], { timeoutMs: 20_000 });
  if (r.exitCode !== 0) return { ok: false, detail: String(r.stderr || r.stdout).replace(/^error: /gm, '').trim().split('\n')[0], modes: [] };
  const caps = parseDomainXml(r.stdout).domainCapabilities;
  const modes = ([] as Array<Record<string, any>>).concat(caps?.cpu?.mode ?? []); // eslint-disable-line @typescript-eslint/no-explicit-any
  const supported = modes.filter((m) => m['@supported'] === 'yes').map((m) => String(m['@name']));
  const hm = modes.find((m) => m['@name'] === 'host-model')?.model;
  const hostModel = typeof hm === 'string' ? hm : hm?.['#'];
  return { ok: caps?.domain === 'kvm', detail: caps?.domain === 'kvm' ? 'kvm domains offered' : `domain type ${caps?.domain}`, modes: supported, ...(hostModel ? { hostModel: String(hostModel) } : {}) };
}

function cpuinfo(): string {
  const text = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const first = text.split('\n\n')[0] ?? '';
  return first.split('\n').filter((l) => /^(vendor_id|model name|cpu family|model|stepping|flags)\s*:/.test(l)).join('\n');
}

/** Everything that could change the verdict; its hash names the cache file. */
async function keyInputs(image: GuestImage | undefined): Promise<Record<string, string>> {
  const v = await hostVersions().catch(() => ({ qemu: 'unknown', libvirt: 'unknown' }));
  const mods = existsSync('/sys/module') ? readdirSync('/sys/module').filter((m) => /^kvm/.test(m)).sort().join(',') : '';
  return {
    hostKernel: `${release()} ${version()}`, cpu: createHash('sha256').update(cpuinfo()).digest('hex').slice(0, 16),
    kvmModules: mods, qemu: v.qemu, libvirt: v.libvirt, uri: LIBVIRT_URI, image: image?.hash ?? 'none',
    cpuMode: process.env.FTH_CPU_MODE ?? '',
  };
}
const hashKey = (inputs: Record<string, string>) => createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);

/** The cache key of this host as it is now (and where its verdict is kept). */
export async function accelCacheKey(): Promise<{ key: string; inputs: Record<string, string>; file: string }> {
  const inputs = await keyInputs(await findImage());
  const key = hashKey(inputs);
  return { key, inputs, file: join(accelDir(), `${key}.json`) };
}

async function readCache(key: string): Promise<AccelDecision | undefined> {
  try {
    const d = JSON.parse(await readFile(join(accelDir(), `${key}.json`), 'utf8')) as AccelDecision;
    return d.key === key && parseCpuMode(d.cpuMode) ? d : undefined;
  } catch {
    return undefined;
  }
}

async function writeCache(d: AccelDecision): Promise<void> {
  await mkdir(accelDir(), { recursive: true });
  const f = join(accelDir(), `${d.key}.json`);
  await writeFile(`${f}.tmp-${process.pid}`, JSON.stringify(d, null, 2) + '\n');
  await rename(`${f}.tmp-${process.pid}`, f);
}

/** One canary at a time per host: a second process waits for the first one's verdict. */
async function withProbeLock<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  await mkdir(accelDir(), { recursive: true });
  const lock = join(accelDir(), 'probe.lock');
  for (let waited = 0; ; waited += 250) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(await readFile(lock, 'utf8').catch(() => '0'));
      if (!holder || !pidAlive(holder) || waited > 180_000) await rm(lock, { force: true });
      else await raceAbort(sleep(250), signal);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

function domainLogPath(name: string): string {
  const system = !/\/session$/.test(LIBVIRT_URI);
  return system ? `/var/log/libvirt/qemu/${name}.log` : join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/tmp', '.cache'), 'libvirt/qemu/log', `${name}.log`);
}

/** Boot the real image under KVM with one CPU mode: 1 vCPU, 256 MiB, no NVDIMM, no NIC. */
async function canaryBoot(lab: Lab, image: GuestImage, cpu: CpuMode, i: number, boundMs: number): Promise<Attempt> {
  const spec: VmSpec = {
    name: lab.domainName(`canary${i}`), vcpus: 1, memoryMiB: 256, nvdimms: [], nics: [], shares: [],
    boot: { kind: 'kernel', kernel: image.kernel, initrd: image.initrd, cmdline: `${FAST_BOOT_ARGS} fth.hostname=canary` },
    consoleLog: join(lab.workDir, `canary${i}.console.log`), accel: 'kvm', cpu, agentSocket: join(lab.workDir, `canary${i}.qga`),
    description: `ftharness run ${lab.runId} pid ${process.pid} accelerator canary`,
  };
  const t0 = Date.now();
  let startError: string | undefined;
  let stoppedBeforeReady = false;
  let ready = false;
  const vm = await lab.startTransientVm(`canary${i}`, spec).catch((e: Error) => { startError = e.message; return undefined; });
  if (vm) {
    try {
      await vm.agent.waitReady(boundMs, () => vm.isRunning(), READY_MARKER);
      ready = true;
    } catch (e) {
      stoppedBeforeReady = /stopped before/.test((e as Error).message);
    }
  }
  const ms = Date.now() - t0;
  await vm?.remove().catch(() => undefined);
  // QEMU's own words; the command line (a long line naming the domain) is left out.
  const logText = await readFile(domainLogPath(spec.name), 'utf8').catch(() => '');
  await rm(domainLogPath(spec.name), { force: true });
  const log = logText.split('\n').filter((l) => l.trim() && !/\\$/.test(l) && !/^-/.test(l)).slice(-8);
  const outcome = classifyAttempt({ startError, stoppedBeforeReady, ready });
  const detail = outcome === 'ready' ? `ready in ${ms} ms`
    : outcome === 'abort' ? qemuErrorLine(startError ?? log.join('\n')) || 'QEMU stopped before the guest was ready'
    : `QEMU running, not ready in ${boundMs / 1000} s`;
  return { cpu: cpuModeLabel(cpu), outcome, ms, detail, ...(log.length ? { log } : {}) };
}

async function probe(image: GuestImage | undefined, inputs: Record<string, string>, key: string, log: (l: string) => void, signal?: AbortSignal): Promise<AccelDecision> {
  const t0 = Date.now();
  const facts: KvmFacts = { ...deviceFacts(), libvirt: await libvirtKvm() };
  const forcedCpu = process.env.FTH_CPU_MODE ? parseCpuMode(process.env.FTH_CPU_MODE) : undefined;
  const ladder = cpuLadder(facts, forcedCpu);
  const boundMs = Number(process.env.FTH_CANARY_TIMEOUT_MS ?? CANARY_TIMEOUT_MS);
  const attempts: Attempt[] = [];
  const base = { how: 'probed' as const, decidedAt: new Date().toISOString(), key };
  if (!image && facts.libvirt?.ok && ladder.length) {
    return { ...base, key: undefined, accel: 'tcg', cpu: TCG_CPU, cpuMode: cpuModeLabel(TCG_CPU), reason: 'KVM not probed yet: no guest image to boot a canary with (ftharness image build): guests run under TCG' };
  }
  if (image && facts.libvirt?.ok) {
    const lab = await Lab.open();
    try {
      for (let cpu = nextRung(ladder, attempts); cpu; cpu = nextRung(ladder, attempts)) {
        log(`accelerator probe: canary boot under KVM with ${cpuModeLabel(cpu)} (at most ${boundMs / 1000} s)`);
        const a = await raceAbort(canaryBoot(lab, image, cpu, attempts.length, boundMs), signal);
        log(`accelerator probe: ${a.cpu}: ${a.outcome} — ${a.detail}`);
        attempts.push(a);
      }
    } finally {
      await lab.close();
    }
  }
  const v = decideAccel(facts, ladder, attempts);
  return {
    ...base, accel: v.accel, cpu: v.cpu, cpuMode: cpuModeLabel(v.cpu), reason: v.reason,
    evidence: { facts, ladder: ladder.map(cpuModeLabel), attempts, boundMs, probeMs: Date.now() - t0, keyInputs: inputs },
  };
}

let memo: Promise<AccelDecision> | undefined;

/** The decision for this process: forced, from the cache, or probed now (and cached).
 *  `reprobe`: run the canary again even if a verdict is cached; `fresh`: decide again instead
 *  of reusing this process's earlier answer (the environment may have changed). */
export function resolveAccel(o: { reprobe?: boolean; fresh?: boolean; log?: (l: string) => void; signal?: AbortSignal } = {}): Promise<AccelDecision> {
  if (o.reprobe || o.fresh || !memo) {
    memo = decide(o).catch((e) => { memo = undefined; throw e; });
  }
  return memo;
}

async function decide(o: { reprobe?: boolean; log?: (l: string) => void; signal?: AbortSignal }): Promise<AccelDecision> {
  const log = o.log ?? (() => undefined);
  const bad = accelEnvProblems();
  if (bad.length) throw new Error(bad.join('; '));
  const now = new Date().toISOString();
  const forced = process.env.FTH_ACCEL as Accel | undefined;
  if (forced === 'tcg') return { accel: 'tcg', cpu: TCG_CPU, cpuMode: cpuModeLabel(TCG_CPU), how: 'forced', reason: 'forced by FTH_ACCEL=tcg', decidedAt: now };
  const dev = deviceFacts();
  if (!forced && dev.device !== 'present') {
    const v = decideAccel(dev, [], []);
    return { accel: v.accel, cpu: v.cpu, cpuMode: cpuModeLabel(v.cpu), how: 'probed', reason: v.reason, decidedAt: now, evidence: { facts: dev, ladder: [], attempts: [], boundMs: 0, probeMs: 0, keyInputs: {} } };
  }
  const image = await findImage();
  const inputs = await keyInputs(image);
  const key = hashKey(inputs);
  if (forced === 'kvm') {
    // The mode named by FTH_CPU_MODE, else the one the last probe passed, else the most faithful.
    const named = process.env.FTH_CPU_MODE ? parseCpuMode(process.env.FTH_CPU_MODE) : undefined;
    const cached = await readCache(key);
    const cpu = named ?? (cached?.accel === 'kvm' ? cached.cpu : { mode: 'host-passthrough' as const });
    const from = named ? 'FTH_CPU_MODE' : cached?.accel === 'kvm' ? 'the mode the last probe passed' : 'the default';
    return { accel: 'kvm', cpu, cpuMode: cpuModeLabel(cpu), how: 'forced', reason: `forced by FTH_ACCEL=kvm, cpu ${cpuModeLabel(cpu)} (${from})`, decidedAt: now, key };
  }
  if (!o.reprobe) {
    const c = await readCache(key);
    if (c) return { ...c, how: 'cached' };
  }
  return withProbeLock(async () => {
    // Another process may have finished the probe while we waited for the lock.
    if (!o.reprobe) {
      const c = await readCache(key);
      if (c) return { ...c, how: 'cached' as const };
    }
    const d = await probe(image, inputs, key, log, o.signal);
    if (d.key) await writeCache(d);
    return d;
  }, o.signal);
}
