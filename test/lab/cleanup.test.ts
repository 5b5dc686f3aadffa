// Lab.close: what a run created goes away newest first; independent resources (domains, the store
// daemons) that sit side by side in that order go away together; a failing cleanup is reported
// and the rest still run.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab } from '../../src/lab/lab.js';
import { dropOwnership, listOwnerships } from '../../src/lab/ownership.js';

describe('Lab.close', () => {
  it('runs cleanups newest first, adjacent independent ones side by side, past a failure', async () => {
    const lab = await Lab.open();
    const log: string[] = [];
    const step = (name: string, ms: number, fail = false) => async () => {
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      if (fail) throw new Error('boom');
    };
    lab.onCleanup('netns', step('netns', 1));
    lab.onCleanup('domain a', step('a', 60), { batch: 'independent' });
    lab.onCleanup('domain b', step('b', 30, true), { batch: 'independent' });
    lab.onCleanup('store', step('store', 20), { batch: 'independent' });
    lab.onCleanup('bucket', step('bucket', 1)); // needs the store: made after it, removed before it
    try {
      const problems = await lab.close();
      assert.deepEqual(log, [
        'start bucket', 'end bucket', // alone, before the store it needs
        'start store', 'start b', 'start a', 'end store', 'end b', 'end a', // together
        'start netns', 'end netns', // not independent: after them
      ]);
      assert.deepEqual(problems, ['domain b: boom']);
      assert.equal(existsSync(lab.workDir), false, 'scratch dir (the first thing made) removed last');
      assert.ok((await listOwnerships()).some((o) => o.runId === lab.runId), 'a failed cleanup keeps the ownership record for `ftharness clean`');
    } finally {
      await dropOwnership(lab.runId);
    }
  });
});
