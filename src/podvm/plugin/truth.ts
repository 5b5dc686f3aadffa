// Ground truth for a pod, read by the harness itself: libvirt (which podVMs exist, run, on which
// host, with what size), the guest (CPUs, MemTotal, cgroup files, the kernel's own OOM reports),
// and the checker's independent reference from the raw manifest. Never the planner's numbers.
import type { CheckResult } from '../../results/types.js';
import type { RunContext } from '../../runner/context.js';
import type { CheckPodStep } from './schema.js';
import type { Cluster, PodRecord } from './slice.js';
import { reference } from './reference.js';
import { allocatable } from '../scheduler.js';
import { readStatus } from './steps.js';

interface DomainTruth { key: string; running: boolean; uid?: string; host?: string; vcpus: number; memoryKiB: number; cells: number }

/** Every podVM of the run as libvirt describes it now. */
export async function podVmDomains(ctx: RunContext): Promise<DomainTruth[]> {
  const out: DomainTruth[] = [];
  for (const [key, vm] of ctx.lab.vms) {
    const xml = await vm.liveXml().catch(() => '');
    const desc = /<description>([^<]*)<\/description>/.exec(xml)?.[1] ?? '';
    if (!/ podvm /.test(desc)) continue;
    out.push({
      key, running: await vm.isRunning(),
      uid: /uid=(\S+)/.exec(desc)?.[1], host: /host=(\S+)/.exec(desc)?.[1],
      vcpus: Number(/<vcpu[^>]*>(\d+)<\/vcpu>/.exec(xml)?.[1] ?? 0),
      memoryKiB: Number(/<memory unit='KiB'>(\d+)<\/memory>/.exec(xml)?.[1] ?? 0),
      cells: (xml.match(/<cell id=/g) ?? []).length,
    });
  }
  return out;
}

/** The kernel's OOM-kill reports in the guest: which memcg hit its limit (CONSTRAINT_MEMCG) or
 *  whether the whole guest ran out (CONSTRAINT_NONE). */
export function oomReports(dmesg: string): { constraint: string; memcg?: string; task?: string }[] {
  return [...dmesg.matchAll(/oom-kill:constraint=([A-Z_]+),[^\n]*?(?:oom_memcg=([^,\s]+),)?task_memcg=[^,\s]*,task=([^,\s]+)/g)]
    .map((m) => ({ constraint: m[1], memcg: m[2], task: m[3] }));
}

// MemTotal is RAM minus what the kernel keeps for itself (its image, the unpacked initramfs,
// reserved pages): measured here 361 MiB of 416 and 457 MiB of 512 (11–13 % below).
const MEMTOTAL_SLACK = (mib: number) => 32 + mib * 0.1;

export async function checkPodTruth(ctx: RunContext, r: PodRecord, c: Cluster, s: CheckPodStep): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const name = r.model.name;
  const doms = await podVmDomains(ctx);
  const mine = doms.filter((d) => d.uid === r.model.uid);
  const live = mine.filter((d) => d.running);
  // I1: one live podVM per pod, on the host it is bound to
  out.push({
    name: `pod ${name} runs exactly once`,
    valid: live.length === 1 && live[0].host === r.host,
    message: live.length === 1 ? (live[0].host === r.host ? `one running podVM (${live[0].key}) on ${live[0].host}` : `its running podVM ${live[0].key} is on ${live[0].host}, but the pod is bound to ${r.host}`)
      : `${live.length} running podVMs for uid ${r.model.uid}: ${live.map((d) => `${d.key}@${d.host}`).join(', ') || 'none'}${live.length > 1 ? ' — the pod runs twice' : ''}`,
    evidence: { podVms: mine },
  });
  // I2: every host's bound requests (the reference's, of the pods libvirt runs there) fit it
  const opts = { guestReserveMiB: c.opts.sizing.guestReserve.memoryMiB, defaultMemoryMiB: c.opts.sizing.defaultMemoryMiB, alignMiB: c.opts.sizing.alignMiB };
  const over: string[] = [];
  for (const h of c.hosts) {
    const uids = new Set(doms.filter((d) => d.running && d.host === h.name).map((d) => d.uid));
    const pods = [...(ctx.slices.get('podvm') as { pods: Map<string, PodRecord> }).pods.values()].filter((p) => uids.has(p.model.uid));
    const sum = pods.reduce((a, p) => { const ref = reference(p.model.raw, opts); return { cpu: a.cpu + ref.requests.cpu, memory: a.memory + ref.requests.memory }; }, { cpu: 0n, memory: 0n });
    const a = allocatable(h);
    if (sum.cpu > a.cpu || sum.memory > a.memory) over.push(`${h.name}: requests ${sum.cpu}m / ${sum.memory} B > allocatable ${a.cpu}m / ${a.memory} B`);
  }
  out.push({ name: 'bound requests fit every host', valid: over.length === 0, message: over.length ? over.join('; ') : `Σ requests ≤ allocatable on ${c.hosts.map((h) => h.name).join(', ')}` });
  if (live.length !== 1) return out;
  const dom = live[0];
  const ref = reference(r.model.raw, opts);
  const vm = ctx.lab.vm(dom.key);
  // I3: the VM libvirt runs and what the guest sees
  const g = await vm.agent.sh(`nproc; awk '/MemTotal/{print $2}' /proc/meminfo; cat /sys/devices/system/cpu/online`);
  const [nproc, memTotalKb] = g.trim().split('\n').map(Number);
  const fth = c.opts.policy === 'fth';
  const wantVcpus = fth ? ref.vcpus : r.plan!.size.vcpus;
  const wantMiB = fth ? ref.memoryMiB : r.plan!.size.memoryMiB;
  out.push({
    name: `podVM of ${name} is sized as the reference says`,
    valid: dom.vcpus === wantVcpus && dom.memoryKiB === wantMiB * 1024 && nproc === wantVcpus && memTotalKb <= wantMiB * 1024 && memTotalKb >= (wantMiB - MEMTOTAL_SLACK(wantMiB)) * 1024,
    message: `libvirt ${dom.vcpus} vCPU / ${dom.memoryKiB / 1024} MiB, guest nproc ${nproc} / MemTotal ${(memTotalKb / 1024).toFixed(0)} MiB; ${fth ? 'reference' : `policy ${c.opts.policy} (its size is not re-derived independently)`} ${wantVcpus} vCPU / ${wantMiB} MiB`,
    evidence: { libvirt: dom, guest: { nproc, memTotalKb }, reference: { vcpus: wantVcpus, memoryMiB: wantMiB } },
  });
  // I4: cgroup files in the guest against kubelet's formulas on the raw manifest
  const st = await readStatus(ctx, dom.key);
  const base = `/sys/fs/cgroup/kubepods/pod${r.model.uid}`;
  const running = (st?.containers ?? []).filter((x) => x.state === 'running').map((x) => x.name);
  // A container's limits live in the cgroup its processes are in (the runtime may nest it below
  // the container's own dir): found by cgroup.procs, not by the runner's bookkeeping.
  const files = await vm.agent.sh([
    `leaf() { for d in $(find "$1" -type d); do [ -n "$(cat "$d/cgroup.procs" 2>/dev/null)" ] && echo "$d"; done | tail -1; }`,
    `show() { for f in cpu.max cpu.weight memory.max; do printf '%s %s %s\\n' "$1" "$f" "$(cat "$2/$f" 2>/dev/null || echo MISSING)"; done; }`,
    `show ${base} ${base}`,
    ...running.map((n) => `l=$(leaf ${base}/${n}); show ${base}/${n} "\${l:-${base}/${n}/NONE}"; echo "leaf ${base}/${n} \${l:-NONE}"`),
  ].join('\n'));
  const seen = new Map<string, string>();
  for (const line of files.trim().split('\n')) { const [d, f, ...v] = line.split(' '); if (d === 'leaf') seen.set(`${f}/(leaf)`, v.join(' ')); else seen.set(`${d}/${f}`, v.join(' ')); }
  const bad: string[] = [];
  const want = (dir: string, exp: { cpuMax: string; cpuWeight: string; memoryMax: string }) => {
    for (const [f, v] of [['cpu.max', exp.cpuMax], ['cpu.weight', exp.cpuWeight], ['memory.max', exp.memoryMax]] as const) {
      const got = seen.get(`${dir}/${f}`);
      if (got !== v) bad.push(`${dir.replace(base, 'pod')}/${f} = ${got}, reference ${v}`);
    }
  };
  want(base, ref.pod);
  for (const n of running) want(`${base}/${n}`, ref.containers[n]);
  const appsRunning = r.model.containers.filter((x) => x.kind !== 'init').every((x) => running.includes(x.name) || st?.containers.find((y) => y.name === x.name)?.state === 'terminated');
  out.push({
    name: `cgroups of ${name} match the reference`,
    valid: bad.length === 0 && running.length > 0 && appsRunning,
    message: bad.length ? bad.join('; ') : `pod cgroup and ${running.length} running container(s) (${running.join(', ')}) as kubelet's formulas give from the manifest${appsRunning ? '' : '; but not every long-running container was started'}`,
    evidence: { files: Object.fromEntries(seen), reference: ref.containers, pod: ref.pod, status: st ?? null },
  });
  // Init containers ran to completion before the apps started (the runner's times, checked for order)
  const inits = r.model.containers.filter((x) => x.kind === 'init').map((x) => st?.containers.find((y) => y.name === x.name));
  const firstApp = Math.min(...r.model.containers.filter((x) => x.kind === 'app').map((x) => Date.parse(st?.containers.find((y) => y.name === x.name)?.startedAt ?? '') || Infinity));
  if (inits.length) {
    const okInit = inits.every((x) => x?.state === 'terminated' && x.exitCode === 0 && Date.parse(x.finishedAt ?? '') <= firstApp);
    out.push({ name: `init containers of ${name} completed before its apps`, valid: okInit, message: inits.map((x) => `${x?.name ?? '?'}: ${x?.state ?? 'no status'}${x?.exitCode !== undefined ? ` exit ${x.exitCode}` : ''}`).join(', '), evidence: { containers: st?.containers ?? [] } });
  }
  // OOM attribution: the guest kernel's reports name the cgroup that hit its limit
  const dmesg = await vm.agent.sh('dmesg');
  const ooms = oomReports(dmesg);
  const podPrefix = `/kubepods/pod${r.model.uid}/`;
  // the container is the first level below the pod cgroup, whatever the runtime nests below it
  const byContainer = new Set(ooms.filter((o) => o.constraint === 'CONSTRAINT_MEMCG' && o.memcg?.startsWith(podPrefix)).map((o) => o.memcg!.slice(podPrefix.length).split('/')[0]));
  const podOoms = ooms.filter((o) => o.constraint === 'CONSTRAINT_MEMCG' && o.memcg === podPrefix.slice(0, -1));
  const guestOoms = ooms.filter((o) => o.constraint === 'CONSTRAINT_NONE');
  const reported = new Set((st?.containers ?? []).filter((x) => x.reason === 'OOMKilled').map((x) => x.name));
  const expected = new Set(s.oomKilled ?? []);
  const eq = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));
  out.push({
    name: `OOM kills of ${name} attributed to their layer`,
    valid: eq(byContainer, expected) && eq(reported, byContainer) && guestOoms.length === 0 && podOoms.length === 0,
    message: `kernel: container-cgroup OOM in [${[...byContainer].join(', ')}], pod-cgroup OOM ${podOoms.length}, guest-wide OOM ${guestOoms.length}; runner reports OOMKilled [${[...reported].join(', ')}]; expected [${[...expected].join(', ')}]`,
    evidence: { ooms, reported: [...reported] },
  });
  return out;
}
