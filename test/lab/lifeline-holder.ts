// A process that holds a lifeline, for test/lab/lifeline.test.ts: it writes "ready <chain>" to
// the file named by argv[2], then on its first stop cause writes "stopped <cause> <detail>"
// and exits with the lifeline's code.
import { appendFileSync } from 'node:fs';
import { callerChain, holdLifeline } from '../../src/lab/lifeline.js';

const out = process.argv[2];
const life = holdLifeline({
  pollMs: 100,
  onStop: (cause, detail) => {
    appendFileSync(out, `stopped ${cause} ${detail}\n`);
    process.exit(life.exitCode());
  },
});
appendFileSync(out, `ready ${callerChain().map((p) => `${p.pid}:${p.comm}`).join(' ')}\n`);
setInterval(() => undefined, 1000);
