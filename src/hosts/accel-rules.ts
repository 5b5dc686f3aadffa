// How the accelerator is decided, as pure functions of what was observed: the KVM device, what
// libvirt offers, and the outcome of each canary boot. src/hosts/accel.ts gathers the facts and
// runs the canaries; everything here is tested on recorded outcomes (test/hosts/accel-rules).
//
// The rule: a device that exists and opens says nothing about whether our guests run on it (a
// nested PVM device passes every permission and ioctl check, then QEMU aborts or the kernel
// hangs). Only a guest that boots under KVM proves KVM. So we walk a ladder of CPU modes:
//   abort (QEMU or libvirt refused to run the guest) → try the next mode;
//   hang (QEMU runs, the guest is not ready within the bound) → TCG, stop;
//   ready → KVM with that mode.
import { cpuModeLabel, parseCpuMode, type Accel, type CpuMode } from '../vm/spec.js';

export type AccelHow = 'forced' | 'probed' | 'cached';

export interface KvmFacts {
  /** /dev/kvm: missing, present but not openable read-write by us, or openable */
  device: 'absent' | 'unopenable' | 'present';
  deviceError?: string;
  /** the host's KVM is the PVM module (/sys/module/kvm_pvm): it only runs kernels built for it */
  pvm: boolean;
  /** `virsh domcapabilities --virttype kvm`: libvirt can make KVM domains, and with which modes */
  libvirt?: { ok: boolean; detail: string; modes: string[]; hostModel?: string };
}

export type AttemptOutcome = 'ready' | 'abort' | 'hang';

/** One canary boot under KVM. */
export interface Attempt {
  cpu: string;
  outcome: AttemptOutcome;
  /** domain start → ready, abort or giving up */
  ms: number;
  /** one line: what was seen (QEMU's error, or "not ready within 20000 ms") */
  detail: string;
  /** the tail of QEMU's domain log, for the evidence */
  log?: string[];
}

export interface AccelVerdict { accel: Accel; cpu: CpuMode; reason: string }

export const TCG_CPU: CpuMode = { mode: 'maximum' };
/** The MSR a nested KVM most often refuses (IA32_ARCH_CAPABILITIES, 0x10a). */
export const ARCH_CAPABILITIES = 'arch-capabilities';

/** CPU modes to try, most faithful first; a forced mode (FTH_CPU_MODE) is the only rung. */
export function cpuLadder(facts: KvmFacts, forced?: CpuMode): CpuMode[] {
  if (forced) return [forced];
  const modes = facts.libvirt?.modes ?? [];
  const out: CpuMode[] = [];
  if (modes.includes('host-passthrough')) out.push({ mode: 'host-passthrough' });
  if (modes.includes('host-model')) out.push({ mode: 'host-model' });
  if (modes.includes('custom') && facts.libvirt?.hostModel) out.push({ mode: 'custom', model: facts.libvirt.hostModel, disable: [ARCH_CAPABILITIES] });
  return out;
}

/** The next mode to try, or undefined when the attempts so far decide it. */
export function nextRung(ladder: CpuMode[], attempts: Attempt[]): CpuMode | undefined {
  if (attempts.some((a) => a.outcome !== 'abort')) return undefined;
  return ladder[attempts.length];
}

/** What a canary boot did, from what was seen. `startError`: libvirt's create failed. */
export function classifyAttempt(seen: { startError?: string; stoppedBeforeReady?: boolean; ready?: boolean }): AttemptOutcome {
  if (seen.ready) return 'ready';
  if (seen.startError !== undefined || seen.stoppedBeforeReady) return 'abort';
  return 'hang';
}

/** QEMU's own words from a failed start or its domain log: the first error line, without
 *  libvirt's wrapping, timestamps or the program name. */
export function qemuErrorLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()
    .replace(/^(error: )?(internal error: )?((qemu unexpectedly closed the monitor|process exited while connecting to monitor): )?/, '')
    .replace(/^\d{4}-\d\d-\d\d[T ][\d:.]+(Z|\+\d{4})?:?\s+/, '')
    .replace(/^qemu-system-\w+: /, '')).filter(Boolean);
  const hit = lines.find((l) => /^error: /.test(l)) ?? lines.find((l) => /error|assertion|failed|unsupported|cannot|not support/i.test(l));
  return (hit ?? lines.at(-1) ?? '').replace(/^error: /, '').slice(0, 200);
}

const PVM = 'KVM device is nested PVM: stock kernels cannot boot under it';

/** "host-passthrough, host-model: QEMU aborted (…); custom:…: guest hung (…)". */
function summary(attempts: Attempt[]): string {
  const parts: string[] = [];
  for (let i = 0; i < attempts.length; i++) {
    const a = attempts[i];
    const modes = [a.cpu];
    while (attempts[i + 1] && attempts[i + 1].outcome === a.outcome && attempts[i + 1].detail === a.detail) modes.push(attempts[++i].cpu);
    const what = a.outcome === 'abort' ? 'QEMU aborted' : a.outcome === 'hang' ? 'guest hung' : 'ready';
    parts.push(`${modes.join(', ')}: ${what} (${a.detail})`);
  }
  return parts.join('; ');
}

/** The verdict from the facts and the canary attempts (walked with nextRung). */
export function decideAccel(facts: KvmFacts, ladder: CpuMode[], attempts: Attempt[]): AccelVerdict {
  const tcg = (reason: string): AccelVerdict => ({ accel: 'tcg', cpu: TCG_CPU, reason });
  if (facts.device === 'absent') return tcg('no /dev/kvm');
  if (facts.device === 'unopenable') return tcg(`/dev/kvm cannot be opened${facts.deviceError ? ` (${facts.deviceError})` : ''}`);
  if (facts.libvirt && !facts.libvirt.ok) return tcg(`libvirt cannot make KVM domains (${facts.libvirt.detail})`);
  if (!ladder.length) return tcg('libvirt offers none of the CPU modes the probe tries');
  const ready = attempts.findIndex((a) => a.outcome === 'ready');
  if (ready >= 0) {
    const a = attempts[ready];
    const before = attempts.slice(0, ready);
    return { accel: 'kvm', cpu: ladder[ready], reason: `canary guest ready under KVM in ${(a.ms / 1000).toFixed(1)} s with ${a.cpu}${before.length ? ` (${summary(before)})` : ''}` };
  }
  if (attempts.some((a) => a.outcome === 'hang')) return tcg(`${facts.pvm ? PVM : 'KVM cannot boot our guest'} (${summary(attempts)})`);
  if (attempts.length < ladder.length) throw new Error(`accelerator not decided yet: ${attempts.length} of ${ladder.length} CPU modes tried`);
  return tcg(`${facts.pvm ? `${PVM}: ` : ''}QEMU aborts under KVM in every CPU mode tried (${summary(attempts)})`);
}

/** Problems with FTH_ACCEL / FTH_CPU_MODE / FTH_CANARY_TIMEOUT_MS, named, for "bad input" errors. */
export function accelEnvProblems(env = process.env): string[] {
  const p: string[] = [];
  if (env.FTH_ACCEL && env.FTH_ACCEL !== 'kvm' && env.FTH_ACCEL !== 'tcg') p.push(`FTH_ACCEL must be kvm or tcg, not "${env.FTH_ACCEL}"`);
  if (env.FTH_CPU_MODE && (!parseCpuMode(env.FTH_CPU_MODE) || env.FTH_CPU_MODE === 'maximum')) {
    p.push(`FTH_CPU_MODE must be host-passthrough, host-model or custom:MODEL[,-feature…], not "${env.FTH_CPU_MODE}"`);
  }
  if (env.FTH_CANARY_TIMEOUT_MS && !(Number(env.FTH_CANARY_TIMEOUT_MS) >= 1000 && Number(env.FTH_CANARY_TIMEOUT_MS) <= 600_000)) {
    p.push(`FTH_CANARY_TIMEOUT_MS must be a number of ms from 1000 to 600000, not "${env.FTH_CANARY_TIMEOUT_MS}"`);
  }
  return p;
}
