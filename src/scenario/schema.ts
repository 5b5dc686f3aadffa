// Scenario file schema (v1). TypeBox gives the JSON Schema (exported for editors by
// `ftharness schema`) and the TypeScript types from one definition; ajv validates.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const Size = Type.Union([
  Type.Integer({ minimum: 0, description: 'bytes' }),
  Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?\\s*(B|KiB|MiB|GiB|K|M|G)$', description: 'e.g. 256MiB, 1GiB, 4096B' }),
], { description: 'a size: an integer number of bytes or a string like "256MiB"' });

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
  disk: Type.String({ description: 'path to a qcow2/raw image with qemu-guest-agent (used instead of the built image)' }),
  format: Type.Optional(Type.Union([Type.Literal('qcow2'), Type.Literal('raw')])),
}, { additionalProperties: false });

/** One step kind; `do` is the discriminator. */
function step<N extends string, P extends Record<string, TSchema>>(name: N, props: P, description: string) {
  return Type.Object({ do: Type.Literal(name), ...props }, { additionalProperties: false, description });
}

export const STEPS = [
  step('boot', { vm: VmName, timeout: Type.Optional(Type.Number({ minimum: 1, description: 's' })) }, 'start the VM and wait for its guest agent'),
  step('power-cut', { vm: VmName }, 'virsh destroy: the VM stops at once, nothing is flushed'),
  step('exec', {
    vm: VmName, cmd: Type.String({ minLength: 1 }),
    exit: Type.Optional(Type.Integer({ description: 'expected exit code (default 0)' })),
    timeout: Type.Optional(Type.Number({ minimum: 1, description: 's' })),
  }, 'run a shell command in the guest through the agent; ${seed} is replaced by the run seed'),
  step('spawn', {
    vm: VmName, cmd: Type.String({ minLength: 1 }),
    log: Type.Optional(Type.String({ description: 'guest file for its output (default /tmp/spawn-<step>.log)' })),
  }, 'start a shell command in the guest in the background (e.g. a workload to cut power under); ${seed} is replaced'),
  step('host-check', {
    cmd: Type.String({ minLength: 1, description: 'host shell command; ${seed}, ${backing:VM:N} (a snapshot copy of the NVDIMM backing file) and ${root} are replaced' }),
    name: Type.Optional(Type.String()),
    exit: Type.Optional(Type.Integer({ description: 'expected exit code (default 0)' })),
    timeout: Type.Optional(Type.Number({ minimum: 1, description: 's' })),
  }, 'a ground-truth check run on the host (e.g. verify a heap image from the backing file)'),
  step('pmem-write', {
    vm: VmName, pattern: PatternName, length: Size,
    nvdimm: Type.Optional(Type.Integer({ minimum: 0 })), offset: Type.Optional(Size),
  }, 'write a seeded random pattern to the guest\'s /dev/pmemN (O_DIRECT, fsync)'),
  step('check-pmem', { vm: VmName, pattern: PatternName }, 'the guest reads /dev/pmemN back and it must equal the pattern'),
  step('check-backing-file', { vm: VmName, pattern: PatternName }, 'the host backing file must hold exactly the pattern (ground truth)'),
  step('check-topology', { vm: VmName }, 'domain XML, QEMU command line and guest sysfs agree with the VM spec'),
  step('sleep', { ms: Type.Integer({ minimum: 0 }) }, 'wait'),
] as const;

export const StepSchema = Type.Union([...STEPS]);

export const ScenarioSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 120 }),
  description: Type.Optional(Type.String()),
  seed: Type.Optional(Type.Integer({ minimum: 0, description: 'base seed; run k uses seed+k-1 (default: random, recorded)' })),
  image: Type.Optional(Image),
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
