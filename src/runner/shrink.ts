// Shrinking a failing fault schedule (as QuickCheck and Jepsen do): try it with one fault fewer,
// keep the removal while the run still fails, then narrow what is left (shorter faults, earlier
// starts). The smallest schedule that still fails is what a reader needs to see.
import type { DrawnFault, Schedule } from './schedule.js';

export interface ShrinkStep { schedule: Schedule; failed: boolean; dir?: string }

/** `stillFails` runs the scenario with a candidate schedule (same seed) and says whether the run
 *  failed again; at most `maxRuns` of them. */
export async function shrinkSchedule(failing: Schedule, stillFails: (s: Schedule) => Promise<{ failed: boolean; dir?: string }>, o: { maxRuns: number; log?: (l: string) => void }): Promise<{ schedule: Schedule; dir?: string; tried: ShrinkStep[] }> {
  let best = failing;
  let bestDir: string | undefined;
  const tried: ShrinkStep[] = [];
  const attempt = async (faults: DrawnFault[]): Promise<boolean> => {
    if (tried.length >= o.maxRuns) return false;
    const cand: Schedule = { seed: best.seed, window: best.window, faults };
    o.log?.(`shrink ${tried.length + 1}/${o.maxRuns}: ${describe(cand)}`);
    const r = await stillFails(cand);
    tried.push({ schedule: cand, failed: r.failed, dir: r.dir });
    if (r.failed) { best = cand; bestDir = r.dir; }
    return r.failed;
  };
  // 1. Fewer faults: drop each in turn (last first), again after any removal.
  for (let changed = true; changed && best.faults.length > 0;) {
    changed = false;
    for (let i = best.faults.length - 1; i >= 0 && tried.length < o.maxRuns; i--) {
      if (await attempt(best.faults.filter((_, j) => j !== i))) { changed = true; break; }
    }
  }
  // 2. Narrower faults: half as long, twice as early, while that still fails.
  for (let i = 0; i < best.faults.length && tried.length < o.maxRuns; i++) {
    for (const field of ['ms', 'at'] as const) {
      while (tried.length < o.maxRuns && (best.faults[i][field] ?? 0) > 500) {
        const half = best.faults.map((x, j) => (j === i ? { ...x, [field]: Math.round(x[field]! / 2) } : x));
        if (!(await attempt(half))) break;
      }
    }
  }
  return { schedule: best, dir: bestDir, tried };
}

export function describe(s: Schedule): string {
  return s.faults.length ? s.faults.map((f) => `${f.kind}${f.vm ? `(${f.vm})` : ''} ${f.when ? `at ${f.when}` : `at ${f.at} ms`}${f.ms !== undefined ? ` for ${f.ms} ms` : ''}`).join(', ') : 'no fault';
}
