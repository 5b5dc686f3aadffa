// Every checker that can judge again from persisted evidence, by qualified name: "core/<name>"
// for the harness's own, "<sut>/<name>" for those a SUT plugin brings.
import type { Judge } from '../sut/api.js';
import { sutChecker } from '../sut/registry.js';
import { judgeBackingFile } from './backing-file.js';
import { judgeExit, judgeReadBack } from './exit-code.js';
import { judgeTopology } from './topology.js';

const CORE: Record<string, Judge> = {
  'backing-file': judgeBackingFile,
  topology: (e) => judgeTopology(e.label, e.spec, e.sides),
  exit: judgeExit,
  'read-back': judgeReadBack,
};

export function checker(name: string): Judge | undefined {
  const [owner, check] = name.split('/');
  return owner === 'core' ? CORE[check] : sutChecker(name);
}
