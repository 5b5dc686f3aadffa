// PMEM high availability as a system under test: its steps (schema, static walk, executors),
// checkers, metrics and guest-side program, registered with the harness in one place.
import type { StepDef, SutPlugin } from '../../sut/api.js';
import { registerSut } from '../../sut/registry.js';
import { judgeHa, type HaEvidence } from './checker.js';
import { HA_METRICS } from './metrics.js';
import { HA_STEP_SCHEMAS } from './schema.js';
import { newSlice, PMEM_HA, type HaSlice } from './slice.js';
import { judgeSweep } from './sweep.js';
import { judgeFs } from './fs-checker.js';
import { HA_SCHEDULE } from './schedule.js';
import { walkAcLoss, walkAcRestore, walkCheckHa, walkCorruptChunk, walkHaAgent, walkHoldupSweep, walkPowerCutAt, walkWaitHa } from './walk.js';

type Steps = Record<keyof typeof HA_STEP_SCHEMAS, StepDef<any, HaSlice>>;
type Executors = typeof import('./steps.js');
/** The executors load with the first HA step that runs: reading a scenario needs only schemas
 *  and walks (and `validate` stays quick). */
const lazy = <K extends keyof Executors>(name: K): StepDef['run'] => async (ctx, s) => ((await import('./steps.js'))[name] as (c: typeof ctx, st: unknown) => Promise<void>)(ctx, s);

const steps: Steps = {
  'ha-agent': { schema: HA_STEP_SCHEMAS['ha-agent'], vmFields: ['vm', 'peer'], store: true, walk: walkHaAgent, run: lazy('haAgent') },
  'ac-loss': { schema: HA_STEP_SCHEMAS['ac-loss'], walk: walkAcLoss, run: lazy('acLoss') },
  'ac-restore': { schema: HA_STEP_SCHEMAS['ac-restore'], walk: walkAcRestore, run: lazy('acRestore') },
  'power-cut-at': { schema: HA_STEP_SCHEMAS['power-cut-at'], walk: walkPowerCutAt, run: lazy('powerCutAt') },
  'wait-ha': { schema: HA_STEP_SCHEMAS['wait-ha'], walk: walkWaitHa, run: lazy('waitHa') },
  'corrupt-chunk': { schema: HA_STEP_SCHEMAS['corrupt-chunk'], vmFields: [], store: true, walk: walkCorruptChunk, run: lazy('corruptChunk'), describe: (s) => `corrupt-chunk ${s.mode}` },
  'holdup-sweep': { schema: HA_STEP_SCHEMAS['holdup-sweep'], vmFields: ['primary', 'standby'], store: true, walk: walkHoldupSweep, run: lazy('holdupSweep'), describe: (s) => `holdup-sweep ${s.primary}` },
  'check-ha-fs': { schema: HA_STEP_SCHEMAS['check-ha-fs'], vmFields: ['standby', 'writer'], run: lazy('checkHaFs'),
    walk: (w, s) => { if ((s.log === undefined) !== (s.writer === undefined)) w.bad(s.log === undefined ? 'writer' : 'log', 'a durability log is read from the writer VM\'s control share: set both "writer" and "log", or neither'); }, describe: (s) => `check-ha-fs ${s.standby}` },
  'check-ha': { schema: HA_STEP_SCHEMAS['check-ha'], vmFields: ['primary', 'standby'], store: true, walk: walkCheckHa, run: lazy('checkHa'), describe: (s) => `check-ha ${s.standby}` },
};

export const pmemHa: SutPlugin<HaSlice> = {
  name: PMEM_HA,
  summary: 'PMEM high availability: save persistent memory to S3 on AC loss, restore it on a standby (src/pmem-ha/README.md)',
  steps,
  slice: newSlice,
  checkers: {
    // The checker's own extras (row, data at risk) stay in its evidence.
    ha: (e: HaEvidence) => { const { row: _r, dataAtRiskBytes: _d, ...c } = judgeHa(e); return c; },
    'holdup-sweep': judgeSweep,
    fs: judgeFs,
  },
  metrics: HA_METRICS,
  guest: { agent: 'src/pmem-ha/agent.ts', 'plain-upload': 'src/pmem-ha/plain-upload.ts' },
  schedule: HA_SCHEDULE,
};

registerSut(pmemHa);
