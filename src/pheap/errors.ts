// Errors the persistent heap raises at its boundary. Callers (CLI, checkers, tests) tell a
// corrupt heap (the SUT's data is wrong: a verdict) from a bad call (a harness bug) by class.

/** Which persistent structure was found corrupt. */
export type CorruptPart = 'header' | 'registry' | 'slab-table' | 'slab-header' | 'swizzle-state' | 'region';

/** The heap's persistent state is unusable as stored. Never a crash, never a silently wrong
 *  pointer: opening stops here and names what is wrong. */
export class HeapCorruptError extends Error {
  override readonly name = 'HeapCorruptError';
  constructor(readonly part: CorruptPart, readonly detail: string) {
    super(`heap corrupt: ${part}: ${detail}`);
  }
}

/** Thrown by the swizzle test hook (stopAfterSlabs) to simulate a power cut in the middle of
 *  the swizzle pass. Everything persisted before the throw stays; the heap object is dead. */
export class SwizzleInterruptedError extends Error {
  override readonly name = 'SwizzleInterruptedError';
  constructor(readonly report: { slabsSwizzled: number }) {
    super(`swizzle interrupted by test hook after ${report.slabsSwizzled} slab(s)`);
  }
}

/** A call that cannot be honoured (heap full, wrong type, out-of-range reference). */
export class HeapUsageError extends Error {
  override readonly name = 'HeapUsageError';
}
