#!/usr/bin/env node
// Guest (and host) CLI of the persistent heap: `node dist/src/pheap/cli.js <command> ...`.
// Prints exactly one JSON object on stdout. Exit codes: 0 ok, 1 the heap failed a check or is
// corrupt (a verdict about the SUT), 2 bad usage or an infrastructure error (no verdict).
// No dependencies beyond Node 20 itself, so dist/ can be copied into a guest as is.
//
//   build   --dev PATH --seed N [--size BYTES] [--slab-size BYTES] [--scale X] [--access A] [--base 0x..]
//   open    --dev PATH [--base 0x..] [--stop-after-slabs K] [--torn] [--batch-bytes B] [--access A]
//   verify  --dev PATH --seed N [--scale X] [--min-mutations N] [--base 0x..] [--access A]
//   mutate  --dev PATH --seed N --ops N [--crash-at OP:STEP] [--ack] [--access A]
//   corrupt --dev PATH --what header|registry|slab-header|slab-table|pointer [--seed N]
// --access auto|mmap|file (auto: mmap through the native addon when built, else file).
// Env: PHEAP_SWIZZLE_STOP_AFTER_SLABS=K, PHEAP_SWIZZLE_TORN=1 (swizzle cut hook for any open),
//      PHEAP_MUTATE_CRASH=OP:STEP (same as --crash-at), PHEAP_NATIVE=path/to/pheap_native.node|off.

import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { HeapCorruptError, SwizzleInterruptedError } from './errors.js';
import { Heap } from './heap.js';
import { HEADER_SLOTS, SLAB_MAGIC, decodeHeaderSlot, hex, readCurrentHeader } from './layout.js';
import { type Access, regionSize } from './mmap.js';
import { Rng } from './prng.js';
import { validateHeap } from './validate.js';
import { MUTATE_STEPS, type MutateStep, SimulatedCrash, WORKLOAD_TYPES, build, check, mutate } from './workload.js';

class UsageError extends Error {}

const OPTIONS = {
  dev: { type: 'string' },
  seed: { type: 'string' },
  size: { type: 'string' },
  'slab-size': { type: 'string' },
  scale: { type: 'string' },
  access: { type: 'string' },
  base: { type: 'string' },
  'stop-after-slabs': { type: 'string' },
  torn: { type: 'boolean' },
  'batch-bytes': { type: 'string' },
  'min-mutations': { type: 'string' },
  ops: { type: 'string' },
  'crash-at': { type: 'string' },
  ack: { type: 'boolean' },
  what: { type: 'string' },
} as const;

type Values = ReturnType<typeof parse>['values'];
const parse = (argv: string[]) => parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });

function num(v: Values, name: keyof Values, required = false): number | undefined {
  const s = v[name];
  if (s === undefined) {
    if (required) throw new UsageError(`--${name} is required`);
    return undefined;
  }
  const n = Number(s);
  if (typeof s !== 'string' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${String(s)}`);
  return n;
}
function dev(v: Values): string {
  if (!v.dev) throw new UsageError('--dev PATH is required');
  return v.dev;
}
function access(v: Values): Access {
  const a = v.access ?? 'auto';
  if (a !== 'auto' && a !== 'mmap' && a !== 'file') throw new UsageError(`--access must be auto|mmap|file`);
  return a;
}
function base(v: Values): bigint | undefined {
  if (v.base === undefined) return undefined;
  try {
    return BigInt(v.base);
  } catch {
    throw new UsageError(`--base must be an integer like 0x7f0000000000, got ${v.base}`);
  }
}
const ms = (t0: number) => Math.round((performance.now() - t0) * 1000) / 1000;

function cmdBuild(v: Values): Record<string, unknown> {
  const t0 = performance.now();
  const seed = num(v, 'seed', true)!;
  const heap = Heap.create(dev(v), { size: num(v, 'size'), slabSize: num(v, 'slab-size'), types: WORKLOAD_TYPES, access: access(v), base: base(v) });
  try {
    const r = build(heap, seed, num(v, 'scale') ?? 1);
    return { ok: true, path: heap.path, access: heap.access, base: hex(heap.base), size: heap.size, seed, ...r, stats: heap.stats(), ms: ms(t0) };
  } finally {
    heap.close();
  }
}

function cmdOpen(v: Values): Record<string, unknown> {
  const heap = Heap.open(dev(v), {
    access: access(v),
    base: base(v),
    stopAfterSlabs: num(v, 'stop-after-slabs'),
    tornSlab: v.torn ?? undefined,
    batchBytes: num(v, 'batch-bytes'),
  });
  const out = { ok: true, ...heap.openReport, stats: heap.stats() };
  heap.close();
  return out;
}

function cmdVerify(v: Values): [Record<string, unknown>, number] {
  const seed = num(v, 'seed', true)!;
  const heap = Heap.open(dev(v), { access: access(v), base: base(v) });
  try {
    const validation = validateHeap(heap);
    const checked = check(heap, seed, num(v, 'scale') ?? 1, { minMutations: num(v, 'min-mutations') });
    const ok = validation.ok && checked.ok;
    return [{ ok, open: heap.openReport, validation, check: checked, stats: heap.stats() }, ok ? 0 : 1];
  } finally {
    heap.close();
  }
}

function parseCrashAt(s: string | undefined): { op: number; step: MutateStep } | undefined {
  if (!s) return undefined;
  const [op, step] = s.split(':');
  if (!MUTATE_STEPS.includes(step as MutateStep) || !Number.isInteger(Number(op)))
    throw new UsageError(`--crash-at must be OP:STEP with STEP in ${MUTATE_STEPS.join('|')}`);
  return { op: Number(op), step: step as MutateStep };
}

function cmdMutate(v: Values): Record<string, unknown> {
  const t0 = performance.now();
  const seed = num(v, 'seed', true)!;
  const ops = num(v, 'ops', true)!;
  const crashAt = parseCrashAt(v['crash-at'] ?? process.env.PHEAP_MUTATE_CRASH);
  const heap = Heap.open(dev(v), { access: access(v), base: base(v) });
  let acked = 0;
  const onAck = (seq: number) => {
    acked = seq;
    if (v.ack) process.stderr.write(`ack ${seq}\n`);
  };
  try {
    const r = mutate(heap, seed, ops, { crashAt, onAck });
    heap.close();
    return { ok: true, open: heap.openReport, ...r, ms: ms(t0) };
  } catch (e) {
    if (e instanceof SimulatedCrash) return { ok: true, crashed: true, message: e.message, acked, open: heap.openReport };
    heap.crash();
    throw e;
  }
}

// ---- corrupt: raw byte edits, without trusting the heap code that is under test ----

function rawEdit(path: string, edits: { offset: number; bytes: Uint8Array }[]): { offset: string; before: string; after: string }[] {
  const fd = fs.openSync(path, 'r+');
  try {
    return edits.map(({ offset, bytes }) => {
      const before = Buffer.alloc(bytes.length);
      fs.readSync(fd, before, 0, bytes.length, offset);
      fs.writeSync(fd, bytes, 0, bytes.length, offset);
      return { offset: hex(offset), before: before.toString('hex'), after: Buffer.from(bytes).toString('hex') };
    });
  } finally {
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  }
}

function readRaw(path: string, offset: number, len: number): Buffer {
  const fd = fs.openSync(path, 'r');
  try {
    const b = Buffer.alloc(len);
    fs.readSync(fd, b, 0, len, offset);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

function flipped(path: string, offset: number): { offset: number; bytes: Uint8Array } {
  return { offset, bytes: Uint8Array.of(readRaw(path, offset, 1)[0]! ^ 0x5a) };
}

function cmdCorrupt(v: Values): Record<string, unknown> {
  const path = dev(v);
  const what = v.what;
  const rng = new Rng(num(v, 'seed') ?? 1);
  const head = readRaw(path, 0, 4096);
  const h = readCurrentHeader(head, regionSize(path)).header;
  // assigned slabs, from the raw slab table
  const table = readRaw(path, h.slabTableOffset, 4 * h.slabCount);
  const assigned: number[] = [];
  for (let i = 0; i < h.slabCount; i++) if (table.readUInt32LE(4 * i) !== 0) assigned.push(i);
  const slabAt = (i: number) => h.slabsOffset + i * h.slabSize;
  switch (what) {
    case 'header': {
      // Every slot holding a header (a fresh heap has written only one): the stored region
      // size changes, so the checksum no longer matches and there is no copy to fall back to.
      const slots = HEADER_SLOTS.filter((s) => decodeHeaderSlot(head, s).ok);
      return { ok: true, what, description: `flipped a byte of the region size in header slot(s) ${slots.map((s) => HEADER_SLOTS.indexOf(s)).join(',')}`, edits: rawEdit(path, slots.map((s) => flipped(path, s + 24))) };
    }
    case 'registry':
      // A byte of the first user type's name (type record 2: 24 B head + root type record).
      return { ok: true, what, description: 'flipped a byte inside the type registry body', edits: rawEdit(path, [flipped(path, h.registryOffset + 24 + 64 + 48 * 32 + 16)]) };
    case 'slab-header': {
      const i = assigned[assigned.length > 1 ? 1 + rng.below(assigned.length - 1) : 0]!;
      if (readRaw(path, slabAt(i), 4).readUInt32LE(0) !== SLAB_MAGIC) throw new UsageError(`slab ${i} has no header`);
      return { ok: true, what, slab: i, description: `flipped a byte of the object count in the header of slab ${i}`, edits: rawEdit(path, [flipped(path, slabAt(i) + 12)]) };
    }
    case 'slab-table': {
      const i = assigned[assigned.length - 1]!;
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, 999, true);
      return { ok: true, what, slab: i, description: `slab table entry ${i} now names unknown type 999`, edits: rawEdit(path, [{ offset: h.slabTableOffset + 4 * i, bytes: b }]) };
    }
    case 'pointer': {
      // Needs the object layout: open with the file path at the stored base (no swizzle).
      const heap = Heap.open(path, { access: 'file' });
      try {
        const cands: [number, string, string][] = [];
        for (const s of heap.slabs) {
          if (!s.type || s.type.ptrFields.length === 0 || s.type === heap.types.root) continue;
          for (const ref of heap.objects(s.type))
            for (const f of s.type.ptrFields) if (heap.getRawPtr(ref, f) !== 0n) cands.push([ref, s.type.name, f.name]);
        }
        if (cands.length === 0) throw new UsageError('no non-null pointer to corrupt');
        const [ref, type, field] = cands[rng.below(cands.length)]!;
        const before = heap.getRawPtr(ref, field);
        const after = before + 8n; // 8 bytes into the target: not an object start
        heap.setRawPtr(ref, field, after);
        heap.persist(ref, field);
        const r = heap.resolve(ref)!;
        return {
          ok: true,
          what,
          description: `moved ${type}.${field} of slab ${r.slab.index} object ${r.index} 8 bytes into its target`,
          slab: r.slab.index,
          object: r.index,
          field,
          before: hex(before),
          after: hex(after),
        };
      } finally {
        heap.close();
      }
    }
    default:
      throw new UsageError('--what must be header|registry|slab-header|slab-table|pointer');
  }
}

export function main(argv: string[]): number {
  let out: Record<string, unknown>;
  let code = 0;
  const cmd = argv[0];
  try {
    const { values } = parse(argv.slice(1));
    switch (cmd) {
      case 'build':
        out = cmdBuild(values);
        break;
      case 'open':
        out = cmdOpen(values);
        break;
      case 'verify':
        [out, code] = cmdVerify(values);
        break;
      case 'mutate':
        out = cmdMutate(values);
        break;
      case 'corrupt':
        out = cmdCorrupt(values);
        break;
      default:
        throw new UsageError(`usage: cli.js build|open|verify|mutate|corrupt --dev PATH ... (got ${cmd ?? 'nothing'})`);
    }
  } catch (e) {
    if (e instanceof SwizzleInterruptedError) {
      out = { ok: true, ...e.report };
    } else if (e instanceof HeapCorruptError) {
      out = { ok: false, error: e.name, part: e.part, detail: e.detail, message: e.message };
      code = 1;
    } else {
      const err = e as Error;
      out = { ok: false, error: err.name, message: err.message };
      code = 2;
    }
  }
  process.stdout.write(JSON.stringify({ command: cmd, ...out }) + '\n');
  return code;
}

const invokedDirectly = process.argv[1] && import.meta.url === new URL(`file://${fs.realpathSync(process.argv[1])}`).href;
if (invokedDirectly) process.exitCode = main(process.argv.slice(2));
