// Scenario file schema (v1). TypeBox gives the JSON Schema (exported for editors by
// `ftharness schema`) and the TypeScript types from one definition; ajv validates.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const Size = Type.Union([
  Type.Integer({ minimum: 0, description: 'bytes' }),
  Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?\\s*(B|KiB|MiB|GiB|K|M|G)$', description: 'e.g. 256MiB, 1GiB, 4096B' }),
], { description: 'a size: an integer number of bytes or a string like "256MiB"' });

/** Ceilings of the durations a scenario may ask for (the schema enforces them). */
export const MAX_STEP_TIMEOUT_S = 3600;
export const MAX_WAIT_MS = 600_000;
export const MIN_POLL_MS = 50;
export const MAX_POLL_MS = 60_000;
/** Largest scenario seed: the same value as MAX_SEED in harness/cli.ts (the bound of --seed), so
 *  seed+k-1 stays an exact, distinct integer. Kept in step by hand (the CLI does not import it). */
export const MAX_SEED = 2 ** 31 - 1;

/** A step timeout in seconds: at least 1, at most an hour. */
const TimeoutS = (description = 's') => Type.Optional(Type.Number({ minimum: 1, maximum: MAX_STEP_TIMEOUT_S, description }));
/** An expected exit code: what a process can exit with. */
const ExitCode = (description: string) => Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description }));

const VmName = Type.String({ pattern: '^[a-z][a-z0-9-]{0,30}$', description: 'lower-case name, unique in the scenario' });
const PatternName = Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$', description: 'name of a data pattern (generated from the seed)' });

const NumaCell = Type.Object({
  cpus: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, description: 'vCPU ids in this cell' }),
  memory: Size,
  distances: Type.Optional(Type.Array(Type.Integer({ minimum: 10, maximum: 255 }), { description: 'SLIT distance to each cell, in cell order (own cell: 10)' })),
}, { additionalProperties: false });

const Hmat = Type.Object({
  initiator: Type.Integer({ minimum: 0 }),
  target: Type.Integer({ minimum: 0 }),
  type: Type.Union([Type.Literal('access'), Type.Literal('read'), Type.Literal('write')]),
  latency: Type.Optional(Type.Integer({ minimum: 1, description: 'ns' })),
  bandwidth: Type.Optional(Type.Integer({ minimum: 1, description: 'MiB/s' })),
}, { additionalProperties: false });

const Nvdimm = Type.Object({
  size: Size,
  node: Type.Integer({ minimum: 0, description: 'guest NUMA cell the NVDIMM belongs to' }),
  label: Type.Optional(Size),
  access: Type.Optional(Type.Union([Type.Literal('shared'), Type.Literal('private')])),
}, { additionalProperties: false });

const Nic = Type.Union([
  Type.Literal('user'),
  Type.Object({ link: VmName }, { additionalProperties: false, description: 'point-to-point link to another VM of the scenario' }),
]);

const Vm = Type.Object({
  name: VmName,
  vcpus: Type.Integer({ minimum: 1, maximum: 64 }),
  memory: Size,
  maxMemory: Type.Optional(Size),
  numa: Type.Optional(Type.Array(NumaCell, { minItems: 1 })),
  hmat: Type.Optional(Type.Array(Hmat)),
  nvdimms: Type.Optional(Type.Array(Nvdimm)),
  nics: Type.Optional(Type.Array(Nic)),
  code: Type.Optional(Type.Boolean({ description: 'share the ftharness checkout read-only at /opt/ftharness (guest-side code)' })),
}, { additionalProperties: false });

const Image = Type.Object({
  disk: Type.String({ minLength: 1, description: 'path to a qcow2/raw image with qemu-guest-agent (used instead of the built image); relative to the scenario file\'s directory' }),
  format: Type.Optional(Type.Union([Type.Literal('qcow2'), Type.Literal('raw')])),
}, { additionalProperties: false });

/** One step kind; `do` is the discriminator. */
function step<N extends string, P extends Record<string, TSchema>>(name: N, props: P, description: string) {
  return Type.Object({ do: Type.Literal(name), ...props }, { additionalProperties: false, description });
}

export const STEPS = [
  step('boot', { vm: VmName, timeout: TimeoutS() }, 'start the VM and wait for its guest agent'),
  step('power-cut', { vm: VmName }, 'virsh destroy: the VM stops at once, nothing is flushed'),
  step('exec', {
    vm: VmName, cmd: Type.String({ minLength: 1 }),
    role: Type.Union([Type.Literal('setup'), Type.Literal('check')], { description: 'setup: preparing the run (a wrong exit code is a harness error, verdict error); check: judging the SUT (a wrong exit code is a failed check, verdict fail)' }),
    name: Type.Optional(Type.String({ description: 'name of the resulting check (default: "exec on VM: cmd…")' })),
    exit: ExitCode('expected exit code (default 0)'),
    timeout: TimeoutS(),
  }, 'run a shell command in the guest through the agent; ${seed} is replaced by the run seed'),
  step('spawn', {
    vm: VmName, cmd: Type.String({ minLength: 1 }),
    log: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9._/-]+$', description: 'guest file for its output (default /tmp/spawn-<step>.log); an absolute path of letters, digits and . _ - / only, as it goes unquoted into a guest shell command' })),
  }, 'start a shell command in the guest in the background (e.g. a workload to cut power under); ${seed} is replaced'),
  step('host-check', {
    cmd: Type.String({ minLength: 1, description: 'host shell command; ${seed}, ${backing:VM:N} (a snapshot copy of the NVDIMM backing file), ${ctl:VM} (host side of the VM control share) and ${root} are replaced' }),
    name: Type.Optional(Type.String()),
    exit: ExitCode('expected exit code (default 0)'),
    timeout: TimeoutS(),
  }, 'a ground-truth check run on the host (e.g. verify a heap image from the backing file)'),
  step('pmem-write', {
    vm: VmName, pattern: PatternName, length: Size,
    nvdimm: Type.Optional(Type.Integer({ minimum: 0 })), offset: Type.Optional(Size),
  }, 'write a seeded random pattern to the guest\'s /dev/pmemN (O_DIRECT, fsync)'),
  step('check-pmem', { vm: VmName, pattern: PatternName }, 'the guest reads /dev/pmemN back and it must equal the pattern'),
  step('check-backing-file', { vm: VmName, pattern: PatternName }, 'the host backing file must hold exactly the pattern (ground truth)'),
  step('check-topology', { vm: VmName }, 'domain XML, QEMU command line and guest sysfs agree with the VM spec'),
  step('sleep', { ms: Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, description: 'ms' }) }, 'wait'),
  // --- PMEM high availability (src/pmem-ha is the system under test; these drive and attack it)
  step('ha-agent', {
    vm: VmName, role: Type.Union([Type.Literal('primary'), Type.Literal('standby')]),
    peer: Type.Optional(VmName),
    chunk: Type.Optional(Size), concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    pauseAt: Type.Optional(Type.String({ pattern: '^[a-z-]+(:[0-9]+)?$', description: 'block the agent at this protocol phase (see src/pmem-ha/README.md), e.g. after-chunks:3' })),
    quiesce: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9._/-]+$', description: 'primary: guest pid file of the region\'s writers; the agent SIGSTOPs them at the AC-loss notice (and SIGCONTs them if AC comes back), so the save holds the final state' })),
    pollMs: Type.Optional(Type.Integer({ minimum: MIN_POLL_MS, maximum: MAX_POLL_MS, description: 'ms between the standby\'s store polls (default 1000)' })),
    credentials: Type.Optional(Type.Union([Type.Literal('valid'), Type.Literal('wrong-secret')], { description: 'wrong-secret: hand the agent a bad key (the save must fail clearly)' })),
  }, 'start the PMEM HA agent in a guest and wait until it is ready (primary: peer = the standby VM)'),
  step('ac-loss', {
    vm: VmName, holdup: Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, description: 'ms of residual power after the notice' }),
    cut: Type.Optional(Type.Boolean({ description: 'cut power when the hold-up ends (default true); false = AC cycle, restore it later with ac-restore' })),
  }, 'AC-loss notice through the guest agent, hold-up window, then the power cut'),
  step('ac-restore', { vm: VmName }, 'AC power is back before the cut (AC cycle)'),
  step('power-cut-at', {
    vm: VmName, phase: Type.String({ pattern: '^[a-z-]+(:[0-9]+)?$', description: 'a pause point of the agent running in the VM, exactly its ha-agent pauseAt' }),
    timeout: TimeoutS(),
  }, 'cut power exactly when the agent reaches a protocol phase (needs ha-agent pauseAt with that phase)'),
  step('wait-ha', {
    vm: VmName,
    until: Type.Union([Type.Literal('save-ended'), Type.Literal('holds-new'), Type.Literal('settled')], { description: 'save-ended: primary save committed/failed/abandoned; holds-new: standby holds a newer generation; settled: standby idle with no restore running' }),
    timeout: TimeoutS(),
    settle: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, description: 'ms the standby must stay unchanged for "settled" (default 3000)' })),
  }, 'wait for the HA agent to reach a state (read from its status file on the host side of the control share)'),
  step('store-outage', {
    ms: Type.Integer({ minimum: 1, maximum: MAX_WAIT_MS, description: 'ms' }),
    wait: Type.Optional(Type.Boolean({ description: 'block until the store is back (default false: the run goes on)' })),
  }, 'stop the object store gateway, bring it back after ms'),
  step('corrupt-chunk', {
    mode: Type.Union([Type.Literal('bitflip'), Type.Literal('delete')]),
    chunk: Type.Optional(Type.Integer({ minimum: 0, description: 'chunk index (default: the first stored chunk)' })),
  }, 'damage a stored chunk of the newest committed generation'),
  step('net-cut', { vm: VmName, nic: Type.Union([Type.Literal('link'), Type.Literal('user'), Type.Literal('all')]) }, "take a VM's NIC(s) down"),
  step('net-restore', { vm: VmName, nic: Type.Union([Type.Literal('link'), Type.Literal('user'), Type.Literal('all')]) }, 'bring NICs back'),
  step('snapshot-pmem', { vm: VmName, as: PatternName, nvdimm: Type.Optional(Type.Integer({ minimum: 0 })) }, "remember the NVDIMM's current backing-file content (e.g. the standby's before a fault)"),
  step('holdup-sweep', {
    primary: VmName, standby: VmName,
    fill: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'fraction of the region written with fresh data before each probe (default 0.5)' })),
    lo: Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, description: 'ms: a hold-up known (or assumed) too short (below hi)' }),
    hi: Type.Integer({ minimum: 1, maximum: MAX_WAIT_MS, description: 'ms: a hold-up expected to be long enough' }),
    resolution: Type.Optional(Type.Integer({ minimum: 50, maximum: MAX_WAIT_MS, description: 'ms (default 1000), at most hi - lo' })),
  }, 'binary search for the shortest hold-up that still gives a committed, restored generation; each probe is a real AC loss + power cut'),
  step('check-ha', {
    primary: VmName, standby: VmName,
    expect: Type.Union([Type.Literal('restored'), Type.Literal('previous')], { description: 'restored: standby holds the primary PMEM byte for byte; previous: standby kept its previous content (or an older intact generation) because the save could not be trusted' }),
    previous: Type.Optional(PatternName),
  }, "ground truth: primary's backing file at the cut vs standby's backing file, against the store's committed generations"),
] as const;

export const StepSchema = Type.Union([...STEPS]);

export const ScenarioSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 120 }),
  description: Type.Optional(Type.String()),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEED, description: 'base seed; run k uses seed+k-1 (default: random, recorded)' })),
  image: Type.Optional(Image),
  store: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('embedded'), Type.Literal('external'), Type.Literal('testcontainers-minio')], { description: 'object store for the run; auto = FTH_STORE / FTH_S3_ENDPOINT, else embedded Ceph RGW' })),
  vms: Type.Array(Vm, { minItems: 1 }),
  steps: Type.Array(StepSchema, { minItems: 1 }),
}, { additionalProperties: false, $id: 'https://ftharness.dev/schema/scenario-v1.json', title: 'ftharness scenario (v1)' });

export type ScenarioFile = Static<typeof ScenarioSchema>;
export type VmFile = Static<typeof Vm>;
export type Step = Static<typeof StepSchema>;
export type StepKind = Step['do'];

/** JSON Schema for editors; the step list carries an ajv/OpenAPI discriminator on `do`. */
export function scenarioJsonSchema(): Record<string, unknown> {
  const s = JSON.parse(JSON.stringify(ScenarioSchema)) as Record<string, any>;
  const items = s.properties.steps.items;
  s.properties.steps.items = { type: 'object', required: ['do'], discriminator: { propertyName: 'do' }, oneOf: items.anyOf };
  s.$schema = 'http://json-schema.org/draft-07/schema#';
  return s;
}
