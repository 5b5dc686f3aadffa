// validateHeap: the structural invariant of the heap after recovery. Every non-null pointer of
// every allocated object must land inside the heap, in an assigned slab, on the first byte of
// an allocated object, of the type its field declares. Each violation names slab, object index
// and field, so a report says exactly which store went wrong.

import type { Heap } from './heap.js';
import { SWZ_IDLE, hex } from './layout.js';

export type IssueKind =
  | 'outside-heap'
  | 'into-metadata'
  | 'into-free-slab'
  | 'not-object-start'
  | 'unallocated-target'
  | 'type-mismatch'
  | 'swizzle-in-progress'
  | 'slab-base';

export interface ValidationIssue {
  kind: IssueKind;
  /** slab and object index of the object holding the pointer (-1 for heap-level issues) */
  slab: number;
  object: number;
  type: string;
  field: string;
  /** heap offset of the holding object */
  ref: string;
  /** the stored pointer value */
  pointer: string;
  message: string;
}

export interface ValidationReport {
  ok: boolean;
  objects: number;
  pointerFields: number;
  nonNullPointers: number;
  issueCount: number;
  /** the first maxIssues issues */
  issues: ValidationIssue[];
}

export function validateHeap(heap: Heap, opts: { maxIssues?: number } = {}): ValidationReport {
  const maxIssues = opts.maxIssues ?? 100;
  const h = heap.header;
  const { u32, u64, base } = heap;
  const size = BigInt(h.regionSize);
  const report: ValidationReport = { ok: true, objects: 0, pointerFields: 0, nonNullPointers: 0, issueCount: 0, issues: [] };
  const add = (i: ValidationIssue) => {
    report.issueCount++;
    if (report.issues.length < maxIssues) report.issues.push(i);
  };
  const heapIssue = (kind: IssueKind, slab: number, message: string) =>
    add({ kind, slab, object: -1, type: '', field: '', ref: '', pointer: '', message });

  if (h.swzState !== SWZ_IDLE) heapIssue('swizzle-in-progress', -1, `swizzle ${hex(h.swzFrom)} -> ${hex(h.swzTo)} not finished`);
  if (h.base !== base) heapIssue('slab-base', -1, `header base ${hex(h.base)} differs from the mapping base ${hex(base)}`);

  for (const s of heap.slabs) {
    const t = s.type;
    if (!t) continue;
    if (s.relBase !== base) heapIssue('slab-base', s.index, `slab ${s.index} pointers are relative to ${hex(s.relBase)}, heap is at ${hex(base)}`);
    for (let w = 0; w < s.bitmapWords; w++) {
      let bits = u32[s.bitmapWord + w]!;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const index = w * 32 + b;
        const ref = s.objStart + index * s.objSize;
        report.objects++;
        for (const f of t.ptrFields) {
          report.pointerFields++;
          const p = u64[(ref + f.offset) >> 3]!;
          if (p === 0n) continue;
          report.nonNullPointers++;
          const where = `slab ${s.index} object ${index} (${t.name} at ${hex(ref)}) field ${f.name} = ${hex(p)}`;
          const issue = (kind: IssueKind, why: string) =>
            add({ kind, slab: s.index, object: index, type: t.name, field: f.name, ref: hex(ref), pointer: hex(p), message: `${where}: ${why}` });
          const off = p - base;
          if (off < 0n || off >= size) {
            issue('outside-heap', `outside the heap [${hex(base)}, ${hex(base + size)})`);
            continue;
          }
          const o = Number(off);
          if (o < h.slabsOffset || o >= h.slabsOffset + h.slabCount * h.slabSize) {
            issue('into-metadata', `points into heap metadata at offset ${hex(o)}`);
            continue;
          }
          const ts = heap.slabs[Math.floor((o - h.slabsOffset) / h.slabSize)]!;
          if (!ts.type) {
            issue('into-free-slab', `points into free slab ${ts.index}`);
            continue;
          }
          const rel = o - ts.objStart;
          if (rel < 0) {
            issue('not-object-start', `points into the header/bitmap of slab ${ts.index}`);
            continue;
          }
          const ti = Math.floor(rel / ts.objSize);
          if (rel % ts.objSize !== 0 || ti >= ts.objCount) {
            issue('not-object-start', `points ${rel % ts.objSize} bytes into object ${ti} of slab ${ts.index}`);
            continue;
          }
          if (((u32[ts.bitmapWord + (ti >>> 5)]! >>> (ti & 31)) & 1) === 0) {
            issue('unallocated-target', `points to free object ${ti} of slab ${ts.index}`);
            continue;
          }
          if (f.target !== 0 && ts.type.id !== f.target) {
            const want = heap.types.get(f.target)?.name ?? `type ${f.target}`;
            issue('type-mismatch', `field declares ${want}, target is a ${ts.type.name}`);
          }
        }
      }
    }
  }
  report.ok = report.issueCount === 0;
  return report;
}
