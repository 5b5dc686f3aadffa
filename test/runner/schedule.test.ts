// Generated fault schedules: drawn from the scenario's section by the run seed (the same seed,
// the same schedule), validated before anything starts, shrunk to the smallest that still fails.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { drawSchedule, scheduleProblems, triggerLabel, type Schedule, type ScheduleSpec } from '../../src/runner/schedule.js';
import { describe as describeSchedule, shrinkSchedule } from '../../src/runner/shrink.js';
import { parseScenario } from '../../src/scenario/load.js';
import type { ScenarioFile } from '../../src/scenario/schema.js';

const RANDOM = parseScenario(readFileSync('scenarios/pmem-ha-random.yaml', 'utf8'), 'scenarios/pmem-ha-random.yaml');
const spec = RANDOM.schedule as ScheduleSpec;

describe('fault schedules', () => {
  it('the same seed draws the same schedule; seeds differ in what they draw; at most max faults', () => {
    assert.deepEqual(drawSchedule(spec, 7), drawSchedule(spec, 7));
    const drawn = Array.from({ length: 200 }, (_, i) => drawSchedule(spec, i));
    assert.ok(new Set(drawn.map((d) => JSON.stringify(d.faults))).size > 50, 'seeds should vary the schedule');
    assert.ok(drawn.every((d) => d.faults.length <= (spec.max ?? 3)));
    const kinds = new Set(drawn.flatMap((d) => d.faults.map((f) => f.kind)));
    assert.deepEqual([...kinds].sort(), ['ac-restore', 'chunk-corruption', 'link-cut', 'primary-cut', 'standby-cut', 'store-outage']);
    for (const d of drawn) {
      for (const f of d.faults) {
        const e = spec.faults.find((x) => x.kind === f.kind)!;
        if (e.when) assert.ok(e.when.includes(f.when!), JSON.stringify(f));
        else assert.ok(f.at! >= (e.at?.[0] ?? 0) && f.at! <= (e.at?.[1] ?? spec.window), JSON.stringify(f));
        if (e.ms) assert.ok(f.ms! >= e.ms[0] && f.ms! <= e.ms[1]);
      }
    }
  });

  it('a combination the issue asks for is drawn: an AC loss with a store outage mid-save, a standby cut with a link cut', () => {
    const drawn = Array.from({ length: 500 }, (_, i) => drawSchedule(spec, i).faults.map((f) => f.kind));
    assert.ok(drawn.some((k) => k.includes('store-outage') && k.includes('primary-cut')));
    assert.ok(drawn.some((k) => k.includes('standby-cut') && k.includes('link-cut')));
  });

  it('labels triggers for coverage tables: the phase, or 5 s bins', () => {
    assert.equal(triggerLabel({ kind: 'x', when: 'restoring' }), 'restoring');
    assert.equal(triggerLabel({ kind: 'x', at: 6193 }), 't 5-10 s');
  });

  it('refuses a bad schedule section naming the field', () => {
    const base = RANDOM as unknown as ScenarioFile;
    const check = (schedule: unknown, steps = base.steps) => scheduleProblems({ ...base, schedule, steps } as ScenarioFile).map((p) => `${p.path.join('.')}: ${p.message}`);
    assert.deepEqual(check(spec), []);
    assert.match(check({ ...spec, faults: [{ kind: 'meteor' }] })[0], /^schedule\.faults\.0\.kind: no fault kind "meteor" \(known: store-outage, link-cut, primary-cut/);
    assert.match(check({ ...spec, faults: [{ kind: 'link-cut', ms: [1, 2] }] })[0], /faults\.0\.vm: link-cut needs the VM it hits/);
    assert.match(check({ ...spec, faults: [{ kind: 'standby-cut', vm: 'standby', when: ['lunch'], ms: [1, 2] }] })[0], /when\.0: standby-cut has no phase "lunch" \(its phases: restoring\)/);
    assert.match(check({ ...spec, faults: [{ kind: 'store-outage' }] })[0], /ms: store-outage lasts a while/);
    assert.match(check({ ...spec, faults: [{ kind: 'store-outage', ms: [9, 3] }] })[0], /ms: must be \[lo, hi\]/);
    assert.match(check({ ...spec, window: 5 })[0], /window: must be ms from 100 to 600000/);
    assert.match(check(spec, base.steps.filter((s) => s.do !== 'schedule')).join('\n'), /nothing fires it: add a \{ do: schedule \} step/);
    assert.match(check(undefined).join('\n'), /a schedule step needs a `schedule:` section/);
  });

  it('shrinks to the smallest schedule that still fails: faults dropped, then narrowed', async () => {
    // A planted rule: the run fails whenever a store outage of at least 800 ms is in it.
    const failing: Schedule = { seed: 1, window: 20000, faults: [
      { kind: 'link-cut', vm: 'primary', at: 3000, ms: 4000 },
      { kind: 'store-outage', at: 6000, ms: 3200 },
      { kind: 'chunk-corruption', when: 'manifest-committed' },
    ] };
    const runs: string[] = [];
    const r = await shrinkSchedule(failing, async (s) => {
      runs.push(describeSchedule(s));
      return { failed: s.faults.some((f) => f.kind === 'store-outage' && f.ms! >= 800), dir: `/run/${runs.length}` };
    }, { maxRuns: 20 });
    assert.deepEqual(r.schedule.faults, [{ kind: 'store-outage', at: 375, ms: 800 }]);
    assert.ok(r.dir);
    // never more runs than allowed
    const capped = await shrinkSchedule(failing, async () => ({ failed: true }), { maxRuns: 2 });
    assert.equal(capped.tried.length, 2);
  });
});
