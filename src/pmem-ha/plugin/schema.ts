// The PMEM HA steps' schemas (the scenario vocabulary this SUT adds) and their types.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_POLL_MS, MAX_WAIT_MS, MIN_POLL_MS, PatternName, Size, step, TimeoutS, VmName } from '../../scenario/schema.js';

const PrecopyTrack = Type.Union([Type.Literal('rehash'), Type.Literal('dm-era')], {
  description: 'with precopyMs: how the primary finds what changed since its last pass. rehash (default): read every chunk again at the notice. dm-era: the agent stacks dm-era over the region and points /dev/nvdimm0 at it, so writes through that name are tracked and the save reads only the chunks written since (not for a DAX filesystem: dm-era has no DAX)',
});

export const HA_STEP_SCHEMAS = {
  'ha-agent': step('ha-agent', {
    vm: VmName, role: Type.Union([Type.Literal('primary'), Type.Literal('standby')]),
    peer: Type.Optional(VmName),
    chunk: Type.Optional(Size), concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    pauseAt: Type.Optional(Type.String({ pattern: '^[a-z-]+(:[0-9]+)?$', description: 'block the agent at this protocol phase (see src/pmem-ha/README.md), e.g. after-chunks:3' })),
    quiesce: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9._/-]+$', description: 'primary: guest pid file of the region\'s writers; the agent SIGSTOPs them at the AC-loss notice (and SIGCONTs them if AC comes back), so the save holds the final state' })),
    quiesceCmd: Type.Optional(Type.String({ minLength: 1, description: 'primary: guest shell command that quiesces the region\'s writers at the AC-loss notice (exit 0 = quiesced), e.g. "fsfreeze --freeze /mnt/pmem" for a filesystem on the region; not with quiesce' })),
    resumeCmd: Type.Optional(Type.String({ minLength: 1, description: 'primary: guest shell command that resumes them if AC comes back (needs quiesceCmd)' })),
    signalAt: Type.Optional(Type.Union([Type.Literal('commit'), Type.Literal('start')], { description: 'primary: commit (default) = signal the standby after the manifest (sequential restore); start = also when the save begins, so that the standby fetches and verifies chunks while they land and applies them at the commit (pipelined restore)' })),
    precopyMs: Type.Optional(Type.Integer({ minimum: 100, maximum: MAX_WAIT_MS, description: 'primary: continuous pre-copy while AC is present, a pass over the region every this many ms; the save at an AC loss then uploads only the chunks changed since' })),
    precopyTrack: Type.Optional(PrecopyTrack),
    pollMs: Type.Optional(Type.Integer({ minimum: MIN_POLL_MS, maximum: MAX_POLL_MS, description: 'ms between the standby\'s store polls (default 1000)' })),
    credentials: Type.Optional(Type.Union([Type.Literal('valid'), Type.Literal('wrong-secret')], { description: 'wrong-secret: hand the agent a bad key (the save must fail clearly)' })),
  }, 'start the PMEM HA agent in a guest and wait until it is ready (primary: peer = the standby VM)'),
  'ac-loss': step('ac-loss', {
    vm: VmName, holdup: Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, description: 'ms of residual power after the notice' }),
    cut: Type.Optional(Type.Union([Type.Boolean(), Type.Literal('save-end')], { description: 'cut power when the hold-up ends (default true); save-end = as soon as the save has ended (or at the hold-up end, if that comes first), where the rest of the hold-up is not under test; false = AC cycle, restore it later with ac-restore' })),
  }, 'AC-loss notice through the guest agent, hold-up window, then the power cut'),
  'ac-restore': step('ac-restore', { vm: VmName }, 'AC power is back before the cut (AC cycle)'),
  'power-cut-at': step('power-cut-at', {
    vm: VmName, phase: Type.String({ pattern: '^[a-z-]+(:[0-9]+)?$', description: 'a pause point of the agent running in the VM, exactly its ha-agent pauseAt' }),
    timeout: TimeoutS(),
  }, 'cut power exactly when the agent reaches a protocol phase (needs ha-agent pauseAt with that phase)'),
  'wait-ha': step('wait-ha', {
    vm: VmName,
    until: Type.Union([Type.Literal('save-ended'), Type.Literal('holds-new'), Type.Literal('settled'), Type.Literal('precopy-synced')], { description: 'save-ended: primary save committed/failed/abandoned; holds-new: standby holds a newer generation; settled: standby idle with no restore running; precopy-synced: the primary\'s pre-copy finished two passes since the step began (everything written before it is copied)' }),
    timeout: TimeoutS(),
    settle: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, description: 'ms the standby must stay unchanged for "settled" (default 3000)' })),
  }, 'wait for the HA agent to reach a state (read from its status file on the host side of the control share)'),
  'corrupt-chunk': step('corrupt-chunk', {
    mode: Type.Union([Type.Literal('bitflip'), Type.Literal('delete')]),
    chunk: Type.Optional(Type.Integer({ minimum: 0, description: 'chunk index (default: the first stored chunk)' })),
  }, 'damage a stored chunk of the newest committed generation'),
  'holdup-sweep': step('holdup-sweep', {
    primary: VmName, standby: VmName,
    fill: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'fraction of the region written with fresh data before each probe (default 0.5)' })),
    lo: Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, description: 'ms: a hold-up known (or assumed) too short (below hi)' }),
    hi: Type.Integer({ minimum: 1, maximum: MAX_WAIT_MS, description: 'ms: a hold-up expected to be long enough' }),
    resolution: Type.Optional(Type.Integer({ minimum: 50, maximum: MAX_WAIT_MS, description: 'ms (default 1000), at most hi - lo' })),
    precopyMs: Type.Optional(Type.Integer({ minimum: 100, maximum: MAX_WAIT_MS, description: 'the primary runs continuous pre-copy (as ha-agent precopyMs): each probe waits until the fill is copied, then dirties `dirty` of the region, then cuts AC' })),
    dirty: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'with precopyMs: fraction of the region rewritten after the pre-copy synced, before the AC loss (default 0.1)' })),
    precopyTrack: Type.Optional(PrecopyTrack),
  }, 'binary search for the shortest hold-up that still gives a committed, restored generation; each probe is a real AC loss + power cut'),
  'check-ha-fs': step('check-ha-fs', {
    standby: VmName,
    writer: Type.Optional(VmName),
    log: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]+$', description: "file name of the fs-writer's durability log in the writer VM's control share (/run/fthctl in the guest); needs writer" })),
    dir: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9._/-]*$', description: "the writer's directory inside the filesystem (default /data)" })),
    pools: Type.Optional(Type.Array(Type.String({ pattern: '^/[A-Za-z0-9._/-]+$' }), { description: 'PMDK pools (paths inside the filesystem) that must pass pmempool check' })),
  }, "ground truth for a filesystem on the PMEM: the standby's backing file read on the host (fsdax info block, ext4), e2fsck -fn clean, every file the writer reported durable there with its content, pmempool check on each pool"),
  'check-ha': step('check-ha', {
    primary: VmName, standby: VmName,
    expect: Type.Union([Type.Literal('restored'), Type.Literal('previous'), Type.Literal('any')], { description: 'restored: standby holds the primary PMEM byte for byte; previous: standby kept its previous content (or an older intact generation) because the save could not be trusted; any: either, whichever the faults allowed (generated schedules), but never bytes nobody committed' }),
    previous: Type.Optional(PatternName),
  }, "ground truth: primary's backing file at the cut vs standby's backing file, against the store's committed generations"),
};

type S<K extends keyof typeof HA_STEP_SCHEMAS> = Static<(typeof HA_STEP_SCHEMAS)[K]>;
export type HaAgentStep = S<'ha-agent'>;
export type AcLossStep = S<'ac-loss'>;
export type AcRestoreStep = S<'ac-restore'>;
export type PowerCutAtStep = S<'power-cut-at'>;
export type WaitHaStep = S<'wait-ha'>;
export type CorruptChunkStep = S<'corrupt-chunk'>;
export type HoldupSweepStep = S<'holdup-sweep'>;
export type CheckHaStep = S<'check-ha'>;
export type CheckHaFsStep = S<'check-ha-fs'>;
