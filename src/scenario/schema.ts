// Scenario file schema (v1): the core (VMs, core steps, parallel groups) and the steps each SUT
// plugin brings (SutPlugin.steps). TypeBox gives the JSON Schema (exported for editors by
// `ftharness schema`) and the TypeScript types from one definition; ajv validates.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { suts } from '../sut/registry.js';

export const Size = Type.Union([
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
export const TimeoutS = (description = 's') => Type.Optional(Type.Number({ minimum: 1, maximum: MAX_STEP_TIMEOUT_S, description }));
/** An expected exit code: what a process can exit with. */
const ExitCode = (description: string) => Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description }));

export const VmName = Type.String({ pattern: '^[a-z][a-z0-9-]{0,30}$', description: 'lower-case name, unique in the scenario' });
export const PatternName = Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$', description: 'name of a data pattern (generated from the seed)' });

const NumaCell = Type.Object({
  cpus: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, description: 'vCPU ids in this cell' }),
  memory: Size,
  distances: Type.Optional(Type.Array(Type.Integer({ minimum: 10, maximum: 255 }), { description: 'SLIT distance to each cell, in cell order (own cell: 10)' })),
  hostNode: Type.Optional(Type.Integer({ minimum: 0, maximum: 1023, description: "bind this cell's memory (strict) and vCPUs to this host NUMA node; when every cell of every VM is bound to its own host node the run's topology is recorded as physical" })),
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
  power: Type.Optional(Type.Object({
    ipmi: Type.Object({
      host: Type.String({ minLength: 1 }),
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'default 623' })),
      user: Type.String({ minLength: 1 }),
      passwordEnv: Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$', description: 'environment variable holding the password (never the password itself)' }),
      cipher: Type.Optional(Type.Integer({ minimum: 0, maximum: 17, description: 'IPMI cipher suite (default 3)' })),
    }, { additionalProperties: false }),
  }, { additionalProperties: false, description: 'cut this VM\'s power through its BMC (ipmitool lanplus chassis power off), not virsh destroy' })),
}, { additionalProperties: false });

const Image = Type.Object({
  disk: Type.String({ minLength: 1, description: 'path to a qcow2/raw image with qemu-guest-agent (used instead of the built image); relative to the scenario file\'s directory' }),
  format: Type.Optional(Type.Union([Type.Literal('qcow2'), Type.Literal('raw')])),
}, { additionalProperties: false });

/** One step kind; `do` is the discriminator (SUT plugins build theirs with it too). */
export function step<N extends string, P extends Record<string, TSchema>>(name: N, props: P, description: string) {
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
  step('store-outage', {
    ms: Type.Integer({ minimum: 1, maximum: MAX_WAIT_MS, description: 'ms' }),
    wait: Type.Optional(Type.Boolean({ description: 'block until the store is back (default false: the run goes on)' })),
  }, 'stop the object store gateway, bring it back after ms'),
  step('net-cut', { vm: VmName, nic: Type.Union([Type.Literal('link'), Type.Literal('user'), Type.Literal('all')]) }, "take a VM's NIC(s) down"),
  step('net-restore', { vm: VmName, nic: Type.Union([Type.Literal('link'), Type.Literal('user'), Type.Literal('all')]) }, 'bring NICs back'),
  step('snapshot-pmem', { vm: VmName, as: PatternName, nvdimm: Type.Optional(Type.Integer({ minimum: 0 })) }, "remember the NVDIMM's current backing-file content (e.g. the standby's before a fault)"),
  step('schedule', {}, 'fire this run\'s drawn fault schedule (`run --schedule random`, or `--replay`): its faults start from here, at their times or SUT phases; done when all are over (without a drawn schedule: nothing)'),
] as const;

/** Steps that run at once: `- parallel: [ {do: boot, vm: a}, {do: boot, vm: b} ]` (the loader
 *  writes it as `{do: parallel, parallel: [...]}`); each on its own VMs, no nesting. */
function parallelStep(inner: TSchema[]) {
  return step('parallel', { parallel: Type.Array(Type.Union(inner), { minItems: 2, maxItems: 16 }) }, 'run these steps at once (boot two VMs together, a workload while faults fire); done when all are; a step of it that fails fails the group');
}

/** Ceiling of a whole run (the scenario's `deadline`, seconds). */
export const MAX_DEADLINE_S = 6 * 3600;
export const DEFAULT_DEADLINE_S = 3600;

const scenarioProps = <T extends TSchema>(steps: T) => ({
  name: Type.String({ minLength: 1, maxLength: 120 }),
  description: Type.Optional(Type.String()),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SEED, description: 'base seed; run k uses seed+k-1 (default: random, recorded)' })),
  deadline: Type.Optional(Type.Integer({ minimum: 10, maximum: MAX_DEADLINE_S, description: `s the whole run may take (default ${DEFAULT_DEADLINE_S}); past it the run stops with an error` })),
  image: Type.Optional(Image),
  store: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('embedded'), Type.Literal('external'), Type.Literal('testcontainers-minio')], { description: 'object store for the run; auto = FTH_STORE / FTH_S3_ENDPOINT, else embedded Ceph RGW' })),
  vms: Type.Array(Vm, { description: 'the VMs of the run; may be empty only when a step of a SUT creates its own' }),
  steps: Type.Array(steps, { minItems: 1 }),
  schedule: Type.Optional(Type.Unknown({ description: 'faults a generated schedule may draw (`ftharness run --schedule random`, see README)' })),
});
const OPTS = { additionalProperties: false, $id: 'https://ftharness.dev/schema/scenario-v1.json', title: 'ftharness scenario (v1)' } as const;

/** The scenario schema with the steps of every registered SUT. */
export function scenarioSchema() {
  const core = new Set<string>([...STEPS.map((x) => x.properties.do.const), 'parallel']);
  for (const p of suts()) for (const k of Object.keys(p.steps)) if (core.has(k)) throw new Error(`SUT "${p.name}": step "${k}" is a core step`);
  const inner = [...STEPS, ...suts().flatMap((p) => Object.values(p.steps).map((d) => d.schema))];
  return Type.Object(scenarioProps(Type.Union([...inner, parallelStep(inner)])), OPTS);
}

const CoreStepSchema = Type.Union([...STEPS]);
export type CoreStep = Static<typeof CoreStepSchema>;
/** A step a SUT plugin contributes: its own types live in its plugin. */
export interface SutStepData { do: string; [field: string]: unknown }
export interface ParallelStep { do: 'parallel'; parallel: Step[] }
export type Step = CoreStep | ParallelStep | SutStepData;
export type StepKind = string;

const ScenarioTypes = Type.Object(scenarioProps(Type.Unsafe<Step>(Type.Object({}))), OPTS);
export type ScenarioFile = Static<typeof ScenarioTypes>;
export type VmFile = Static<typeof Vm>;

/** JSON Schema for editors; step lists carry an ajv/OpenAPI discriminator on `do`. */
export function scenarioJsonSchema(): Record<string, unknown> {
  const s = JSON.parse(JSON.stringify(scenarioSchema())) as Record<string, any>;
  const discriminated = (items: { anyOf: unknown[] }) => ({ type: 'object', required: ['do'], discriminator: { propertyName: 'do' }, oneOf: items.anyOf });
  const steps = s.properties.steps.items;
  for (const alt of steps.anyOf as Record<string, any>[]) {
    if (alt.properties?.do?.const === 'parallel') alt.properties.parallel.items = discriminated(alt.properties.parallel.items);
  }
  s.properties.steps.items = discriminated(steps);
  s.$schema = 'http://json-schema.org/draft-07/schema#';
  return s;
}
