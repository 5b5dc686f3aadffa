// `npm run demo`: the main job on a fresh machine. Runs the demo scenarios with their defaults,
// writes the HTML report and prints where everything is. Exit code as `ftharness run`.
import { join } from 'node:path';
import { projectRoot } from '../src/util/paths.js';
import { buildProgram } from './cli.js';
import { closeHypervisor } from '../src/vm/libvirt.js';

/** The foundation smoke test, then the heart of ftharness: PMEM HA through a power cut. */
export const DEMO_SCENARIOS = ['scenarios/smoke.yaml', 'scenarios/pmem-ha-basic.yaml'];

const root = projectRoot();
const out = process.env.FTH_DEMO_OUT ?? join(root, 'reports');
process.stderr.write(`ftharness demo: ${DEMO_SCENARIOS.join(', ')} → ${out}\n`);
try {
  await buildProgram().parseAsync(['node', 'ftharness', 'run', ...DEMO_SCENARIOS.map((s) => join(root, s)), '--out', out]);
} finally {
  await closeHypervisor();
}
process.stderr.write(`\nresults: ${out}/latest (per scenario: ${out}/<scenario>/latest)\n`);
