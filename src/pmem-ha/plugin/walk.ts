// The PMEM HA steps in the scenario's static walk: which VM runs which agent (role, pause
// point), whether a save was started, what an AC loss does to the VM's power. Every message says
// what is missing and which step would provide it.
import type { WalkApi } from '../../scenario/walk.js';
import { showSize, sizeBytes } from '../../shared/size.js';
import { parsePauseAt, pauseLabel, PRIMARY_PAUSE_POINTS, STANDBY_PAUSE_POINTS } from '../pause.js';
import type { AcLossStep, AcRestoreStep, CheckHaStep, CorruptChunkStep, HaAgentStep, HoldupSweepStep, PowerCutAtStep, WaitHaStep } from './schema.js';

/** The agent reads and writes the region in chunks of whole pages. */
export const CHUNK_ALIGN = 4096;

interface Agent {
  role: 'primary' | 'standby';
  pauseAt?: string;
  /** the ha-agent step */
  at: number;
  /** the first ac-loss sent to it (a primary saves only after one) */
  acLossAt?: number;
  /** a primary with continuous pre-copy (precopyMs) */
  precopy?: boolean;
}
/** Per VM (cleared at boot and cut): the agent running there, an AC cycle not restored yet. */
const agentOf = (w: WalkApi, vm: string) => w.sutVm(vm) as { agent?: Agent; acOpen?: number };
/** Over the whole scenario: the last ha-agent step of each role per VM, the first save. */
const run = (w: WalkApi) => w.sut as { ever?: Record<string, { primary?: number; standby?: number }>; saveAt?: number };
const ever = (w: WalkApi, vm: string) => ((run(w).ever ??= {})[vm] ??= {});

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

export const walkHaAgent = (w: WalkApi, st: HaAgentStep): void => {
  const nvs = w.nvdimms(st.vm);
  if (st.peer !== undefined) {
    if (st.peer === st.vm) w.bad('peer', `the peer is the other VM of the pair: "${st.vm}" cannot be its own peer`);
    else if (st.role === 'standby') w.bad('peer', 'only a primary names a peer (the standby it signals); a standby listens on its own link: remove "peer"');
  }
  if (!nvs.length) w.bad('vm', `VM "${st.vm}" has no NVDIMM: the HA agent protects NVDIMM 0 (/dev/nvdimm0)`);
  else if (st.role === 'standby' && nvs.length < 2) w.bad('vm', `a standby needs 2 NVDIMMs: NVDIMM 0 to restore into and NVDIMM 1 for its restore journal, and VM "${st.vm}" has 1`);
  if (st.chunk !== undefined) {
    const c = sizeBytes(st.chunk);
    if (c === 0 || c % CHUNK_ALIGN) w.bad('chunk', `must be a non-zero multiple of ${CHUNK_ALIGN} bytes, got ${showSize(c)}`);
    else if (nvs.length && c > sizeBytes(nvs[0].size)) w.bad('chunk', `${showSize(c)} is larger than NVDIMM 0 of "${st.vm}" (${showSize(sizeBytes(nvs[0].size))}), the region it is a piece of`);
    else if (st.precopyTrack === 'dm-era' && (c & (c - 1)) !== 0) w.bad('chunk', `with precopyTrack dm-era a chunk is one dm-era block, whose size must be a power of two: ${showSize(c)} is not`);
  }
  if (st.quiesce !== undefined && st.role !== 'primary') w.bad('quiesce', 'only a primary stops writers at the notice: remove "quiesce"');
  if (st.quiesceCmd !== undefined && st.role !== 'primary') w.bad('quiesceCmd', 'only a primary quiesces writers at the notice: remove "quiesceCmd"');
  else if (st.quiesceCmd !== undefined && st.quiesce !== undefined) w.bad('quiesceCmd', 'use quiesce (a pid file) or quiesceCmd (a command), not both');
  if (st.resumeCmd !== undefined && st.quiesceCmd === undefined) w.bad('resumeCmd', 'resumeCmd undoes quiesceCmd: set quiesceCmd too');
  if (st.precopyMs !== undefined && st.role !== 'primary') w.bad('precopyMs', 'only a primary pre-copies its region: remove "precopyMs"');
  if (st.precopyTrack !== undefined && st.precopyMs === undefined) w.bad('precopyTrack', 'precopyTrack says how the pre-copy finds changes: set precopyMs too (primary only)');
  if (st.signalAt !== undefined && st.role !== 'primary') w.bad('signalAt', 'only a primary signals: a standby follows whatever the primary sends (a start signal makes it prefetch): remove "signalAt"');
  else if (st.signalAt === 'start' && st.peer === undefined) w.bad('signalAt', 'signalAt: start signals the standby over the link: name it as "peer"');
  if (st.pauseAt !== undefined) {
    const why = pauseProblem(st.pauseAt, st.role);
    if (why) w.bad('pauseAt', why);
  }
  const v = agentOf(w, st.vm);
  if (w.needOn(st.vm) && v.agent) w.bad('vm', `an HA agent (${v.agent.role}, ${w.ref(v.agent.at)}) already runs in VM "${st.vm}": one agent per VM; power-cut and boot the VM before starting another`);
  v.agent = { role: st.role, pauseAt: st.pauseAt, at: w.i, ...(st.precopyMs ? { precopy: true } : {}) };
  ever(w, st.vm)[st.role] = w.i;
};

export const walkAcLoss = (w: WalkApi, st: AcLossStep): void => {
  const v = agentOf(w, st.vm);
  if (w.needOn(st.vm)) {
    if (v.acOpen !== undefined) w.bad('vm', `AC is already lost on "${st.vm}" since ${w.ref(v.acOpen)} (cut: false): ac-restore it before another ac-loss`);
    if (!v.agent) w.bad('vm', `ac-loss needs a primary HA agent in VM "${st.vm}" to receive the notice: start one first ({ do: ha-agent, vm: ${st.vm}, role: primary }${w.vm(st.vm).bootedAt !== undefined ? ` after ${w.ref(w.vm(st.vm).bootedAt!)}` : ''})`);
    else if (v.agent.role !== 'primary') w.bad('vm', `the HA agent in "${st.vm}" (${w.ref(v.agent.at)}) is a standby: an AC-loss notice goes to a primary`);
  }
  if (v.agent) v.agent.acLossAt ??= w.i;
  if (v.agent?.role === 'primary') run(w).saveAt ??= w.i;
  if (st.cut === false) v.acOpen = w.i;
  else { v.acOpen = undefined; w.cutLater(st.vm, st.holdup); }
};

export const walkAcRestore = (w: WalkApi, st: AcRestoreStep): void => {
  const v = agentOf(w, st.vm);
  if (v.acOpen === undefined) {
    const p = w.vm(st.vm).pending;
    w.bad('vm', p
      ? `${w.ref(p.at)} cuts the power of "${st.vm}" when its hold-up ends (its cut is not false): there is no AC cycle to end; give that ac-loss "cut: false" for an AC cycle`
      : `no AC loss to end on "${st.vm}": ac-restore needs an earlier ac-loss with cut: false on it, not restored yet`);
  }
  v.acOpen = undefined;
};

export const walkPowerCutAt = (w: WalkApi, st: PowerCutAtStep): void => {
  const vm = w.vm(st.vm);
  const v = agentOf(w, st.vm);
  if (!vm.on && !vm.pending) w.needOn(st.vm);
  else if (!v.agent) {
    w.bad('vm', `power-cut-at needs an HA agent in VM "${st.vm}" started with pauseAt: "${st.phase}"${vm.bootedAt !== undefined ? ` after its boot at ${w.ref(vm.bootedAt)}` : ''}, and none runs there`);
  } else {
    const a = v.agent;
    const why = pauseProblem(st.phase, a.role);
    if (why) w.bad('phase', `${why}; the agent in "${st.vm}" (${w.ref(a.at)}) is a ${a.role}`);
    else if (a.pauseAt === undefined) w.bad('phase', `the ${a.role} agent of ${w.ref(a.at)} has no pauseAt, so it never pauses and this step would wait until its timeout: add pauseAt: "${st.phase}" to it`);
    else if (a.pauseAt !== st.phase) w.bad('phase', `the ${a.role} agent of ${w.ref(a.at)} pauses at "${a.pauseAt}", not at "${st.phase}": make the two the same`);
    else if (a.role === 'primary' && a.acLossAt === undefined) w.bad('vm', `a primary pauses only during a save, and no ac-loss on "${st.vm}" after ${w.ref(a.at)} starts one: add an ac-loss (cut: false) before this step`);
  }
  w.cutNow(st.vm);
};

export const walkWaitHa = (w: WalkApi, st: WaitHaStep): void => {
  const v = agentOf(w, st.vm);
  const want = st.until === 'save-ended' || st.until === 'precopy-synced' ? 'primary' : 'standby';
  if (st.settle !== undefined && st.until !== 'settled') w.bad('settle', `only applies to until: settled (this step waits for ${st.until}): remove it`);
  // A primary's save ends within its hold-up, before the cut; its status is read on the host.
  if (!(st.until === 'save-ended' && w.vm(st.vm).pending) && !w.needOn(st.vm)) return;
  if (!v.agent) w.bad('until', `"${st.until}" is a state of a ${want} HA agent, and none runs in VM "${st.vm}": start one first ({ do: ha-agent, vm: ${st.vm}, role: ${want} })`);
  else if (v.agent.role !== want) {
    w.bad('until', `"${st.until}" is a state of a ${want}, but the agent in "${st.vm}" (${w.ref(v.agent.at)}) is a ${v.agent.role}: wait for ${want === 'primary' ? 'holds-new or settled' : 'save-ended'} here, or for "${st.until}" on the ${want}`);
  } else if (st.until === 'precopy-synced') {
    if (!v.agent.precopy) w.bad('until', `the primary in "${st.vm}" (${w.ref(v.agent.at)}) runs no pre-copy: give its ha-agent step precopyMs`);
    else if (v.agent.acLossAt !== undefined) w.bad('until', `AC is already lost on "${st.vm}" (${w.ref(v.agent.acLossAt)}): the pre-copy runs only while AC is present`);
  } else if (want === 'primary' && v.agent.acLossAt === undefined) {
    w.bad('until', `no save can end: no ac-loss on "${st.vm}" after its agent started at ${w.ref(v.agent.at)}; add an ac-loss before this step`);
  }
};

export const walkCorruptChunk = (w: WalkApi, _st: CorruptChunkStep): void => {
  const primaries = Object.values(run(w).ever ?? {}).some((e) => e.primary !== undefined);
  if (!primaries) w.bad('do', 'corrupt-chunk damages a generation a primary saved, and no ha-agent with role primary comes before it: start one and make it save (ac-loss) first');
  else if (run(w).saveAt === undefined) w.bad('do', 'corrupt-chunk damages the newest committed generation, and nothing saves one before it: add an ac-loss on the primary first');
};

export const walkCheckHa = (w: WalkApi, st: CheckHaStep): void => {
  if (st.primary === st.standby) {
    w.bad('standby', `primary and standby must be two different VMs (both are "${st.primary}")`);
    return;
  }
  if (ever(w, st.primary).primary === undefined) w.bad('primary', `no ha-agent with role primary in VM "${st.primary}" before this step: check-ha judges the generations its saves made`);
  if (st.previous !== undefined) {
    if (!w.snapshots.has(st.previous)) {
      w.bad('previous', `no earlier snapshot-pmem named "${st.previous}"${w.patterns.has(st.previous) ? ` ("${st.previous}" is a pmem-write pattern, not a snapshot)` : ''}: add { do: snapshot-pmem, vm: ${st.standby}, as: ${st.previous} } before this step`);
    }
  } else if (ever(w, st.standby).standby === undefined) {
    w.bad('standby', `no "previous" content of "${st.standby}" to judge against: start its ha-agent (role standby) before this step (it records the content), or name a snapshot-pmem in "previous"`);
  }
  // check-ha waits for pending hold-up cuts: after it, those VMs are off.
  w.settleCuts();
};

export const walkHoldupSweep = (w: WalkApi, st: HoldupSweepStep): void => {
  if (st.primary === st.standby) {
    w.bad('standby', `primary and standby must be two different VMs (both are "${st.primary}")`);
    return;
  }
  if (st.precopyTrack !== undefined && st.precopyMs === undefined) w.bad('precopyTrack', 'precopyTrack says how the pre-copy finds changes: set precopyMs too');
  if (st.lo >= st.hi) w.bad('lo', `must be below hi (lo ${st.lo} ms, hi ${st.hi} ms): the search runs from a too-short to a long-enough hold-up`);
  else if (st.resolution !== undefined && st.resolution > st.hi - st.lo) {
    w.bad('resolution', `${st.resolution} ms is more than hi - lo = ${st.hi - st.lo} ms: the search would stop before its first step; make it at most ${st.hi - st.lo}`);
  }
  for (const [field, role] of [['primary', 'primary'], ['standby', 'standby']] as const) {
    const n = st[field];
    const v = agentOf(w, n);
    if (!w.needOn(n, field)) continue;
    if (!v.agent || v.agent.role !== role) {
      w.bad(field, `holdup-sweep needs a ${role} HA agent running in "${n}"${v.agent ? `, and the one of ${w.ref(v.agent.at)} is a ${v.agent.role}` : ''}: start one first ({ do: ha-agent, vm: ${n}, role: ${role} })`);
    } else if (v.agent.pauseAt !== undefined) {
      w.bad(field, `the ${role} agent of ${w.ref(v.agent.at)} pauses at "${v.agent.pauseAt}", so the probes would stop there: start it without pauseAt`);
    }
  }
  if (agentOf(w, st.primary).agent?.role === 'primary') run(w).saveAt ??= w.i;
  // Every probe ends with a power cut of the primary.
  w.cutNow(st.primary);
};
