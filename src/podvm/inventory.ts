// The VM scheduler's hosts. On this machine a host is a logical slice of the one libvirt (the
// default inventory is this machine as one host); in a lab each host has its libvirt URI.
// Validated before anything starts: every problem names the file and the field path.
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { readdirSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { milliValue, parseQuantity, value } from './quantity.js';
import type { FieldError } from './model.js';
import type { HostCell } from './sizing.js';

const Q = Type.Union([Type.String({ minLength: 1 }), Type.Number()], { description: 'a Kubernetes quantity, e.g. "2", "500m", "3Gi"' });
const Res = Type.Object({ cpu: Type.Optional(Q), memory: Type.Optional(Q) }, { additionalProperties: false });
const HostSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$', description: 'DNS-1123 label, at most 32 characters' }),
  uri: Type.Optional(Type.String({ minLength: 1, description: 'libvirt URI (default qemu:///system: a logical host of this machine)' })),
  cpu: Q,
  memory: Q,
  reserved: Type.Optional(Res),
  numa: Type.Optional(Type.Array(Type.Object({ cpus: Type.Integer({ minimum: 1 }), memory: Q }, { additionalProperties: false }), { minItems: 1 })),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  maxPods: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  vmOverhead: Type.Optional(Type.Object({ memory: Q }, { additionalProperties: false, description: 'memory a podVM costs on the host beyond its RAM (QEMU, TCG translation cache); the larger of this and what was measured is charged' })),
}, { additionalProperties: false });
const InventorySchema = Type.Object({ hosts: Type.Array(HostSchema, { minItems: 1 }) }, { additionalProperties: false });
type HostFile = Static<typeof HostSchema>;

export interface HostDef {
  name: string;
  uri: string;
  /** millicores and bytes */
  capacity: { cpu: bigint; memory: bigint };
  reserved: { cpu: bigint; memory: bigint };
  cells: HostCell[];
  labels: Record<string, string>;
  maxPods: number;
  vmOverheadMemory: bigint;
}

export const DEFAULT_VM_OVERHEAD = 128n * 1024n * 1024n;
export const DEFAULT_MAX_PODS = 110;

export class InventoryError extends Error {
  constructor(readonly file: string, readonly errors: FieldError[]) {
    super(errors.map((e) => `${file}: ${e.path}: ${e.message}`).join('\n'));
  }
}

let ajv: Ajv | undefined;
export function parseInventory(text: string, file: string): HostDef[] {
  let data: unknown;
  try { data = parse(text); } catch (e) { throw new InventoryError(file, [{ path: '(top)', message: `YAML: ${(e as Error).message.split('\n')[0]}` }]); }
  ajv ??= new Ajv({ allErrors: true, strict: false });
  const check = ajv.compile(InventorySchema);
  if (!check(data)) {
    throw new InventoryError(file, (check.errors ?? []).map((e) => ({
      path: e.instancePath.split('/').slice(1).map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i ? `.${s}` : s)).join('') + (e.keyword === 'additionalProperties' ? `.${e.params.additionalProperty}` : e.keyword === 'required' ? `.${e.params.missingProperty}` : '') || '(top)',
      message: e.keyword === 'additionalProperties' ? 'unknown field' : e.keyword === 'required' ? 'Required value' : e.message ?? e.keyword,
    })));
  }
  const errors: FieldError[] = [];
  const hosts = (data as Static<typeof InventorySchema>).hosts.map((h, i) => toHost(h, `hosts[${i}]`, errors));
  const seen = new Map<string, number>();
  hosts.forEach((h, i) => { if (seen.has(h.name)) errors.push({ path: `hosts[${i}].name`, message: `Duplicate value: "${h.name}"` }); seen.set(h.name, i); });
  if (errors.length) throw new InventoryError(file, errors);
  return hosts;
}

function toHost(h: HostFile, at: string, errors: FieldError[]): HostDef {
  const q = (v: string | number | undefined, path: string, kind: 'cpu' | 'memory'): bigint => {
    if (v === undefined) return 0n;
    try {
      const x = parseQuantity(v);
      const n = kind === 'cpu' ? milliValue(x) : value(x);
      if (n < 0n) { errors.push({ path: `${at}.${path}`, message: 'must be greater than or equal to 0' }); return 0n; }
      return n;
    } catch (e) { errors.push({ path: `${at}.${path}`, message: (e as Error).message }); return 0n; }
  };
  const capacity = { cpu: q(h.cpu, 'cpu', 'cpu'), memory: q(h.memory, 'memory', 'memory') };
  const reserved = { cpu: q(h.reserved?.cpu, 'reserved.cpu', 'cpu'), memory: q(h.reserved?.memory, 'reserved.memory', 'memory') };
  if (reserved.cpu > capacity.cpu) errors.push({ path: `${at}.reserved.cpu`, message: 'must be less than or equal to the host\'s cpu' });
  if (reserved.memory > capacity.memory) errors.push({ path: `${at}.reserved.memory`, message: 'must be less than or equal to the host\'s memory' });
  const cells = (h.numa ?? []).map((c, k) => ({ cpus: c.cpus, memory: q(c.memory, `numa[${k}].memory`, 'memory') }));
  if (cells.length) {
    const cellCpus = cells.reduce((a, c) => a + c.cpus, 0);
    const cellMem = cells.reduce((a, c) => a + c.memory, 0n);
    if (BigInt(cellCpus) * 1000n !== capacity.cpu) errors.push({ path: `${at}.numa`, message: `the cells' CPUs add up to ${cellCpus}, the host has ${capacity.cpu}m` });
    if (cellMem !== capacity.memory) errors.push({ path: `${at}.numa`, message: `the cells' memory adds up to ${cellMem} B, the host has ${capacity.memory} B` });
  }
  return {
    name: h.name, uri: h.uri ?? 'qemu:///system', capacity, reserved, cells, labels: h.labels ?? {},
    maxPods: h.maxPods ?? DEFAULT_MAX_PODS,
    vmOverheadMemory: h.vmOverhead ? q(h.vmOverhead.memory, 'vmOverhead.memory', 'memory') : DEFAULT_VM_OVERHEAD,
  };
}

export function loadInventory(file: string): HostDef[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new InventoryError(file, [{ path: '(top)', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]); }
  return parseInventory(text, file);
}

/** This machine as one host: its CPUs, its memory, its NUMA nodes. */
export function thisMachine(name = 'local'): HostDef {
  const n = cpus().length;
  let cells: HostCell[] = [];
  try {
    const nodes = readdirSync('/sys/devices/system/node').filter((d) => /^node\d+$/.test(d));
    if (nodes.length > 1) {
      cells = nodes.map((d) => {
        const list = readFileSync(`/sys/devices/system/node/${d}/cpulist`, 'utf8').trim();
        const count = list ? list.split(',').reduce((a, r) => { const [x, y] = r.split('-').map(Number); return a + (y === undefined ? 1 : y - x + 1); }, 0) : 0;
        const kb = /MemTotal:\s+(\d+) kB/.exec(readFileSync(`/sys/devices/system/node/${d}/meminfo`, 'utf8'));
        return { cpus: count, memory: BigInt(kb ? kb[1] : 0) * 1024n };
      });
    }
  } catch { /* no sysfs NUMA: one cell */ }
  return {
    name, uri: 'qemu:///system', capacity: { cpu: BigInt(n) * 1000n, memory: BigInt(totalmem()) }, reserved: { cpu: 0n, memory: 0n },
    cells, labels: {}, maxPods: DEFAULT_MAX_PODS, vmOverheadMemory: DEFAULT_VM_OVERHEAD,
  };
}
