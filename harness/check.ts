// `ftharness check <results-dir>…`: judge stored runs again from the evidence they kept, without
// VMs (Jepsen's analyze). Every check that names a checker is re-run on its persisted input —
// with the checker as it is now, so a changed checker can be tried on last night's runs; checks
// without one (a missed deadline, a setup step) keep their recorded result; a harness error the
// run had stays. The verdict follows the same outcome rules as the run's.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checker } from '../src/checkers/index.js';
import type { CheckResult, RunResult, Verdict } from '../src/results/types.js';
import { verdictOf } from '../src/runner/outcomes.js';
import '../src/suts.js';

export interface Rejudged {
  dir: string;
  scenario: string;
  verdict: Verdict;
  reason: string;
  /** the verdict the run itself gave */
  was: Verdict;
  checks: { name: string; checker?: string; valid: CheckResult['valid']; was: CheckResult['valid']; message: string }[];
}

export async function rejudge(dir: string): Promise<Rejudged> {
  let r: RunResult;
  try {
    r = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as RunResult;
  } catch (e) {
    throw new Error(`${dir}: no readable results.json (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const checks: CheckResult[] = [];
  const rows: Rejudged['checks'] = [];
  for (const c of r.checks) {
    let now = c;
    if (c.judge) {
      const judge = checker(c.judge.checker);
      if (!judge) throw new Error(`${dir}: check "${c.name}" names checker ${c.judge.checker}, which this ftharness does not have`);
      let input: unknown;
      try {
        input = JSON.parse(await readFile(join(dir, c.judge.input), 'utf8'));
      } catch (e) {
        throw new Error(`${dir}: the evidence of check "${c.name}" (${c.judge.input}) is unreadable: ${(e as Error).message}`);
      }
      now = { ...judge(input), judge: c.judge };
    }
    checks.push(now);
    rows.push({ name: now.name, checker: c.judge?.checker, valid: now.valid, was: c.valid, message: now.message });
  }
  const { verdict, reason } = verdictOf(checks, r.error);
  return { dir, scenario: r.scenario.name, verdict, reason, was: r.verdict, checks: rows };
}
