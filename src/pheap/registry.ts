// The persistent type registry: for each type id, its name, object size and every field
// (pointer fields with the type they must point to). The swizzler reads only the pointer
// offsets; the validator and the typed accessors read the rest.
//
// Binary form (at header.registryOffset, header.registryBytes long):
//   0  magic "PHEAPREG"   8  version u32   12 typeCount u32   16 bodyBytes u32   20 crc32 u32
//   24 body: per type  { id u32, size u32, fieldCount u32, nameLen u32, name[48] }
//                      then fieldCount x { kind u32, offset u32, target u32, nameLen u32, name[32] }
// crc32 covers bytes 8..20 and the body, so a flipped count is caught as well as a flipped name.

import { HeapCorruptError, HeapUsageError } from './errors.js';
import { crc32, hex, view } from './layout.js';

export type FieldKind = 'ptr' | 'u64' | 'u32' | 'f64';
const KIND_CODE: Record<FieldKind, number> = { ptr: 1, u64: 2, u32: 3, f64: 4 };
const CODE_KIND: Record<number, FieldKind> = { 1: 'ptr', 2: 'u64', 3: 'u32', 4: 'f64' };

export interface FieldDef {
  name: string;
  kind: FieldKind;
  /** for ptr: name of the type it must point to; omitted = any type */
  target?: string;
}
export interface TypeDef {
  name: string;
  fields: FieldDef[];
}

export interface FieldInfo {
  name: string;
  kind: FieldKind;
  /** byte offset in the object */
  offset: number;
  /** for ptr: the declared target type id, 0 = any */
  target: number;
}
export interface TypeInfo {
  id: number;
  name: string;
  size: number;
  fields: FieldInfo[];
  /** pointer fields only, in field order */
  ptrFields: FieldInfo[];
  /** pointer offsets in 8-byte words from the object start: what the swizzle loop walks */
  ptrWords: number[];
  byName: Map<string, FieldInfo>;
}

export const ROOT_TYPE = 'pheap.root';
export const ROOT_TYPE_ID = 1;
export const ROOT_PTR_SLOTS = 16;
export const ROOT_U64_SLOTS = 16;

const MAGIC = 'PHEAPREG';
const VERSION = 1;
const HEAD = 24;
const TYPE_REC = 64;
const FIELD_REC = 48;
const TYPE_NAME_MAX = 48;
const FIELD_NAME_MAX = 32;

/** The root object: 16 untyped pointer slots (graph roots) and 16 u64 slots (counters). */
export const ROOT_TYPE_DEF: TypeDef = {
  name: ROOT_TYPE,
  fields: [
    ...Array.from({ length: ROOT_PTR_SLOTS }, (_, i): FieldDef => ({ name: `r${i}`, kind: 'ptr' })),
    ...Array.from({ length: ROOT_U64_SLOTS }, (_, i): FieldDef => ({ name: `u${i}`, kind: 'u64' })),
  ],
};

function makeType(id: number, name: string, size: number, fields: FieldInfo[]): TypeInfo {
  const ptrFields = fields.filter((f) => f.kind === 'ptr');
  return {
    id,
    name,
    size,
    fields,
    ptrFields,
    ptrWords: ptrFields.map((f) => f.offset / 8),
    byName: new Map(fields.map((f) => [f.name, f])),
  };
}

export class TypeRegistry {
  private readonly byId: (TypeInfo | undefined)[] = [];
  private readonly byTypeName = new Map<string, TypeInfo>();

  private constructor(types: TypeInfo[]) {
    for (const t of types) {
      this.byId[t.id] = t;
      this.byTypeName.set(t.name, t);
    }
  }

  /** Lays out user types (ids from 2 on; 1 is the root type). Fields are placed in the order
   *  given, each naturally aligned; pointers and u64 are 8-byte aligned so one aligned store
   *  updates them atomically. */
  static fromDefs(defs: TypeDef[]): TypeRegistry {
    const all = [ROOT_TYPE_DEF, ...defs.filter((d) => d.name !== ROOT_TYPE)];
    const ids = new Map(all.map((d, i) => [d.name, i + 1]));
    if (ids.size !== all.length) throw new HeapUsageError('duplicate type name');
    const types = all.map((d, i) => {
      if (d.name.length === 0 || d.name.length > TYPE_NAME_MAX) throw new HeapUsageError(`bad type name ${d.name}`);
      let off = 0;
      const seen = new Set<string>();
      const fields = d.fields.map((f): FieldInfo => {
        if (seen.has(f.name)) throw new HeapUsageError(`${d.name}: duplicate field ${f.name}`);
        if (f.name.length === 0 || f.name.length > FIELD_NAME_MAX) throw new HeapUsageError(`${d.name}: bad field name ${f.name}`);
        seen.add(f.name);
        const width = f.kind === 'u32' ? 4 : 8;
        off = Math.ceil(off / width) * width;
        let target = 0;
        if (f.kind === 'ptr' && f.target !== undefined) {
          target = ids.get(f.target) ?? 0;
          if (!target) throw new HeapUsageError(`${d.name}.${f.name}: unknown target type ${f.target}`);
        }
        const info = { name: f.name, kind: f.kind, offset: off, target };
        off += width;
        return info;
      });
      return makeType(i + 1, d.name, Math.max(8, Math.ceil(off / 8) * 8), fields);
    });
    return new TypeRegistry(types);
  }

  get(id: number): TypeInfo | undefined {
    return this.byId[id];
  }
  byName(name: string): TypeInfo | undefined {
    return this.byTypeName.get(name);
  }
  all(): TypeInfo[] {
    return this.byId.filter((t): t is TypeInfo => t !== undefined);
  }
  get root(): TypeInfo {
    return this.byId[ROOT_TYPE_ID]!;
  }

  encode(capacity: number): Uint8Array {
    const types = this.all();
    const body = types.reduce((n, t) => n + TYPE_REC + t.fields.length * FIELD_REC, 0);
    if (HEAD + body > capacity) throw new HeapUsageError(`type registry needs ${HEAD + body} bytes, has ${capacity}`);
    const b = new Uint8Array(capacity);
    const v = view(b);
    const putName = (at: number, s: string) => {
      for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i) & 0x7f;
    };
    putName(0, MAGIC);
    v.setUint32(8, VERSION, true);
    v.setUint32(12, types.length, true);
    v.setUint32(16, body, true);
    let p = HEAD;
    for (const t of types) {
      v.setUint32(p, t.id, true);
      v.setUint32(p + 4, t.size, true);
      v.setUint32(p + 8, t.fields.length, true);
      v.setUint32(p + 12, t.name.length, true);
      putName(p + 16, t.name);
      p += TYPE_REC;
      for (const f of t.fields) {
        v.setUint32(p, KIND_CODE[f.kind], true);
        v.setUint32(p + 4, f.offset, true);
        v.setUint32(p + 8, f.target, true);
        v.setUint32(p + 12, f.name.length, true);
        putName(p + 16, f.name);
        p += FIELD_REC;
      }
    }
    v.setUint32(20, crc32(b, HEAD, HEAD + body, crc32(b, 8, 20)), true);
    return b;
  }

  /** Parses and checks the stored registry; every defect is a HeapCorruptError('registry'). */
  static decode(b: Uint8Array): TypeRegistry {
    const bad = (why: string): never => {
      throw new HeapCorruptError('registry', why);
    };
    const v = view(b);
    const getName = (at: number, len: number, max: number) => {
      if (len === 0 || len > max) bad(`name length ${len} at byte ${at}`);
      let s = '';
      for (let i = 0; i < len; i++) s += String.fromCharCode(b[at + i]!);
      return s;
    };
    if (getName(0, 8, 8) !== MAGIC) bad('bad magic');
    const version = v.getUint32(8, true);
    const count = v.getUint32(12, true);
    const body = v.getUint32(16, true);
    if (HEAD + body > b.length) bad(`body of ${body} bytes exceeds the registry area`);
    const stored = v.getUint32(20, true);
    const actual = crc32(b, HEAD, HEAD + body, crc32(b, 8, 20));
    if (stored !== actual) bad(`checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`);
    if (version !== VERSION) bad(`unsupported version ${version}`);
    const types: TypeInfo[] = [];
    let p = HEAD;
    for (let i = 0; i < count; i++) {
      if (p + TYPE_REC > HEAD + body) bad(`type ${i} runs past the body`);
      const id = v.getUint32(p, true);
      const size = v.getUint32(p + 4, true);
      const nf = v.getUint32(p + 8, true);
      const name = getName(p + 16, v.getUint32(p + 12, true), TYPE_NAME_MAX);
      if (id !== i + 1) bad(`type ${name} has id ${id}, expected ${i + 1}`);
      if (size === 0 || size % 8 !== 0) bad(`type ${name} has size ${size}`);
      p += TYPE_REC;
      const fields: FieldInfo[] = [];
      for (let k = 0; k < nf; k++) {
        if (p + FIELD_REC > HEAD + body) bad(`type ${name} field ${k} runs past the body`);
        const kind = CODE_KIND[v.getUint32(p, true)] ?? bad(`type ${name} field ${k}: unknown kind ${v.getUint32(p, true)}`);
        const offset = v.getUint32(p + 4, true);
        const target = v.getUint32(p + 8, true);
        const fname = getName(p + 16, v.getUint32(p + 12, true), FIELD_NAME_MAX);
        const width = kind === 'u32' ? 4 : 8;
        if (offset % width !== 0 || offset + width > size) bad(`${name}.${fname}: offset ${offset} outside size ${size}`);
        if (target > count) bad(`${name}.${fname}: unknown target type ${target}`);
        fields.push({ name: fname, kind, offset, target });
        p += FIELD_REC;
      }
      types.push(makeType(id, name, size, fields));
    }
    if (types[0]?.name !== ROOT_TYPE) bad('type 1 is not the root type');
    return new TypeRegistry(types);
  }
}
