// The runs an invocation would execute, and a deterministic slice of them for CI matrices
// (`run --list`, `run --shard i/N`): each (scenario, run index) is one item; items are ordered by
// scenario name, file and run index, whatever order the files were given in, and shard i of N
// takes every N-th of them from the i-th on. The union of all shards is the whole set, with no
// overlap, and a run keeps its index (so its seed) in whichever shard it lands.
import { relative } from 'node:path';

export interface WorkItem {
  file: string;
  scenario: string;
  /** 1-based run index and the invocation's runs per scenario */
  run: number;
  runs: number;
  /** the seed the run will use, when it is known before it starts (--seed or the scenario's) */
  seed?: number;
}

export interface Shard { index: number; count: number }

export const MAX_SHARDS = 1000;

/** "i/N" with 1 ≤ i ≤ N ≤ 1000, else a message saying what is wrong. */
export function parseShard(v: string): Shard | string {
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (!m) return `--shard must be i/N (e.g. 2/4), got "${v}"`;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS) return `--shard: N must be between 1 and ${MAX_SHARDS}, got ${count}`;
  if (index < 1 || index > count) return `--shard: i must be between 1 and N (${count}), got ${index}`;
  return { index, count };
}

/** Every run of the invocation, in the order they execute (files as given, then run index). */
export function workItems(scenarios: readonly { file: string; name: string; seed?: number }[], runs: number, seed?: number): WorkItem[] {
  return scenarios.flatMap((s) => Array.from({ length: runs }, (_, j) => {
    const base = seed ?? s.seed;
    return { file: s.file, scenario: s.name, run: j + 1, runs, ...(base !== undefined ? { seed: base + j } : {}) };
  }));
}

/** Shard i of N, in execution order. Membership is decided on the items sorted by scenario,
 *  file and run index, so it does not depend on the order the files were given in. */
export function inShard(items: readonly WorkItem[], s: Shard): WorkItem[] {
  const key = (x: WorkItem) => `${x.scenario}\0${relative(process.cwd(), x.file)}\0${String(x.run).padStart(6, '0')}`;
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const mine = new Set(sorted.filter((_, i) => i % s.count === s.index - 1));
  return items.filter((x) => mine.has(x));
}
