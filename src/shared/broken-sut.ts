// Deliberately broken variants of the systems under test, selected only by tests (FTH_BROKEN_SUT)
// to prove that the checkers say false: a checker that never fails proves nothing. The harness
// passes the variable to every guest-side process it starts and records it in the results
// (dimensions.brokenSut), so such a run can never pass for a real one.
//
// FTH_BROKEN_SUT="pmem-ha-standby:skip-verify,pheap:skip-swizzle-slab"

export const BROKEN_ENV = 'FTH_BROKEN_SUT';

/** Every variant there is, by system: what it breaks. */
export const BROKEN_VARIANTS: Record<string, Record<string, string>> = {
  'pmem-ha-standby': {
    'skip-verify': 'restores chunks without checking their hashes against the manifest',
    'ignore-new': 'never restores a generation newer than the one it holds at start',
    'apply-early': 'pipelined restore: writes each prefetched chunk into its PMEM as it lands, before the save is committed',
  },
  'pmem-ha-primary': {
    'no-quiesce': 'saves without stopping the writers, even when a quiescer is configured',
    'stale-precopy': 'trusts its pre-copy: a chunk copied once is never compared again, by later passes nor by the save, so a changed chunk is named by its old content',
  },
  podvm: {
    'ignore-overhead': 'the VM scheduler admits pods without charging their spec.overhead',
    'no-fence': 'a returning host restarts its stale podVMs instead of fencing them',
  },
  numa: {
    'cold-first': 'hot-first migration moves the coldest pages first (its ranking reversed)',
    'no-rebalance': 'the placement controller places arrivals but never re-places nor sends memory home',
  },
  pheap: {
    'skip-swizzle-slab': 'leaves the pointers of one slab unswizzled when the heap opens at a new base',
  },
};

export function brokenProblems(value: string | undefined): string[] {
  if (!value) return [];
  return value.split(',').filter((v) => {
    const [sut, variant] = v.split(':');
    return !BROKEN_VARIANTS[sut]?.[variant];
  }).map((v) => `${BROKEN_ENV}: unknown variant "${v}" (known: ${Object.entries(BROKEN_VARIANTS).flatMap(([s, vs]) => Object.keys(vs).map((x) => `${s}:${x}`)).join(', ')})`);
}

/** Is `sut` asked to be broken in `variant`? SUT code calls this; nothing else should. */
export function isBroken(sut: string, variant: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return (env[BROKEN_ENV] ?? '').split(',').includes(`${sut}:${variant}`);
}

/** The env a guest-side process gets so that it is broken the same way (empty when not). */
export function brokenEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return env[BROKEN_ENV] ? { [BROKEN_ENV]: env[BROKEN_ENV]! } : {};
}
