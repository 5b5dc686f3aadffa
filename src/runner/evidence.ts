// Judge inputs kept in the results dir (<run>/evidence/NN-<checker>.json), so that
// `ftharness check <results-dir>` judges a stored run again without VMs, as Jepsen's analyze
// re-reads a history. Every check that has a judge goes through judge(): the same function on the
// same input, now and later.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checker } from '../checkers/index.js';
import type { CheckResult } from '../results/types.js';
import { redact } from '../shared/redact.js';

export const EVIDENCE_DIR = 'evidence';

export class Evidence {
  private n = 0;
  constructor(private readonly runDir: string) {}

  /** Judge `input` with the checker named `name`, keep the input, return the result with a
   *  `judge` reference to both. */
  async judge(name: string, input: unknown): Promise<CheckResult> {
    const judge = checker(name);
    if (!judge) throw new Error(`no checker named ${name}`);
    const file = join(EVIDENCE_DIR, `${String(++this.n).padStart(2, '0')}-${name.replace(/\//g, '-')}.json`);
    await mkdir(join(this.runDir, EVIDENCE_DIR), { recursive: true });
    await writeFile(join(this.runDir, file), redact(JSON.stringify(input)));
    return { ...judge(input), judge: { checker: name, input: file } };
  }
}
