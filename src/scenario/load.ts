// Scenario file → validated, normalised Scenario. Every problem names file, line, field path and
// reason; nothing is started before a file is fully valid.
import { accessSync, constants, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { scenarioJsonSchema, type ScenarioFile, type Step, type VmFile } from './schema.js';
// Every SUT registers its steps before the first scenario is read (the list is src/suts.ts).
import '../suts.js';
import { registryVersion } from '../sut/registry.js';
import { resolveDisk, semanticProblems, type RuleOptions } from './rules.js';
import { sizeBytes } from '../shared/size.js';

export { sizeBytes } from '../shared/size.js';
export type { RuleOptions } from './rules.js';

export interface Problem { path: string; message: string; line?: number }

export class ScenarioError extends Error {
  constructor(readonly file: string, readonly problems: Problem[]) {
    super(problems.map((p) => `${file}${p.line ? `:${p.line}` : ''}: ${p.path || '(top)'}: ${p.message}`).join('\n'));
  }
}

export interface NumaCellN { cpus: number[]; memoryMiB: number; distances?: number[]; hostNode?: number }
export interface NvdimmN { sizeMiB: number; node: number; labelKiB: number; access: 'shared' | 'private' }
export interface VmN {
  name: string;
  vcpus: number;
  memoryMiB: number;
  maxMemoryMiB: number;
  numa?: NumaCellN[];
  hmat?: VmFile['hmat'];
  nvdimms: NvdimmN[];
  nics: ({ kind: 'user' } | { kind: 'link'; peer: string })[];
  code: boolean;
  power?: VmFile['power'];
}
export interface Scenario {
  name: string;
  description?: string;
  file: string;
  seed?: number;
  image?: { disk: string; format: 'qcow2' | 'raw' };
  store?: 'auto' | 'embedded' | 'external' | 'testcontainers-minio';
  /** s the whole run may take */
  deadline?: number;
  vms: VmN[];
  steps: Step[];
  /** what a generated fault schedule may draw (src/runner/schedule.ts), as the file gave it */
  schedule?: unknown;
}

// verbose: errors carry the offending value and its schema (for "got …" and the field's description)
// Compiled on first use, after the SUT plugins registered their steps (again if one more does).
let compiled: { v: number; fn: ReturnType<Ajv['compile']> } | undefined;
const validate = (data: unknown) => {
  if (compiled?.v !== registryVersion()) {
    const ajv = new Ajv({ allErrors: true, discriminator: true, strict: false, verbose: true });
    compiled = { v: registryVersion(), fn: ajv.compile(scenarioJsonSchema()) };
  }
  return compiled.fn(data);
};
const validateErrors = () => compiled?.fn.errors;

/** `- parallel: [...]` is the file's form of `{ do: parallel, parallel: [...] }` (one discriminator
 *  for every step kind); the field path stays the same. */
function normaliseParallel(data: unknown): void {
  const steps = (data as { steps?: unknown })?.steps;
  if (!Array.isArray(steps)) return;
  for (const st of steps) {
    if (st && typeof st === 'object' && !Array.isArray(st) && 'parallel' in st && !('do' in st)) {
      const o = st as Record<string, unknown>;
      const rest = { ...o };
      for (const k of Object.keys(o)) delete o[k];
      Object.assign(o, { do: 'parallel', ...rest });
    }
  }
}

function pathOf(instancePath: string): (string | number)[] {
  return instancePath.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
}
function pretty(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('');
}
function lineOf(doc: Document, lc: LineCounter, path: (string | number)[]): number | undefined {
  for (let p = path; p.length >= 0; p = p.slice(0, -1)) {
    const n = p.length ? doc.getIn(p, true) : doc.contents;
    if (isNode(n) && n.range) return lc.linePos(n.range[0]).line;
    if (!p.length) return undefined;
  }
  return undefined;
}

function ajvProblem(e: ErrorObject): { path: (string | number)[]; message: string } {
  const path = pathOf(e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': return { path: [...path, e.params.additionalProperty], message: `unknown field "${e.params.additionalProperty}"` };
    case 'required': return { path: [...path, e.params.missingProperty], message: 'required field is missing' };
    case 'discriminator': return { path: [...path, 'do'], message: e.params.error === 'mapping' ? `unknown step "${e.params.tagValue}"` : 'each step needs a "do" field naming its kind' };
    case 'type': return { path, message: `must be ${e.params.type}` };
    case 'minItems': return { path, message: `must have at least ${e.params.limit} item(s)` };
    case 'maximum': return { path, message: `must be at most ${e.params.limit}${unitOf(path)}, got ${e.data}` };
    case 'minimum': return { path, message: `must be at least ${e.params.limit}${unitOf(path)}, got ${e.data}` };
    case 'exclusiveMinimum': return { path, message: `must be more than ${e.params.limit}${unitOf(path)}, got ${e.data}` };
    case 'minLength': return { path, message: e.params.limit === 1 ? 'must not be empty' : `must have at least ${e.params.limit} characters` };
    case 'pattern': {
      const what = (e.parentSchema as { description?: string } | undefined)?.description;
      return { path, message: `${JSON.stringify(e.data)} does not match ${e.params.pattern}${what ? `: ${what}` : ''}` };
    }
    default: return { path, message: e.message ?? e.keyword };
  }
}

/** Unit of a bounded number, named by its field. */
function unitOf(path: (string | number)[]): string {
  const f = path.at(-1);
  if (f === 'timeout') return ' s';
  if (typeof f === 'string' && ['ms', 'holdup', 'settle', 'pollMs', 'lo', 'hi', 'resolution'].includes(f)) return ' ms';
  return '';
}

/** Drop the noise ajv produces for unions (e.g. Size: "must be integer" + "must be string"). */
function simplify(errors: ErrorObject[]): ErrorObject[] {
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of errors) byPath.set(e.instancePath, [...(byPath.get(e.instancePath) ?? []), e]);
  const out: ErrorObject[] = [];
  for (const [path, es] of byPath) {
    const union = es.find((e) => e.keyword === 'anyOf');
    if (union) {
      const size = es.some((e) => e.keyword === 'pattern') || es.some((e) => e.params?.type === 'integer');
      out.push({ ...union, message: size ? 'must be a size: bytes as an integer or a string like "256MiB"' : `must be one of the allowed forms${path.includes('nics') ? ' ("user" or {link: VM})' : ''}` });
    } else out.push(...es);
  }
  return out;
}

function normalise(s: ScenarioFile, file: string): Scenario {
  return {
    name: s.name, description: s.description, file, seed: s.seed, store: s.store, deadline: s.deadline, schedule: s.schedule,
    // absolute: the path that was checked, and qemu-img would read a relative backing file
    // relative to the overlay's directory
    image: s.image ? { disk: resolveDisk(file, s.image.disk), format: s.image.format ?? 'qcow2' } : undefined,
    steps: s.steps as Step[],
    vms: s.vms.map((v) => {
      const memoryMiB = sizeBytes(v.memory) / 2 ** 20;
      const nvdimms = (v.nvdimms ?? []).map((n) => ({
        sizeMiB: sizeBytes(n.size) / 2 ** 20, node: n.node, labelKiB: n.label ? sizeBytes(n.label) / 1024 : 0, access: n.access ?? 'shared' as const,
      }));
      return {
        name: v.name, vcpus: v.vcpus, memoryMiB,
        maxMemoryMiB: v.maxMemory ? sizeBytes(v.maxMemory) / 2 ** 20 : memoryMiB + nvdimms.reduce((a, n) => a + n.sizeMiB, 0),
        numa: v.numa?.map((c) => ({ cpus: c.cpus, memoryMiB: sizeBytes(c.memory) / 2 ** 20, distances: c.distances, hostNode: c.hostNode })),
        hmat: v.hmat, nvdimms,
        nics: (v.nics ?? ['user']).map((n) => (n === 'user' ? { kind: 'user' as const } : { kind: 'link' as const, peer: n.link })),
        code: v.code ?? false,
        ...(v.power ? { power: v.power } : {}),
      };
    }),
  };
}

/** Parse and validate scenario text. Throws ScenarioError listing every problem found: schema
 *  problems, else every semantic one (see rules.ts). Host files (image.disk) are checked only
 *  when `opts.checkFile` is given (loadScenario does). */
export function parseScenario(text: string, file: string, opts: RuleOptions = {}): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, merge: true });
  if (doc.errors.length) {
    throw new ScenarioError(file, doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}`, line: e.linePos?.[0].line })));
  }
  const data = doc.toJS();
  normaliseParallel(data);
  const problem = (path: (string | number)[], message: string): Problem => ({ path: pretty(path), message, line: lineOf(doc, lc, path) });
  if (!validate(data)) {
    const seen = new Set<string>();
    const problems = simplify(validateErrors() ?? []).map(ajvProblem).map((p) => problem(p.path, p.message))
      .filter((p) => !seen.has(p.path + p.message) && seen.add(p.path + p.message));
    throw new ScenarioError(file, problems);
  }
  const sem = semanticProblems(data as ScenarioFile, file, opts).map((p) => problem(p.path, p.message));
  // in file order (stable: problems of one line keep the order the rules found them in)
  if (sem.length) throw new ScenarioError(file, sem.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  return normalise(data as ScenarioFile, file);
}

export async function loadScenario(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ScenarioError(file, [{ path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  return parseScenario(text, file, { checkFile: readableFile });
}

/** What is wrong with a host file the scenario names (undefined: a readable regular file). */
export function readableFile(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'is not a regular file';
    accessSync(path, constants.R_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${code ?? (e as Error).message})`;
  }
}
