// Scenario file → validated, normalised Scenario. Every problem names file, line, field path and
// reason; nothing is started before a file is fully valid.
import { readFile } from 'node:fs/promises';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { scenarioJsonSchema, type ScenarioFile, type Step, type VmFile } from './schema.js';

export interface Problem { path: string; message: string; line?: number }

export class ScenarioError extends Error {
  constructor(readonly file: string, readonly problems: Problem[]) {
    super(problems.map((p) => `${file}${p.line ? `:${p.line}` : ''}: ${p.path || '(top)'}: ${p.message}`).join('\n'));
  }
}

export interface NumaCellN { cpus: number[]; memoryMiB: number; distances?: number[] }
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
}
export interface Scenario {
  name: string;
  description?: string;
  file: string;
  seed?: number;
  image?: { disk: string; format: 'qcow2' | 'raw' };
  store?: 'auto' | 'embedded' | 'external' | 'testcontainers-minio';
  vms: VmN[];
  steps: Step[];
}

const UNITS: Record<string, number> = { B: 1, K: 1024, KiB: 1024, M: 1024 ** 2, MiB: 1024 ** 2, G: 1024 ** 3, GiB: 1024 ** 3 };
export function sizeBytes(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)$/.exec(v);
  if (!m || !UNITS[m[2]]) throw new Error(`bad size "${v}"`);
  return Math.round(Number(m[1]) * UNITS[m[2]]);
}

const ajv = new Ajv({ allErrors: true, discriminator: true, strict: false });
const validate = ajv.compile(scenarioJsonSchema());

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
    default: return { path, message: e.message ?? e.keyword };
  }
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

const STORE_STEPS = new Set(['ha-agent', 'store-outage', 'corrupt-chunk', 'check-ha']);

/** Rules the schema cannot express. */
function semanticProblems(s: ScenarioFile): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const names = new Set<string>();
  s.vms.forEach((vm, i) => {
    if (names.has(vm.name)) out.push({ path: ['vms', i, 'name'], message: `duplicate VM name "${vm.name}"` });
    names.add(vm.name);
    const memMiB = sizeBytes(vm.memory) / 2 ** 20;
    const cells = vm.numa ?? [];
    const cpuSeen = new Set<number>();
    cells.forEach((c, ci) => c.cpus.forEach((cpu, k) => {
      if (cpu >= vm.vcpus) out.push({ path: ['vms', i, 'numa', ci, 'cpus', k], message: `vCPU ${cpu} does not exist (vcpus is ${vm.vcpus})` });
      if (cpuSeen.has(cpu)) out.push({ path: ['vms', i, 'numa', ci, 'cpus', k], message: `vCPU ${cpu} is already in another cell` });
      cpuSeen.add(cpu);
    }));
    cells.forEach((c, ci) => {
      if (c.distances && c.distances.length !== cells.length) out.push({ path: ['vms', i, 'numa', ci, 'distances'], message: `needs ${cells.length} entries, one per cell` });
      if (c.distances && c.distances[ci] !== 10) out.push({ path: ['vms', i, 'numa', ci, 'distances', ci], message: 'distance of a cell to itself must be 10' });
    });
    if (cells.length) {
      const sum = cells.reduce((a, c) => a + sizeBytes(c.memory), 0) / 2 ** 20;
      if (sum !== memMiB) out.push({ path: ['vms', i, 'numa'], message: `cells add up to ${sum} MiB but memory is ${memMiB} MiB` });
    }
    const nvMiB = (vm.nvdimms ?? []).reduce((a, n) => a + sizeBytes(n.size) / 2 ** 20, 0);
    (vm.nvdimms ?? []).forEach((n, ni) => {
      const mib = sizeBytes(n.size) / 2 ** 20;
      if (!Number.isInteger(mib) || mib < 2) out.push({ path: ['vms', i, 'nvdimms', ni, 'size'], message: 'must be a whole number of MiB, at least 2MiB' });
      if (!cells.length) out.push({ path: ['vms', i, 'nvdimms', ni], message: 'an NVDIMM needs guest NUMA cells (add "numa")' });
      else if (n.node >= cells.length) out.push({ path: ['vms', i, 'nvdimms', ni, 'node'], message: `no NUMA cell ${n.node} (the VM has ${cells.length})` });
      if (vm.maxMemory !== undefined && memMiB + mib > sizeBytes(vm.maxMemory) / 2 ** 20) {
        out.push({ path: ['vms', i, 'nvdimms', ni, 'size'], message: `${mib} MiB NVDIMM does not fit: memory ${memMiB} MiB + NVDIMMs exceed maxMemory ${sizeBytes(vm.maxMemory) / 2 ** 20} MiB` });
      }
    });
    if (vm.maxMemory !== undefined && sizeBytes(vm.maxMemory) / 2 ** 20 < memMiB + nvMiB && !(vm.nvdimms ?? []).length) {
      out.push({ path: ['vms', i, 'maxMemory'], message: 'is smaller than memory' });
    }
    (vm.nics ?? []).forEach((n, ni) => {
      if (typeof n === 'object' && !s.vms.some((v) => v.name === n.link)) out.push({ path: ['vms', i, 'nics', ni, 'link'], message: `no VM named "${n.link}"` });
    });
  });
  const written = new Set<string>();
  s.steps.forEach((st, i) => {
    if ('vm' in st && !names.has(st.vm)) out.push({ path: ['steps', i, 'vm'], message: `no VM named "${st.vm}"` });
    const vm = 'vm' in st ? s.vms.find((v) => v.name === st.vm) : undefined;
    if (st.do === 'pmem-write') {
      const idx = st.nvdimm ?? 0;
      const nv = vm?.nvdimms?.[idx];
      if (vm && !nv) out.push({ path: ['steps', i, 'nvdimm'], message: `VM "${vm.name}" has no NVDIMM ${idx}` });
      if (nv && sizeBytes(st.offset ?? 0) + sizeBytes(st.length) > sizeBytes(nv.size)) out.push({ path: ['steps', i, 'length'], message: 'offset + length is beyond the NVDIMM' });
      // O_DIRECT I/O on /dev/pmemN works in whole blocks.
      if (sizeBytes(st.offset ?? 0) % 4096) out.push({ path: ['steps', i, 'offset'], message: 'must be a multiple of 4096' });
      if (sizeBytes(st.length) % 4096 || sizeBytes(st.length) === 0) out.push({ path: ['steps', i, 'length'], message: 'must be a non-zero multiple of 4096' });
      written.add(st.pattern);
    }
    for (const f of ['primary', 'standby', 'peer'] as const) {
      const v = (st as Record<string, unknown>)[f];
      if (typeof v === 'string' && !names.has(v)) out.push({ path: ['steps', i, f], message: `no VM named "${v}"` });
    }
    if (STORE_STEPS.has(st.do) && !s.store) out.push({ path: ['steps', i, 'do'], message: `step "${st.do}" needs an object store: add "store: auto" to the scenario` });
    if (st.do === 'snapshot-pmem') written.add(st.as);
    if (st.do === 'check-ha' && st.previous && !written.has(st.previous)) out.push({ path: ['steps', i, 'previous'], message: `no earlier snapshot-pmem named "${st.previous}"` });
    if ((st.do === 'check-pmem' || st.do === 'check-backing-file') && !written.has(st.pattern)) {
      out.push({ path: ['steps', i, 'pattern'], message: `pattern "${st.pattern}" is not written by an earlier pmem-write step` });
    }
  });
  return out;
}

function normalise(s: ScenarioFile, file: string): Scenario {
  return {
    name: s.name, description: s.description, file, seed: s.seed, store: s.store,
    image: s.image ? { disk: s.image.disk, format: s.image.format ?? 'qcow2' } : undefined,
    steps: s.steps,
    vms: s.vms.map((v) => {
      const memoryMiB = sizeBytes(v.memory) / 2 ** 20;
      const nvdimms = (v.nvdimms ?? []).map((n) => ({
        sizeMiB: sizeBytes(n.size) / 2 ** 20, node: n.node, labelKiB: n.label ? sizeBytes(n.label) / 1024 : 0, access: n.access ?? 'shared' as const,
      }));
      return {
        name: v.name, vcpus: v.vcpus, memoryMiB,
        maxMemoryMiB: v.maxMemory ? sizeBytes(v.maxMemory) / 2 ** 20 : memoryMiB + nvdimms.reduce((a, n) => a + n.sizeMiB, 0),
        numa: v.numa?.map((c) => ({ cpus: c.cpus, memoryMiB: sizeBytes(c.memory) / 2 ** 20, distances: c.distances })),
        hmat: v.hmat, nvdimms,
        nics: (v.nics ?? ['user']).map((n) => (n === 'user' ? { kind: 'user' as const } : { kind: 'link' as const, peer: n.link })),
        code: v.code ?? false,
      };
    }),
  };
}

/** Parse and validate scenario text. Throws ScenarioError listing every problem found. */
export function parseScenario(text: string, file: string): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, merge: true });
  if (doc.errors.length) {
    throw new ScenarioError(file, doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}`, line: e.linePos?.[0].line })));
  }
  const data = doc.toJS();
  const problem = (path: (string | number)[], message: string): Problem => ({ path: pretty(path), message, line: lineOf(doc, lc, path) });
  if (!validate(data)) {
    const seen = new Set<string>();
    const problems = simplify(validate.errors ?? []).map(ajvProblem).map((p) => problem(p.path, p.message))
      .filter((p) => !seen.has(p.path + p.message) && seen.add(p.path + p.message));
    throw new ScenarioError(file, problems);
  }
  const sem = semanticProblems(data as ScenarioFile);
  if (sem.length) throw new ScenarioError(file, sem.map((p) => problem(p.path, p.message)));
  return normalise(data as ScenarioFile, file);
}

export async function loadScenario(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ScenarioError(file, [{ path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  return parseScenario(text, file);
}
