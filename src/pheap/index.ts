// pheap: a persistent heap on byte-addressable persistent memory with crash-safe pointer
// swizzling (the SUT of the pheap scenarios). Entry points:
//   Heap.create / Heap.open (heap.ts)   slabs, typed objects, absolute pointers, recovery
//   validateHeap (validate.ts)          structural invariant after recovery
//   build / check / mutate (workload.ts) seeded graphs and their checker
//   cli.ts                              the same, as a guest command printing JSON
export { HeapCorruptError, HeapUsageError, SwizzleInterruptedError, type CorruptPart } from './errors.js';
export { DEFAULT_FILE_BASE, DEFAULT_HEAP_SIZE, Heap, type CreateOptions, type OpenOptions, type Ref, type SlabInfo } from './heap.js';
export { nativeStatus, type Access, type AccessKind } from './mmap.js';
export { type FieldDef, type FieldInfo, type FieldKind, type TypeDef, type TypeInfo } from './registry.js';
export { hooksFromEnv, type PassReport, type SwizzleHooks, type SwizzleReport } from './swizzle.js';
export { validateHeap, type IssueKind, type ValidationIssue, type ValidationReport } from './validate.js';
export { MUTATE_STEPS, SimulatedCrash, WORKLOAD_TYPES, build, check, expectedModel, mutate, type CheckReport, type Mismatch, type MutateStep } from './workload.js';
