// v1 Pod manifests → PodModel, validated and defaulted the way the API server would. The rules and
// their wording follow kubernetes/kubernetes pkg/apis/core/validation/validation.go
// (validateContainers, validateInitContainers, validateContainerCommon, validateRestartPolicy,
// ValidateResourceRequirements, ValidateResourceQuantityValue, validateContainerResourceName),
// pkg/apis/core/v1/defaults.go (SetDefaults_Pod: request = limit when only a limit is set),
// pkg/apis/core/helper/qos/qos.go (ComputePodQOS), and apimachinery's field.Error formatting
// ("Required value", `Invalid value: "x": …`, `Unsupported value: "x": supported values: …`).
// Differences, on purpose: a path names a map key as `.cpu` (k8s prints `[cpu]`); a wrong JSON
// type is a field error here (the API server fails decoding the whole object); an unparseable
// quantity is reported at its field (the API server fails decoding, with no path).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { ContainerModel, FieldError, PodModel, ResourceList } from './model.js';
import type { ContainerKind } from './run-plan.js';
import {
  addQuantity, compareQuantity, isNegative, milliValue, parseQuantity, type Quantity, QuantityError, quantityString, value,
} from './quantity.js';

/** One problem of a manifest file; `document` is 1-based, set for files with several documents. */
export interface PodFileError extends FieldError { document?: number }

export class PodSpecError extends Error {
  constructor(readonly file: string, readonly errors: PodFileError[]) {
    const lines = errors.map((e) => `${e.document === undefined ? file : `${file} (document ${e.document})`}: ${e.path ? `${e.path}: ` : ''}${e.message}`);
    super(`invalid pod manifest ${file} (${errors.length} error${errors.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
    this.name = 'PodSpecError';
  }
}

// ---------------------------------------------------------------- field.Error wording
const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v) ?? String(v));
const required = (detail = ''): string => `Required value${detail ? `: ${detail}` : ''}`;
const invalid = (v: unknown, detail: string): string => `Invalid value: ${show(v)}: ${detail}`;
const forbidden = (detail: string): string => `Forbidden: ${detail}`;
const duplicate = (v: string): string => `Duplicate value: ${show(v)}`;
const unsupported = (v: unknown, valid: string[]): string => `Unsupported value: ${show(v)}: supported values: ${valid.map((x) => JSON.stringify(x)).join(', ')}`;

// apimachinery pkg/api/validate/content (IsDNS1123Label / IsDNS1123Subdomain, RegexError wording)
const LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const SUBDOMAIN_FMT = `${LABEL_FMT}(\\.${LABEL_FMT})*`;
const LABEL_RE = new RegExp(`^${LABEL_FMT}$`);
const SUBDOMAIN_RE = new RegExp(`^${SUBDOMAIN_FMT}$`);
function dns1123Label(v: string): string[] {
  const errs = v.length > 63 ? ['must be no more than 63 characters'] : [];
  if (!LABEL_RE.test(v)) {
    errs.push(SUBDOMAIN_RE.test(v) ? 'must not contain dots'
      : `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', '123-abc'; regex: '${LABEL_FMT}')`);
  }
  return errs;
}
function dns1123Subdomain(v: string): string[] {
  const errs = v.length > 253 ? ['must be no more than 253 characters'] : [];
  if (!SUBDOMAIN_RE.test(v)) {
    errs.push(`a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com'; regex: '${SUBDOMAIN_FMT}')`);
  }
  return errs;
}

// ---------------------------------------------------------------- typed reads with paths
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const key = (path: string, k: string): string => (/^[A-Za-z0-9_-]+$/.test(k) ? `${path}.${k}` : `${path}[${k}]`);

class Errors {
  list: FieldError[] = [];
  add(path: string, message: string): void { this.list.push({ path, message }); }
  // null is "absent", as encoding/json leaves a Go field at its zero value
  str(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null || typeof v === 'string') return v ?? undefined;
    this.add(path, invalid(v, 'must be a string'));
    return undefined;
  }
  obj(v: unknown, path: string): Obj | undefined {
    if (v === undefined || v === null || isObj(v)) return v ?? undefined;
    this.add(path, invalid(v, 'must be an object'));
    return undefined;
  }
  arr(v: unknown, path: string): unknown[] | undefined {
    if (v === undefined || v === null || Array.isArray(v)) return v ?? undefined;
    this.add(path, invalid(v, 'must be a list'));
    return undefined;
  }
  /** a string that must be present and non-empty ("Required value" otherwise) */
  required(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null || v === '') { this.add(path, required()); return undefined; }
    return this.str(v, path);
  }
  strings(v: unknown, path: string): string[] {
    return (this.arr(v, path) ?? []).flatMap((s, i) => this.str(s, `${path}[${i}]`) ?? []);
  }
}

// ---------------------------------------------------------------- resources
interface Resources { requests: Map<string, Quantity>; limits: Map<string, Quantity> }

/**
 * validateContainerResourceName, simplified: a name without "/" must be a standard container
 * resource (cpu, memory, ephemeral-storage, hugepages-<size>); a name with "/" (extended resource)
 * is accepted. Only cpu and memory are used by the model; the others are validated and dropped.
 */
function resourceNameError(name: string): string | undefined {
  if (name.includes('/') || ['cpu', 'memory', 'ephemeral-storage'].includes(name) || name.startsWith('hugepages-')) return undefined;
  return invalid(name, 'must be a standard resource for containers');
}
// helper.IsOvercommitAllowed: native (no domain, or *kubernetes.io/) and not hugepages
const overcommitAllowed = (name: string): boolean => (!name.includes('/') || name.includes('kubernetes.io/')) && !name.startsWith('hugepages-');

function quantities(e: Errors, raw: unknown, path: string): Map<string, Quantity> {
  const out = new Map<string, Quantity>();
  for (const [name, v] of Object.entries(e.obj(raw, path) ?? {})) {
    const p = key(path, name);
    const nameErr = resourceNameError(name);
    if (nameErr) e.add(p, nameErr);
    if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) {
      // YAML already rounded this integer to a double; its digits are gone
      e.add(p, invalid(v, 'integer too large to read exactly from a YAML number; quote it'));
      continue;
    }
    if (typeof v !== 'string' && typeof v !== 'number') { e.add(p, invalid(v, 'must be a quantity (a string or a number)')); continue; }
    let q: Quantity;
    try {
      q = parseQuantity(v);
      // the model converts cpu and memory; refuse what cannot be an integer at all ("1e99999")
      if (name === 'cpu') milliValue(q); else if (name === 'memory') value(q);
    } catch (err) {
      if (!(err instanceof QuantityError)) throw err;
      e.add(p, invalid(v, err.detail));
      continue;
    }
    // ValidateResourceQuantityValue: non-negative; no precision rule for cpu (see validateResources)
    if (isNegative(q)) e.add(p, invalid(quantityString(q), 'must be greater than or equal to 0'));
    if (!nameErr) out.set(name, q);
  }
  return out;
}

/**
 * ValidateResourceRequirements after SetDefaults_Pod. Kubernetes has no precision rule for cpu:
 * ValidateResourceQuantityValue only checks sign (and integrality of integer resources such as
 * pods/services), so "0.0001" cpu is accepted and stored as "100u"; kubelet reads it with
 * MilliValue(), which rounds up to 1m. The model does the same (milliValue rounds up).
 */
function validateResources(e: Errors, raw: unknown, path: string): Resources {
  const r = e.obj(raw, path) ?? {};
  const limits = quantities(e, r.limits, `${path}.limits`);
  const requests = quantities(e, r.requests, `${path}.requests`);
  for (const [name, req] of requests) {
    const lim = limits.get(name);
    if (lim) {
      const c = compareQuantity(req, lim);
      if (c !== 0 && !overcommitAllowed(name)) e.add(`${path}.requests`, invalid(quantityString(req), `must be equal to ${name} limit of ${quantityString(lim)}`));
      else if (c > 0) e.add(`${path}.requests`, invalid(quantityString(req), `must be less than or equal to ${name} limit of ${quantityString(lim)}`));
    } else if (!overcommitAllowed(name)) {
      e.add(`${path}.limits`, required('Limit must be set for non overcommitable resources'));
    }
  }
  for (const [name, lim] of limits) if (!requests.has(name)) requests.set(name, lim); // SetDefaults_Pod
  return { requests, limits };
}

function toModel(list: Map<string, Quantity>): ResourceList {
  const out: ResourceList = {};
  const cpu = list.get('cpu');
  const memory = list.get('memory');
  if (cpu) out.cpu = milliValue(cpu);
  if (memory) out.memory = value(memory);
  return out;
}

// ---------------------------------------------------------------- containers
interface ParsedContainer { model: ContainerModel; resources: Resources }

function validateContainer(e: Errors, raw: unknown, path: string, init: boolean): ParsedContainer | undefined {
  if (!isObj(raw)) { e.add(path, invalid(raw, 'must be an object')); return undefined; }
  const name = e.required(raw.name, `${path}.name`) ?? '';
  if (name) for (const msg of dns1123Label(name)) e.add(`${path}.name`, invalid(name, msg));
  const image = e.required(raw.image, `${path}.image`) ?? '';
  // validateContainerOnlyForPod: the whitespace rule applies to pods, not to pod templates
  if (image && image.trim() !== image) e.add(`${path}.image`, invalid(image, 'must not have leading or trailing whitespace'));
  const command = [...e.strings(raw.command, `${path}.command`), ...e.strings(raw.args, `${path}.args`)];

  const env: Record<string, string> = {};
  for (const [i, item] of (e.arr(raw.env, `${path}.env`) ?? []).entries()) {
    const p = `${path}.env[${i}]`;
    const v = e.obj(item, p);
    if (!v) continue;
    const n = e.required(v.name, `${p}.name`);
    if (!n) continue;
    const val = e.str(v.value, `${p}.value`);
    if (v.valueFrom === undefined || v.valueFrom === null) env[n] = val ?? ''; // valueFrom entries are not resolved here
  }

  let kind: ContainerKind = init ? 'init' : 'app';
  if (raw.restartPolicy !== undefined && raw.restartPolicy !== null) {
    const p = `${path}.restartPolicy`;
    if (!init) e.add(p, forbidden('may not be set for non-init containers'));
    else if (raw.restartPolicy === 'Always') kind = 'sidecar';
    else e.add(p, unsupported(raw.restartPolicy, ['Always']));
  }
  const resources = validateResources(e, raw.resources, `${path}.resources`);
  return {
    model: { name, kind, image, command, env, requests: toModel(resources.requests), limits: toModel(resources.limits) },
    resources,
  };
}

// ---------------------------------------------------------------- QoS (qos.go ComputePodQOS)
function qosClass(containers: ParsedContainer[]): PodModel['qosClass'] {
  const sum = (which: 'requests' | 'limits'): Map<string, Quantity> => {
    const out = new Map<string, Quantity>();
    for (const c of containers) {
      for (const name of ['cpu', 'memory']) {
        const q = c.resources[which].get(name);
        if (q && q.mantissa > 0n) out.set(name, out.has(name) ? addQuantity(out.get(name)!, q) : q);
      }
    }
    return out;
  };
  const requests = sum('requests');
  const limits = sum('limits');
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  // app and init containers alike: every one needs non-zero cpu and memory limits, and the sums must match
  const allLimited = containers.every((c) => ['cpu', 'memory'].every((n) => (c.resources.limits.get(n)?.mantissa ?? 0n) > 0n));
  const equal = [...requests].every(([n, q]) => limits.has(n) && compareQuantity(limits.get(n)!, q) === 0);
  return allLimited && equal && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

/** The deterministic pod uid when the manifest has none: sha256(namespace/name) shaped as a UUIDv8. */
function derivedUid(namespace: string, name: string): string {
  const h = createHash('sha256').update(`${namespace}/${name}`).digest();
  h[6] = (h[6] & 0x0f) | 0x80; // version 8 (custom)
  h[8] = (h[8] & 0x3f) | 0x80; // RFC 9562 variant
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'] as const;

/**
 * Validate one decoded manifest (a YAML/JSON document). Errors carry paths but not the file:
 * loadPods and PodSpecError add `<file> (document N): ` in front. `file` is recorded in the model;
 * `docIndex` (1-based) is not needed to validate and is accepted for callers' symmetry with loadPods.
 */
export function validatePod(raw: unknown, file: string, docIndex?: number): { pod?: PodModel; errors: FieldError[] } {
  const e = new Errors();
  if (!isObj(raw)) { e.add('', invalid(raw, 'must be an object (a v1 Pod)')); return { errors: e.list }; }

  const apiVersion = e.required(raw.apiVersion, 'apiVersion');
  if (apiVersion !== undefined && apiVersion !== 'v1') e.add('apiVersion', unsupported(apiVersion, ['v1']));
  const kind = e.required(raw.kind, 'kind');
  if (kind !== undefined && kind !== 'Pod') e.add('kind', unsupported(kind, ['Pod']));
  if (e.list.length > 0) return { errors: e.list }; // not a v1 Pod: its body would only add noise

  // ValidateObjectMeta with ValidatePodName (DNS-1123 subdomain) and a DNS-1123 label namespace
  const meta = e.obj(raw.metadata, 'metadata') ?? {};
  const name = e.str(meta.name, 'metadata.name') ?? '';
  if (meta.name === undefined || meta.name === null || meta.name === '') {
    e.add('metadata.name', required(meta.generateName ? 'generateName is not supported here' : 'name or generateName is required'));
  } else if (name) for (const msg of dns1123Subdomain(name)) e.add('metadata.name', invalid(name, msg));
  const namespace = e.str(meta.namespace, 'metadata.namespace') || 'default';
  for (const msg of dns1123Label(namespace)) e.add('metadata.namespace', invalid(namespace, msg));
  const uid = e.str(meta.uid, 'metadata.uid') || derivedUid(namespace, name);

  const spec = e.obj(raw.spec, 'spec');
  if (!spec) {
    if (raw.spec === undefined || raw.spec === null) e.add('spec', required());
    return { errors: e.list };
  }
  // validateContainers (names unique among them), then validateInitContainers (unique among all)
  const appRaw = e.arr(spec.containers, 'spec.containers');
  if (Array.isArray(spec.containers) ? spec.containers.length === 0 : spec.containers === undefined || spec.containers === null) {
    e.add('spec.containers', required());
  }
  const initRaw = e.arr(spec.initContainers, 'spec.initContainers') ?? [];
  const names = new Set<string>();
  const parse = (list: unknown[], field: string, init: boolean): ParsedContainer[] => list.flatMap((c, i) => {
    const parsed = validateContainer(e, c, `spec.${field}[${i}]`, init);
    if (!parsed) return [];
    const n = parsed.model.name;
    if (n && names.has(n)) e.add(`spec.${field}[${i}].name`, duplicate(n));
    else if (n) names.add(n);
    return [parsed];
  });
  const apps = parse(appRaw ?? [], 'containers', false);
  const inits = parse(initRaw, 'initContainers', true);

  // validateRestartPolicy; SetDefaults_PodSpec turns "" into Always
  const restartPolicy = e.str(spec.restartPolicy, 'spec.restartPolicy') || 'Always';
  if (!(RESTART_POLICIES as readonly string[]).includes(restartPolicy)) e.add('spec.restartPolicy', unsupported(restartPolicy, [...RESTART_POLICIES]));

  const nodeSelector: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.obj(spec.nodeSelector, 'spec.nodeSelector') ?? {})) {
    const s = e.str(v, key('spec.nodeSelector', k));
    if (s !== undefined) nodeSelector[k] = s;
  }
  // validateOverhead reuses the container rules with the overhead as limits
  const overhead = toModel(quantities(e, spec.overhead, 'spec.overhead'));

  if (e.list.length > 0) return { errors: e.list };
  const all = [...inits, ...apps];
  return {
    pod: {
      file, name, namespace, uid,
      restartPolicy: restartPolicy as PodModel['restartPolicy'],
      nodeSelector, overhead,
      containers: all.map((c) => c.model),
      qosClass: qosClass(all),
      raw: raw as Pod,
    },
    errors: [],
  };
}

/**
 * Read a YAML file of one or more v1 Pod documents (empty documents are skipped). Throws
 * PodSpecError listing every problem of every document, or when the file has no Pod at all.
 */
export async function loadPods(file: string): Promise<PodModel[]> {
  return podsOfText(await readFile(file, 'utf8'), file);
}

/** loadPods for synchronous callers (scenario checks). */
export function loadPodsSync(file: string): PodModel[] {
  return podsOfText(readFileSync(file, 'utf8'), file);
}

function podsOfText(text: string, file: string): PodModel[] {
  const docs = parseAllDocuments(text);
  const multi = docs.length > 1;
  const errors: PodFileError[] = [];
  const pods: PodModel[] = [];
  const seen = new Set<string>();
  docs.forEach((doc, i) => {
    const where = multi ? { document: i + 1 } : {};
    if (doc.errors.length > 0) {
      for (const err of doc.errors) errors.push({ ...where, path: '', message: `YAML: ${err.message.split('\n')[0].replace(/:$/, '')}` });
      return;
    }
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) return;
    const r = validatePod(raw, file, i + 1);
    errors.push(...r.errors.map((x) => ({ ...where, ...x })));
    if (!r.pod) return;
    const id = `${r.pod.namespace}/${r.pod.name}`;
    if (seen.has(id)) errors.push({ ...where, path: 'metadata.name', message: duplicate(r.pod.name) }); // a second create would be AlreadyExists
    seen.add(id);
    pods.push(r.pod);
  });
  if (errors.length === 0 && pods.length === 0) errors.push({ path: '', message: 'no Pod documents' });
  if (errors.length > 0) throw new PodSpecError(file, errors);
  return pods;
}
