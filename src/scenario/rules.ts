// Semantic rules of scenario files: everything the schema cannot say. Indices and sizes against
// each other, host files that must exist, and a static walk over the steps that tracks, per VM,
// whether it is running and which HA agent runs in it, so that a step needing something no
// earlier step provides is refused before anything starts. Every problem names the field (the
// caller adds file and line) and says what is wrong and what would be right.
import { dirname, resolve } from 'node:path';
import { MEMORY_SLOTS } from '../vm/spec.js';
import type { CoreStep, ParallelStep, ScenarioFile, Step } from './schema.js';
import type { Path, WalkApi, WalkVm } from './walk.js';
import { sutStep } from '../sut/registry.js';
import { scheduleProblems } from '../runner/schedule.js';
import { KiB, MiB, showSize, sizeBytes } from '../shared/size.js';

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
/** O_DIRECT I/O on /dev/pmemN works in whole blocks. */
const BLOCK = 4096;

/** Where `image.disk` is looked for: relative paths are relative to the scenario file. */
export function resolveDisk(file: string, disk: string): string {
  return resolve(dirname(file), disk);
}

export const quoted = (xs: readonly string[]) => xs.map((x) => `"${x}"`).join(', ');
const cellsOf = (n: number) => (n === 0 ? 'no NUMA cells' : n === 1 ? 'only cell 0' : `cells 0..${n - 1}`);
export const nvdimmsOf = (n: number) => (n === 0 ? 'no NVDIMMs' : n === 1 ? 'only NVDIMM 0' : `NVDIMMs 0..${n - 1}`);

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
    const bound = cells.filter((c) => c.hostNode !== undefined);
    if (bound.length && bound.length < cells.length) {
      bad(['numa', cells.findIndex((c) => c.hostNode === undefined), 'hostNode'], 'bind every cell of the VM to a host node, or none: a half-bound guest topology is neither emulated nor physical');
    }
    cells.forEach((c, ci) => {
      const j = cells.findIndex((x) => x.hostNode !== undefined && x.hostNode === c.hostNode);
      if (c.hostNode !== undefined && j < ci) bad(['numa', ci, 'hostNode'], `host node ${c.hostNode} is already numa[${j}]'s: each guest cell needs its own host node, or the guest's NUMA is not the host's`);
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

interface VmState extends WalkVm {
  /** a "not running" problem was reported for the current off period (say it once) */
  complained?: boolean;
  /** each SUT's state on this VM, cleared when the VM boots or is cut */
  suts: Map<string, Record<string, any>>;
}

/** A step (or one of a parallel group) that defines VMs of its own at run time (StepDef.createsVms). */
const createsVms = (st: Step): boolean => (st.do === 'parallel' ? (st as ParallelStep).parallel.some(createsVms) : !!sutStep(st.do)?.def.createsVms);

/** Fields of a step that name VMs of the scenario. */
function vmFieldsOf(st: Step): readonly string[] {
  return sutStep(st.do)?.def.vmFields ?? ['vm'];
}

function stepRules(s: ScenarioFile, file: string, readsFiles: boolean, out: RawProblem[]): void {
  const vms = new Map<string, ScenarioFile['vms'][number]>();
  for (const v of s.vms) if (!vms.has(v.name)) vms.set(v.name, v);
  const names = [...vms.keys()];
  const state = new Map<string, VmState>(names.map((n) => [n, { on: false, suts: new Map() }]));
  const patterns = new Map<string, { vm: string; nvdimm: number; at: number }>();
  const snapshots = new Map<string, number>();
  const sutRun = new Map<string, Record<string, any>>();
  const ref = (j: number) => `steps[${j}] (${s.steps[j].do})`;

  const walkOne = (st: Step, i: number, path: Path, group?: Set<string>): void => {
    const bad = (field: string | Path, message: string) => out.push({ path: [...path, ...(typeof field === 'string' ? [field] : field)], message });
    const plug = sutStep(st.do);
    if ((plug?.def.store || st.do === 'store-outage') && !s.store) bad('do', `step "${st.do}" needs an object store: add "store: auto" to the scenario`);

    let unknownVm = false;
    for (const f of vmFieldsOf(st)) {
      const v = (st as Record<string, unknown>)[f];
      if (typeof v !== 'string') continue;
      if (!vms.has(v)) {
        bad(f, `no VM named "${v}" (the VMs are ${quoted(names)})`);
        // an unknown peer does not change what the step does to its own VM
        if (f !== 'peer') unknownVm = true;
      } else if (group && f !== 'peer') {
        if (group.has(v)) bad(f, `VM "${v}" is already used by another step of this parallel group: steps of a group run at once, so they must use different VMs`);
        group.add(v);
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
    const cutNow = (n: string) => { Object.assign(S(n), { on: false, off: i, pending: undefined, complained: false }); S(n).suts.clear(); };
    const needNvdimm = (n: string, idx: number, field: string): boolean => {
      if (nvdimms(n)[idx]) return true;
      bad(field, `VM "${n}" has no NVDIMM ${idx} (it has ${nvdimmsOf(nvdimms(n).length)})`);
      return false;
    };

    if (plug) {
      if (!sutRun.has(plug.sut.name)) sutRun.set(plug.sut.name, {});
      const w: WalkApi = {
        i, scenario: s, file, readsFiles, ref, needOn, cutNow, snapshots, patterns,
        vm: S, vmFile: vmOf, nvdimms, bad,
        cutLater: (n, holdup) => Object.assign(S(n), { on: false, pending: { at: i, holdup, waited: 0 }, complained: false }),
        settleCuts: () => {
          for (const v of state.values()) if (v.pending) { Object.assign(v, { off: v.pending.at, pending: undefined }); v.suts.clear(); }
        },
        sut: sutRun.get(plug.sut.name)!,
        sutVm: (n) => {
          const v = S(n);
          if (!v.suts.has(plug.sut.name)) v.suts.set(plug.sut.name, {});
          return v.suts.get(plug.sut.name)!;
        },
      };
      plug.def.walk?.(w, st);
      return;
    }

    const cst = st as CoreStep | ParallelStep;
    switch (cst.do) {
      case 'parallel': {
        const inGroup = new Set<string>();
        cst.parallel.forEach((inner: Step, k: number) => {
          if (inner.do === 'parallel') { bad(['parallel', k], 'a parallel group cannot hold another one: list its steps here'); return; }
          walkOne(inner, i, [...path, 'parallel', k], inGroup);
        });
        break;
      }
      case 'boot': {
        const v = S(cst.vm);
        if (v.on) bad('vm', `VM "${cst.vm}" is already running (booted at ${ref(v.bootedAt!)}): a booted VM cannot boot again; power-cut it first`);
        else if (v.pending && v.pending.waited < v.pending.holdup) {
          bad('vm', `VM "${cst.vm}" may still be running: ${ref(v.pending.at)} cuts its power only when its ${v.pending.holdup} ms hold-up ends${v.pending.waited ? `, and only ${v.pending.waited} ms of sleep follow it` : ''}; wait for the cut first (a step that waits for it, or sleeps adding up to the hold-up)`);
        }
        Object.assign(v, { on: true, bootedAt: i, off: undefined, pending: undefined, complained: false });
        v.suts.clear();
        break;
      }
      case 'power-cut':
        needOn(cst.vm);
        cutNow(cst.vm);
        break;
      case 'exec': case 'spawn': case 'check-topology':
        needOn(cst.vm);
        break;
      case 'net-cut': case 'net-restore': {
        needOn(cst.vm);
        const nics = vmOf(cst.vm).nics ?? ['user'];
        const kinds = nics.map((n) => (typeof n === 'object' ? `link to "${n.link}"` : 'user'));
        const has = cst.nic === 'all' ? nics.length > 0 : nics.some((n) => (cst.nic === 'link' ? typeof n === 'object' : n === 'user'));
        if (!has) {
          bad('nic', cst.nic === 'all' ? `VM "${cst.vm}" has no NICs (nics: [])`
            : `VM "${cst.vm}" has no ${cst.nic === 'link' ? 'link NIC ({ link: other-vm })' : 'user NIC ("user")'}; its NICs: ${kinds.join(', ') || 'none'}`);
        }
        break;
      }
      case 'pmem-write': {
        needOn(cst.vm);
        const idx = cst.nvdimm ?? 0;
        const offset = sizeBytes(cst.offset ?? 0);
        const length = sizeBytes(cst.length);
        if (offset % BLOCK) bad('offset', `must be a multiple of 4096 (O_DIRECT writes whole blocks), got ${offset}`);
        if (length % BLOCK || length === 0) bad('length', `must be a non-zero multiple of 4096 (O_DIRECT writes whole blocks), got ${length}`);
        if (needNvdimm(cst.vm, idx, cst.nvdimm === undefined ? 'vm' : 'nvdimm')) {
          const nv = nvdimms(cst.vm)[idx];
          const size = sizeBytes(nv.size);
          const label = nv.label === undefined ? 0 : sizeBytes(nv.label);
          const usable = size - label;
          if (offset + length > usable) {
            bad('length', `offset + length = ${showSize(offset + length)} is beyond NVDIMM ${idx} of "${cst.vm}", which holds ${showSize(usable)}${label ? ` (${showSize(size)} minus its ${showSize(label)} label area)` : ''}`);
          }
        }
        patterns.set(cst.pattern, { vm: cst.vm, nvdimm: idx, at: i });
        break;
      }
      case 'check-pmem': case 'check-backing-file': {
        if (cst.do === 'check-pmem') needOn(cst.vm);
        const p = patterns.get(cst.pattern);
        if (!p) {
          const later = s.steps.findIndex((x, j) => j > i && x.do === 'pmem-write' && x.pattern === cst.pattern);
          bad('pattern', snapshots.has(cst.pattern)
            ? `"${cst.pattern}" is the name of a snapshot-pmem (${ref(snapshots.get(cst.pattern)!)}), not of a pattern: ${cst.do} checks a pattern written by an earlier pmem-write step`
            : `pattern "${cst.pattern}" is not written by an earlier pmem-write step${later >= 0 ? ` (${ref(later)} writes it, after this step)` : ''}`);
        } else if (!nvdimms(p.vm)[p.nvdimm]) {
          // already reported at the pmem-write
        } else if (!nvdimms(cst.vm)[p.nvdimm]) {
          bad('pattern', `pattern "${cst.pattern}" was written to NVDIMM ${p.nvdimm} of "${p.vm}" (${ref(p.at)}), but VM "${cst.vm}" has no NVDIMM ${p.nvdimm} (it has ${nvdimmsOf(nvdimms(cst.vm).length)})`);
        }
        break;
      }
      case 'snapshot-pmem':
        needNvdimm(cst.vm, cst.nvdimm ?? 0, cst.nvdimm === undefined ? 'vm' : 'nvdimm');
        snapshots.set(cst.as, i);
        break;
      case 'host-check': {
        for (const m of cst.cmd.matchAll(/\$\{(backing|ctl):([^}]*)\}/g)) {
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
        for (const v of state.values()) if (v.pending) v.pending.waited += cst.ms;
        break;
      case 'store-outage':
        if (cst.wait) for (const v of state.values()) if (v.pending) v.pending.waited += cst.ms;
        break;
    }
  };
  s.steps.forEach((st: Step, i) => walkOne(st, i, ['steps', i]));
}

/** Every semantic problem of a schema-valid scenario (empty = fine). */
export function semanticProblems(s: ScenarioFile, file: string, opts: RuleOptions = {}): RawProblem[] {
  const out: RawProblem[] = [];
  vmRules(s, out);
  imageRules(s, file, opts, out);
  stepRules(s, file, !!opts.checkFile, out);
  if (!s.vms.length && !s.steps.some(createsVms)) out.push({ path: ['vms'], message: 'must have at least 1 item(s): no step of this scenario creates VMs itself' });
  out.push(...scheduleProblems(s));
  return out;
}
