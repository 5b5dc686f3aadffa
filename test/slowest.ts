// Mocha root hooks: print the 10 slowest tests at the end of a run (where a suite's minutes go).
import type { Context } from 'mocha';

const times: { title: string; ms: number }[] = [];

export const mochaHooks = {
  afterEach(this: Context) {
    const t = this.currentTest;
    if (t?.duration !== undefined) times.push({ title: t.fullTitle(), ms: t.duration });
  },
  afterAll() {
    if (!times.length) return;
    const top = [...times].sort((a, b) => b.ms - a.ms).slice(0, 10);
    const total = times.reduce((s, t) => s + t.ms, 0);
    console.log(`\n  10 slowest tests (of ${times.length}, ${(total / 1000).toFixed(0)} s in tests):`);
    for (const t of top) console.log(`    ${(t.ms / 1000).toFixed(1).padStart(7)} s  ${t.title}`);
  },
};
