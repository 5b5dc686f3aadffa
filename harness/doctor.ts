// `ftharness doctor`: every prerequisite with ok/missing and the fix. Exit 0 only when ready.
import { accessSync, constants, existsSync, statfsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import { findImage } from '../src/image/build.js';
import { stateRoot, workRoot } from '../src/lab/ownership.js';
import { projectRoot } from '../src/util/paths.js';
import { resolveAccel, type AccelDecision } from '../src/hosts/accel.js';
import { LIBVIRT_URI, virsh } from '../src/vm/libvirt.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** required checks decide readiness; optional ones only inform */
  required: boolean;
  detail: string;
  fix?: string;
}

async function has(cmd: string, args = ['--version']): Promise<string | undefined> {
  const r = await execa(cmd, args, { reject: false, timeout: 10_000 }).catch(() => undefined);
  return r && r.exitCode === 0 ? (r.stdout || r.stderr).split('\n')[0] : undefined;
}

const SETUP = 'run `npm run setup` (harness/setup.sh) as root';

export interface DoctorReport { checks: DoctorCheck[]; accel?: AccelDecision }

/** `probe`: decide the accelerator afresh (canary boot) instead of using the cached verdict. */
export async function doctor(o: { probe?: boolean; log?: (l: string) => void } = {}): Promise<DoctorReport> {
  const out: DoctorCheck[] = [];
  const add = (c: DoctorCheck) => out.push(c);
  const major = Number(process.versions.node.split('.')[0]);
  add({ name: 'node', ok: major >= 20, required: true, detail: `Node ${process.versions.node}`, fix: 'install Node.js 20 or newer' });
  const q = await has('qemu-system-x86_64');
  add({ name: 'qemu', ok: !!q, required: true, detail: q ?? 'qemu-system-x86_64 not found', fix: 'apt-get install qemu-system-x86 qemu-utils' });
  const v = await virsh(['version'], { timeoutMs: 10_000 }).catch(() => undefined);
  add({
    name: 'libvirtd', ok: v?.exitCode === 0, required: true,
    detail: v?.exitCode === 0 ? `${LIBVIRT_URI} answers (${/Using library: (.*)/.exec(v.stdout)?.[1] ?? '?'})` : `${LIBVIRT_URI} does not answer: ${(v?.stderr ?? 'virsh missing').split('\n')[0]}`,
    fix: `${SETUP}; it starts virtlogd and libvirtd without systemd`,
  });
  const binding = existsSync(`${projectRoot()}/node_modules/@unraid/libvirt/build/Release/libvirt.node`);
  add({ name: 'libvirt binding', ok: binding, required: true, detail: binding ? '@unraid/libvirt native module built' : 'native module not built', fix: SETUP });
  const img = await findImage();
  add({ name: 'guest image', ok: !!img, required: true, detail: img ? `${img.hash} (kernel ${img.kernelVersion})` : 'not built', fix: 'ftharness image build' });
  // TCG is a fine answer (slower, and every figure says so); not being able to decide is not.
  let accel: AccelDecision | undefined;
  try {
    accel = await resolveAccel({ reprobe: o.probe, log: o.log });
    add({ name: 'accel', ok: true, required: true, detail: `${accel.accel.toUpperCase()} (${accel.how}, cpu ${accel.cpuMode}): ${accel.reason}` });
  } catch (e) {
    add({ name: 'accel', ok: false, required: true, detail: `cannot decide: ${(e as Error).message}`, fix: 'fix the setting named, or run `ftharness doctor --probe` once libvirtd and the image are ready' });
  }
  const perf = await execa('perf', ['stat', '-x,', '-e', 'instructions,task-clock', 'true'], { reject: false }).catch(() => undefined);
  const hw = perf && perf.exitCode === 0 && !/not supported|not counted/.test(perf.stderr.split('\n').find((l) => l.includes('instructions')) ?? 'not supported');
  add({
    name: 'perf', ok: !!perf && perf.exitCode === 0, required: false,
    detail: !perf || perf.exitCode !== 0 ? 'perf not usable' : hw ? 'perf works, hardware counters supported' : 'perf works, hardware counters NOT supported here (software events only)',
    fix: 'apt-get install linux-perf',
  });
  const rgw = await has('radosgw', ['--version']);
  add({ name: 'S3 store (embedded Ceph RGW)', ok: !!rgw, required: false, detail: rgw ?? 'radosgw not installed', fix: 'apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common' });
  const ext = process.env.FTH_S3_ENDPOINT;
  if (ext) add({ name: 'S3 store (external)', ok: true, required: false, detail: `FTH_S3_ENDPOINT=${ext}` });
  const chromium = existsSync('/usr/bin/chromium');
  add({ name: 'chromium', ok: chromium, required: false, detail: chromium ? '/usr/bin/chromium (report tests)' : 'missing (only the report browser tests need it)', fix: 'apt-get install chromium' });
  for (const [name, dir] of [['state dir', stateRoot()], ['work dir', workRoot()]] as const) {
    let ok = true;
    let detail = dir;
    try {
      await mkdir(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      const fs = statfsSync(dir);
      const free = (fs.bavail * fs.bsize) / 2 ** 30;
      detail = `${dir} (${free.toFixed(1)} GiB free)`;
      if (name === 'work dir' && free < 2) { ok = false; detail += ': NVDIMM backing files need space'; }
    } catch (e) {
      ok = false;
      detail = `${dir}: ${(e as Error).message}`;
    }
    add({ name, ok, required: true, detail, fix: name === 'state dir' ? 'set FTH_STATE_DIR to a writable dir' : 'set FTH_WORK_DIR to a dir with free space' });
  }
  return { checks: out, accel };
}

export function formatDoctor(checks: DoctorCheck[]): string {
  return checks.map((c) => `${c.ok ? 'ok     ' : c.required ? 'MISSING' : 'absent '}  ${c.name.padEnd(28)} ${c.detail}${!c.ok && c.fix ? `\n         fix: ${c.fix}` : ''}`).join('\n');
}
