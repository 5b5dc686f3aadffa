// Semantic rules of scenario files: everything the schema cannot say. Indices and sizes against
// each other, host files that must exist, and a static walk over the steps that tracks, per VM,
// whether it is running and which HA agent runs in it, so that a step needing something no
// earlier step provides is refused before anything starts. Every problem names the field (the
// caller adds file and line) and says what is wrong and what would be right.
import { dirname, resolve } from 'node:path';
import { parsePauseAt, pauseLabel, PRIMARY_PAUSE_POINTS, STANDBY_PAUSE_POINTS } from '../pmem-ha/pause.js';
import { MEMORY_SLOTS } from '../vm/spec.js';
import type { ScenarioFile, Step } from './schema.js';
import { KiB, MiB, showSize, sizeBytes } from './size.js';

export interface RawProblem { path: (string | number)[]; message: string }

export interface RuleOptions {
  /** Checks a host file the scenario names (absolute path): undefined when it is usable, else
   *  what is wrong ("does not exist"). Not given: host files are not looked at (pure parsing). */
  checkFile?: (absPath: string) => string | undefined;
}

/** Smallest guest RAM: the guest kernel, its init and the agents need it. */
export const MIN_MEMORY_MIB = 64;
/** QEMU refuses a smaller NVDIMM label area (label-size). */
export const MIN_LABEL_BYTES = 128 * KiB;
/** The HA agent reads and writes the region in chunks of whole pages. */
export const CHUNK_ALIGN = 4096;
/** O_DIRECT I/O on /dev/pmemN works in whole blocks. */
const BLOCK = 4096;

/** Steps that talk to the object store. */
export const STORE_STEPS: ReadonlySet<string> = new Set(['ha-agent', 'store-outage', 'corrupt-chunk', 'check-ha', 'holdup-sweep']);

/** Where `image.disk` is looked for: relative paths are relative to the scenario file. */
export function resolveDisk(file: string, disk: string): string {
  return resolve(dirname(file), disk);
}

type Path = (string | number)[];
const quoted = (xs: readonly string[]) => xs.map((x) => `"${x}"`).join(', ');
const cellsOf = (n: number) => (n === 0 ? 'no NUMA cells' : n === 1 ? 'only cell 0' : `cells 0..${n - 1}`);
const nvdimmsOf = (n: number) => (n === 0 ? 'no NVDIMMs' : n === 1 ? 'only NVDIMM 0' : `NVDIMMs 0..${n - 1}`);

/** Why `text` is not a pause point of `role` (undefined when it is one, written as the agent
 *  reports it: power-cut-at compares the labels exactly). */
export function pauseProblem(text: string, role: 'primary' | 'standby'): string | undefined {
  try {
    const label = pauseLabel(parsePauseAt(text, role));
    return label === text ? undefined : `write it as "${label}": the agent reports that label, and power-cut-at matches it exactly`;
  } catch (e) {
    const other = role === 'primary' ? 'standby' : 'primary';
    const point = text.split(':')[0];
    const otherPoints: readonly string[] = role === 'primary' ? STANDBY_PAUSE_POINTS : PRIMARY_PAUSE_POINTS;
    const hint = otherPoints.includes(point) ? ` ("${point}" is a ${other} phase)` : '';
    return `${(e as Error).message.replace(/^--pause-at /, '')}${hint}`;
  }
}

// ---------------------------------------------------------------- VMs: sizes, indices, links

function vmRules(s: ScenarioFile, out: RawProblem[]): void {
  const names = s.vms.map((v) => v.name);
  const first = new Map<string, number>();
  s.vms.forEach((vm, i) => {
    const bad = (p: Path, message: string) => out.push({ path: ['vms', i, ...p], message });
    if (first.has(vm.name)) bad(['name'], `duplicate VM name "${vm.name}" (already vms[${first.get(vm.name)}])`);
    else first.set(vm.name, i);

    const mem = sizeBytes(vm.memory);
    if (mem % MiB) bad(['memory'], `must be a whole number of MiB (${showSize(mem)} is not)`);
    else if (mem < MIN_MEMORY_MIB * MiB) bad(['memory'], `must be at least ${MIN_MEMORY_MIB}MiB, got ${showSize(mem)}: the guest kernel and its agents need it`);

    const cells = vm.numa ?? [];
    const cpuSeen = new Set<number>();
    cells.forEach((c, ci) => c.cpus.forEach((cpu, k) => {
      if (cpu >= vm.vcpus) bad(['numa', ci, 'cpus', k], `vCPU ${cpu} does not exist (vcpus is ${vm.vcpus}: ids 0..${vm.vcpus - 1})`);
      if (cpuSeen.has(cpu)) bad(['numa', ci, 'cpus', k], `vCPU ${cpu} is already in another cell`);
      cpuSeen.add(cpu);
    }));
    cells.forEach((c, ci) => {
      const b = sizeBytes(c.memory);
      if (b === 0) bad(['numa', ci, 'memory'], 'must be more than 0: every NUMA cell needs memory');
      else if (b % MiB) bad(['numa', ci, 'memory'], `must be a whole number of MiB (${showSize(b)} is not)`);
      if (c.distances && c.distances.length !== cells.length) bad(['numa', ci, 'distances'], `needs ${cells.length} entries, one per cell (has ${c.distances.length})`);
      if (c.distances && c.distances[ci] !== undefined && c.distances[ci] !== 10) bad(['numa', ci, 'distances', ci], 'distance of a cell to itself must be 10');
    });
    if (cells.length) {
      const sum = cells.reduce((a, c) => a + sizeBytes(c.memory), 0);
      if (sum !== mem) bad(['numa'], `cells add up to ${sum / MiB} MiB but memory is ${mem / MiB} MiB`);
    }

    const hmat = vm.hmat ?? [];
    if (hmat.length && !cells.length) bad(['hmat'], 'HMAT entries describe NUMA cells: add "numa" (or remove "hmat")');
    const given = new Map<string, number>();
    hmat.forEach((h, hi) => {
      for (const f of ['initiator', 'target'] as const) {
        if (cells.length && h[f] >= cells.length) bad(['hmat', hi, f], `no NUMA cell ${h[f]}: the VM has ${cellsOf(cells.length)}`);
      }
      if (h.latency === undefined && h.bandwidth === undefined) bad(['hmat', hi], 'needs latency (ns) or bandwidth (MiB/s), or both: an entry with neither says nothing');
      for (const m of ['latency', 'bandwidth'] as const) {
        if (h[m] === undefined) continue;
        const key = `${m} ${h.initiator} ${h.target} ${h.type}`;
        // libvirt 9.0 takes a link as undirected: 0→1 and 1→0 of one kind is "Link already defined".
        const back = `${m} ${h.target} ${h.initiator} ${h.type}`;
        if (given.has(key)) bad(['hmat', hi, m], `duplicate ${m} for initiator ${h.initiator} → target ${h.target} (${h.type}): hmat[${given.get(key)}] already gives it`);
        else if (h.initiator !== h.target && given.has(back)) bad(['hmat', hi, m], `${m} ${h.initiator} → ${h.target} (${h.type}) and hmat[${given.get(back)}]'s ${h.target} → ${h.initiator}: libvirt refuses both directions of one link ("Link already defined"); give one of them`);
        else given.set(key, hi);
      }
    });

    const nvs = vm.nvdimms ?? [];
    if (nvs.length > MEMORY_SLOTS) bad(['nvdimms'], `at most ${MEMORY_SLOTS} NVDIMMs (the memory hot-plug slots of a VM), got ${nvs.length}`);
    nvs.forEach((n, ni) => {
      const b = sizeBytes(n.size);
      if (b % MiB || b < 2 * MiB) bad(['nvdimms', ni, 'size'], `must be a whole number of MiB, at least 2MiB (got ${showSize(b)})`);
      if (!cells.length) bad(['nvdimms', ni], 'an NVDIMM needs guest NUMA cells (add "numa")');
      else if (n.node >= cells.length) bad(['nvdimms', ni, 'node'], `no NUMA cell ${n.node}: the VM has ${cellsOf(cells.length)}`);
      const l = n.label === undefined ? 0 : sizeBytes(n.label);
      if (l !== 0) {
        if (l < MIN_LABEL_BYTES) bad(['nvdimms', ni, 'label'], `must be 0 (no label area) or at least 128KiB, QEMU's minimum label area (got ${showSize(l)})`);
        else if (l % (4 * KiB)) bad(['nvdimms', ni, 'label'], `must be a multiple of 4KiB (got ${showSize(l)})`);
        if (l >= b) bad(['nvdimms', ni, 'label'], `must be smaller than the NVDIMM: a ${showSize(l)} label area does not leave room in a ${showSize(b)} NVDIMM`);
      }
    });

    if (vm.maxMemory !== undefined) {
      const max = sizeBytes(vm.maxMemory);
      const nvTotal = nvs.reduce((a, n) => a + sizeBytes(n.size), 0);
      const need = mem + nvTotal;
      const needText = nvs.length ? `memory ${showSize(mem)} + NVDIMMs ${showSize(nvTotal)} = ${showSize(need)}` : `memory ${showSize(mem)}`;
      if (max % MiB) bad(['maxMemory'], `must be a whole number of MiB (${showSize(max)} is not)`);
      else if (max < need) bad(['maxMemory'], `${showSize(max)} is less than ${needText}: make it at least ${showSize(need)}, or leave it out (the default is memory + NVDIMMs)`);
      else if (max > need && !cells.length) bad(['maxMemory'], `${showSize(max)} is more than ${needText}, which needs guest NUMA cells (libvirt reserves hot-plug memory only with NUMA): add "numa", or leave maxMemory out`);
    }

    const linked = new Map<string, number>();
    (vm.nics ?? []).forEach((n, ni) => {
      if (typeof n !== 'object') return;
      const p: Path = ['nics', ni, 'link'];
      if (n.link === vm.name) return bad(p, `VM "${vm.name}" cannot link to itself: name another VM of the scenario`);
      const peer = s.vms.find((v) => v.name === n.link);
      if (!peer) return bad(p, `no VM named "${n.link}" (the VMs are ${quoted(names)})`);
      if (linked.has(n.link)) return bad(p, `a second link to "${n.link}" (nics[${linked.get(n.link)}] already links to it): one link per pair of VMs`);
      linked.set(n.link, ni);
      if (!(peer.nics ?? []).some((m) => typeof m === 'object' && m.link === vm.name)) {
        bad(p, `VM "${n.link}" has no link back to "${vm.name}": add { link: ${vm.name} } to the nics of "${n.link}" (a link has two ends)`);
      }
    });
  });
}

function imageRules(s: ScenarioFile, file: string, opts: RuleOptions, out: RawProblem[]): void {
  if (!s.image || !opts.checkFile || !s.image.disk) return;
  const abs = resolveDisk(file, s.image.disk);
  const why = opts.checkFile(abs);
  if (why) {
    const rel = abs !== s.image.disk ? ' (a relative path is relative to the scenario file\'s directory)' : '';
    out.push({ path: ['image', 'disk'], message: `image file ${abs} ${why}${rel}: name an existing, readable qcow2/raw image` });
  }
}

// ---------------------------------------------------------------- steps: the static walk

interface Agent {
  role: 'primary' | 'standby';
  pauseAt?: string;
  /** the ha-agent step */
  at: number;
  /** the first ac-loss sent to it (a primary saves only after one) */
  acLossAt?: number;
}

interface VmState {
  on: boolean;
  bootedAt?: number;
  /** the step that cut its power last */
  off?: number;
  /** an ac-loss whose cut comes when the hold-up ends; `waited` = ms of sleep since */
  pending?: { at: number; holdup: number; waited: number };
  /** an ac-loss with cut: false not restored yet */
  acOpen?: number;
  agent?: Agent;
  /** a "not running" problem was reported for the current off period (say it once) */
  complained?: boolean;
  /** the last ha-agent step of each role on this VM, over the whole run */
  ever: { primary?: number; standby?: number };
}

function stepRules(s: ScenarioFile, out: RawProblem[]): void {
  const vms = new Map<string, ScenarioFile['vms'][number]>();
  for (const v of s.vms) if (!vms.has(v.name)) vms.set(v.name, v);
  const names = [...vms.keys()];
  const state = new Map<string, VmState>(names.map((n) => [n, { on: false, ever: {} }]));
  const patterns = new Map<string, { vm: string; nvdimm: number; at: number }>();
  const snapshots = new Map<string, number>();
  /** the first step that makes the primary save (an ac-loss to it, a hold-up sweep) */
  let saveAt: number | undefined;
  const ref = (j: number) => `steps[${j}] (${s.steps[j].do})`;

  s.steps.forEach((st: Step, i) => {
    const bad = (field: string | Path, message: string) => out.push({ path: ['steps', i, ...(typeof field === 'string' ? [field] : field)], message });
    if (STORE_STEPS.has(st.do) && !s.store) bad('do', `step "${st.do}" needs an object store: add "store: auto" to the scenario`);

    let unknownVm = false;
    for (const f of ['vm', 'primary', 'standby', 'peer'] as const) {
      const v = (st as Record<string, unknown>)[f];
      if (typeof v === 'string' && !vms.has(v)) {
        bad(f, `no VM named "${v}" (the VMs are ${quoted(names)})`);
        // an unknown peer does not change what the step does to its own VM
        if (f !== 'peer') unknownVm = true;
      }
    }
    if (unknownVm) return;

    const vmOf = (n: string) => vms.get(n)!;
    const S = (n: string) => state.get(n)!;
    const nvdimms = (n: string) => vmOf(n).nvdimms ?? [];
    const notRunning = (n: string, v: VmState) =>
      v.pending ? `VM "${n}" is not running here: ${ref(v.pending.at)} cuts its power when its ${v.pending.holdup} ms hold-up ends (from then on only power-cut-at on it, host-side steps and steps on other VMs may come until it boots again; for an AC cycle use "cut: false")`
        : v.off !== undefined ? `VM "${n}" is not running here: boot it first (it was cut at ${ref(v.off)})`
          : `VM "${n}" is not running here: boot it first (no earlier boot step)`;
    /** The VM must be running; says so once per off period. */
    const needOn = (n: string, field = 'vm'): boolean => {
      const v = S(n);
      if (v.on) return true;
      if (!v.complained) bad(field, `${st.do}: ${notRunning(n, v)}`);
      v.complained = true;
      return false;
    };
    const cutNow = (n: string) => Object.assign(S(n), { on: false, off: i, pending: undefined, acOpen: undefined, agent: undefined, complained: false });
    const needNvdimm = (n: string, idx: number, field: string): boolean => {
      if (nvdimms(n)[idx]) return true;
      bad(field, `VM "${n}" has no NVDIMM ${idx} (it has ${nvdimmsOf(nvdimms(n).length)})`);
      return false;
    };

    switch (st.do) {
      case 'boot': {
        const v = S(st.vm);
        if (v.on) bad('vm', `VM "${st.vm}" is already running (booted at ${ref(v.bootedAt!)}): a booted VM cannot boot again; power-cut it first`);
        else if (v.pending && v.pending.waited < v.pending.holdup) {
          bad('vm', `VM "${st.vm}" may still be running: ${ref(v.pending.at)} cuts its power only when its ${v.pending.holdup} ms hold-up ends${v.pending.waited ? `, and only ${v.pending.waited} ms of sleep follow it` : ''}; wait for the cut first (a check-ha, which waits for it, or sleeps adding up to the hold-up)`);
        }
        Object.assign(v, { on: true, bootedAt: i, off: undefined, pending: undefined, acOpen: undefined, agent: undefined, complained: false });
        break;
      }
      case 'power-cut':
        needOn(st.vm);
        cutNow(st.vm);
        break;
      case 'exec': case 'spawn': case 'check-topology':
        needOn(st.vm);
        break;
      case 'net-cut': case 'net-restore': {
        needOn(st.vm);
        const nics = vmOf(st.vm).nics ?? ['user'];
        const kinds = nics.map((n) => (typeof n === 'object' ? `link to "${n.link}"` : 'user'));
        const has = st.nic === 'all' ? nics.length > 0 : nics.some((n) => (st.nic === 'link' ? typeof n === 'object' : n === 'user'));
        if (!has) {
          bad('nic', st.nic === 'all' ? `VM "${st.vm}" has no NICs (nics: [])`
            : `VM "${st.vm}" has no ${st.nic === 'link' ? 'link NIC ({ link: other-vm })' : 'user NIC ("user")'}; its NICs: ${kinds.join(', ') || 'none'}`);
        }
        break;
      }
      case 'pmem-write': {
        needOn(st.vm);
        const idx = st.nvdimm ?? 0;
        const offset = sizeBytes(st.offset ?? 0);
        const length = sizeBytes(st.length);
        if (offset % BLOCK) bad('offset', `must be a multiple of 4096 (O_DIRECT writes whole blocks), got ${offset}`);
        if (length % BLOCK || length === 0) bad('length', `must be a non-zero multiple of 4096 (O_DIRECT writes whole blocks), got ${length}`);
        if (needNvdimm(st.vm, idx, st.nvdimm === undefined ? 'vm' : 'nvdimm')) {
          const nv = nvdimms(st.vm)[idx];
          const size = sizeBytes(nv.size);
          const label = nv.label === undefined ? 0 : sizeBytes(nv.label);
          const usable = size - label;
          if (offset + length > usable) {
            bad('length', `offset + length = ${showSize(offset + length)} is beyond NVDIMM ${idx} of "${st.vm}", which holds ${showSize(usable)}${label ? ` (${showSize(size)} minus its ${showSize(label)} label area)` : ''}`);
          }
        }
        patterns.set(st.pattern, { vm: st.vm, nvdimm: idx, at: i });
        break;
      }
      case 'check-pmem': case 'check-backing-file': {
        if (st.do === 'check-pmem') needOn(st.vm);
        const p = patterns.get(st.pattern);
        if (!p) {
          const later = s.steps.findIndex((x, j) => j > i && x.do === 'pmem-write' && x.pattern === st.pattern);
          bad('pattern', snapshots.has(st.pattern)
            ? `"${st.pattern}" is the name of a snapshot-pmem (${ref(snapshots.get(st.pattern)!)}), not of a pattern: ${st.do} checks a pattern written by an earlier pmem-write step`
            : `pattern "${st.pattern}" is not written by an earlier pmem-write step${later >= 0 ? ` (${ref(later)} writes it, after this step)` : ''}`);
        } else if (!nvdimms(p.vm)[p.nvdimm]) {
          // already reported at the pmem-write
        } else if (!nvdimms(st.vm)[p.nvdimm]) {
          bad('pattern', `pattern "${st.pattern}" was written to NVDIMM ${p.nvdimm} of "${p.vm}" (${ref(p.at)}), but VM "${st.vm}" has no NVDIMM ${p.nvdimm} (it has ${nvdimmsOf(nvdimms(st.vm).length)})`);
        }
        break;
      }
      case 'snapshot-pmem':
        needNvdimm(st.vm, st.nvdimm ?? 0, st.nvdimm === undefined ? 'vm' : 'nvdimm');
        snapshots.set(st.as, i);
        break;
      case 'host-check': {
        for (const m of st.cmd.matchAll(/\$\{(backing|ctl):([^}]*)\}/g)) {
          if (m[1] === 'ctl') {
            if (!/^[a-z][a-z0-9-]*$/.test(m[2])) bad('cmd', `"${m[0]}" is not of the form \${ctl:VM}`);
            else if (!vms.has(m[2])) bad('cmd', `"${m[0]}": no VM named "${m[2]}" (the VMs are ${quoted(names)})`);
            continue;
          }
          const b = /^([a-z][a-z0-9-]*):(\d+)$/.exec(m[2]);
          if (!b) bad('cmd', `"${m[0]}" is not of the form \${backing:VM:N} (N = NVDIMM index)`);
          else if (!vms.has(b[1])) bad('cmd', `"${m[0]}": no VM named "${b[1]}" (the VMs are ${quoted(names)})`);
          else if (!nvdimms(b[1])[Number(b[2])]) bad('cmd', `"${m[0]}": VM "${b[1]}" has no NVDIMM ${b[2]} (it has ${nvdimmsOf(nvdimms(b[1]).length)})`);
        }
        break;
      }
      case 'sleep':
        for (const v of state.values()) if (v.pending) v.pending.waited += st.ms;
        break;
      case 'store-outage':
        if (st.wait) for (const v of state.values()) if (v.pending) v.pending.waited += st.ms;
        break;
      case 'ha-agent': {
        const nvs = nvdimms(st.vm);
        if (st.peer !== undefined) {
          if (st.peer === st.vm) bad('peer', `the peer is the other VM of the pair: "${st.vm}" cannot be its own peer`);
          else if (st.role === 'standby') bad('peer', 'only a primary names a peer (the standby it signals); a standby listens on its own link: remove "peer"');
        }
        if (!nvs.length) bad('vm', `VM "${st.vm}" has no NVDIMM: the HA agent protects NVDIMM 0 (/dev/nvdimm0)`);
        else if (st.role === 'standby' && nvs.length < 2) bad('vm', `a standby needs 2 NVDIMMs: NVDIMM 0 to restore into and NVDIMM 1 for its restore journal, and VM "${st.vm}" has 1`);
        if (st.chunk !== undefined) {
          const c = sizeBytes(st.chunk);
          if (c === 0 || c % CHUNK_ALIGN) bad('chunk', `must be a non-zero multiple of ${CHUNK_ALIGN} bytes, got ${showSize(c)}`);
          else if (nvs.length && c > sizeBytes(nvs[0].size)) bad('chunk', `${showSize(c)} is larger than NVDIMM 0 of "${st.vm}" (${showSize(sizeBytes(nvs[0].size))}), the region it is a piece of`);
        }
        if (st.pauseAt !== undefined) {
          const why = pauseProblem(st.pauseAt, st.role);
          if (why) bad('pauseAt', why);
        }
        const v = S(st.vm);
        if (needOn(st.vm) && v.agent) bad('vm', `an HA agent (${v.agent.role}, ${ref(v.agent.at)}) already runs in VM "${st.vm}": one agent per VM; power-cut and boot the VM before starting another`);
        v.agent = { role: st.role, pauseAt: st.pauseAt, at: i };
        v.ever[st.role] = i;
        break;
      }
      case 'ac-loss': {
        const v = S(st.vm);
        if (needOn(st.vm)) {
          if (v.acOpen !== undefined) bad('vm', `AC is already lost on "${st.vm}" since ${ref(v.acOpen)} (cut: false): ac-restore it before another ac-loss`);
          if (!v.agent) bad('vm', `ac-loss needs a primary HA agent in VM "${st.vm}" to receive the notice: start one first ({ do: ha-agent, vm: ${st.vm}, role: primary }${v.bootedAt !== undefined ? ` after ${ref(v.bootedAt)}` : ''})`);
          else if (v.agent.role !== 'primary') bad('vm', `the HA agent in "${st.vm}" (${ref(v.agent.at)}) is a standby: an AC-loss notice goes to a primary`);
        }
        if (v.agent) v.agent.acLossAt ??= i;
        if (v.agent?.role === 'primary') saveAt ??= i;
        if (st.cut === false) v.acOpen = i;
        else Object.assign(v, { on: false, pending: { at: i, holdup: st.holdup, waited: 0 }, acOpen: undefined, complained: false });
        break;
      }
      case 'ac-restore': {
        const v = S(st.vm);
        if (v.acOpen === undefined) {
          bad('vm', v.pending
            ? `${ref(v.pending.at)} cuts the power of "${st.vm}" when its hold-up ends (its cut is not false): there is no AC cycle to end; give that ac-loss "cut: false" for an AC cycle`
            : `no AC loss to end on "${st.vm}": ac-restore needs an earlier ac-loss with cut: false on it, not restored yet`);
        }
        v.acOpen = undefined;
        break;
      }
      case 'power-cut-at': {
        const v = S(st.vm);
        if (!v.on && !v.pending) needOn(st.vm);
        else if (!v.agent) {
          bad('vm', `power-cut-at needs an HA agent in VM "${st.vm}" started with pauseAt: "${st.phase}"${v.bootedAt !== undefined ? ` after its boot at ${ref(v.bootedAt)}` : ''}, and none runs there`);
        } else {
          const a = v.agent;
          const why = pauseProblem(st.phase, a.role);
          if (why) bad('phase', `${why}; the agent in "${st.vm}" (${ref(a.at)}) is a ${a.role}`);
          else if (a.pauseAt === undefined) bad('phase', `the ${a.role} agent of ${ref(a.at)} has no pauseAt, so it never pauses and this step would wait until its timeout: add pauseAt: "${st.phase}" to it`);
          else if (a.pauseAt !== st.phase) bad('phase', `the ${a.role} agent of ${ref(a.at)} pauses at "${a.pauseAt}", not at "${st.phase}": make the two the same`);
          else if (a.role === 'primary' && a.acLossAt === undefined) bad('vm', `a primary pauses only during a save, and no ac-loss on "${st.vm}" after ${ref(a.at)} starts one: add an ac-loss (cut: false) before this step`);
        }
        cutNow(st.vm);
        break;
      }
      case 'wait-ha': {
        const v = S(st.vm);
        const want = st.until === 'save-ended' ? 'primary' : 'standby';
        if (st.settle !== undefined && st.until !== 'settled') bad('settle', `only applies to until: settled (this step waits for ${st.until}): remove it`);
        // A primary's save ends within its hold-up, before the cut; its status is read on the host.
        if (!(st.until === 'save-ended' && v.pending) && !needOn(st.vm)) break;
        if (!v.agent) bad('until', `"${st.until}" is a state of a ${want} HA agent, and none runs in VM "${st.vm}": start one first ({ do: ha-agent, vm: ${st.vm}, role: ${want} })`);
        else if (v.agent.role !== want) {
          bad('until', `"${st.until}" is a state of a ${want}, but the agent in "${st.vm}" (${ref(v.agent.at)}) is a ${v.agent.role}: wait for ${want === 'primary' ? 'holds-new or settled' : 'save-ended'} here, or for "${st.until}" on the ${want}`);
        } else if (want === 'primary' && v.agent.acLossAt === undefined) {
          bad('until', `no save can end: no ac-loss on "${st.vm}" after its agent started at ${ref(v.agent.at)}; add an ac-loss before this step`);
        }
        break;
      }
      case 'corrupt-chunk': {
        const primaries = [...state.values()].some((v) => v.ever.primary !== undefined);
        if (!primaries) bad('do', 'corrupt-chunk damages a generation a primary saved, and no ha-agent with role primary comes before it: start one and make it save (ac-loss) first');
        else if (saveAt === undefined) bad('do', 'corrupt-chunk damages the newest committed generation, and nothing saves one before it: add an ac-loss on the primary first');
        break;
      }
      case 'check-ha': {
        if (st.primary === st.standby) {
          bad('standby', `primary and standby must be two different VMs (both are "${st.primary}")`);
          break;
        }
        if (S(st.primary).ever.primary === undefined) bad('primary', `no ha-agent with role primary in VM "${st.primary}" before this step: check-ha judges the generations its saves made`);
        if (st.previous !== undefined) {
          if (!snapshots.has(st.previous)) {
            bad('previous', `no earlier snapshot-pmem named "${st.previous}"${patterns.has(st.previous) ? ` ("${st.previous}" is a pmem-write pattern, not a snapshot)` : ''}: add { do: snapshot-pmem, vm: ${st.standby}, as: ${st.previous} } before this step`);
          }
        } else if (S(st.standby).ever.standby === undefined) {
          bad('standby', `no "previous" content of "${st.standby}" to judge against: start its ha-agent (role standby) before this step (it records the content), or name a snapshot-pmem in "previous"`);
        }
        // check-ha waits for pending hold-up cuts: after it, those VMs are off.
        for (const v of state.values()) if (v.pending) Object.assign(v, { off: v.pending.at, pending: undefined, agent: undefined });
        break;
      }
      case 'holdup-sweep': {
        if (st.primary === st.standby) {
          bad('standby', `primary and standby must be two different VMs (both are "${st.primary}")`);
          break;
        }
        if (st.lo >= st.hi) bad('lo', `must be below hi (lo ${st.lo} ms, hi ${st.hi} ms): the search runs from a too-short to a long-enough hold-up`);
        else if (st.resolution !== undefined && st.resolution > st.hi - st.lo) {
          bad('resolution', `${st.resolution} ms is more than hi - lo = ${st.hi - st.lo} ms: the search would stop before its first step; make it at most ${st.hi - st.lo}`);
        }
        for (const [field, role] of [['primary', 'primary'], ['standby', 'standby']] as const) {
          const n = st[field];
          const v = S(n);
          if (!needOn(n, field)) continue;
          if (!v.agent || v.agent.role !== role) {
            bad(field, `holdup-sweep needs a ${role} HA agent running in "${n}"${v.agent ? `, and the one of ${ref(v.agent.at)} is a ${v.agent.role}` : ''}: start one first ({ do: ha-agent, vm: ${n}, role: ${role} })`);
          } else if (v.agent.pauseAt !== undefined) {
            bad(field, `the ${role} agent of ${ref(v.agent.at)} pauses at "${v.agent.pauseAt}", so the probes would stop there: start it without pauseAt`);
          }
        }
        if (S(st.primary).agent?.role === 'primary') saveAt ??= i;
        // Every probe ends with a power cut of the primary.
        cutNow(st.primary);
        break;
      }
    }
  });
}

/** Every semantic problem of a schema-valid scenario (empty = fine). */
export function semanticProblems(s: ScenarioFile, file: string, opts: RuleOptions = {}): RawProblem[] {
  const out: RawProblem[] = [];
  vmRules(s, out);
  imageRules(s, file, opts, out);
  stepRules(s, out);
  return out;
}
