// A command's exit code against the one expected: exec checks in the guest, host-checks (e.g. a
// heap-image checker on a backing-file snapshot). The command's output is the evidence.
import type { CheckResult } from '../results/types.js';

export interface ExitEvidence { name: string; where: string; exitCode: number; expected: number; output: string; json?: unknown }

/** | case | valid | — exit code as expected: true; otherwise: false, with the output's end. */
export function judgeExit(e: ExitEvidence): CheckResult {
  const ok = e.exitCode === e.expected;
  return {
    name: e.name, valid: ok,
    message: ok ? `exit ${e.exitCode}` : `exit ${e.exitCode}, expected ${e.expected}: ${e.output.trim().slice(-300)}`,
    evidence: { where: e.where, exitCode: e.exitCode, output: e.output, ...(e.json !== undefined ? { json: e.json } : {}) },
  };
}

export interface ReadBackEvidence { name: string; dev: string; offset: number; length: number; expected: string; actual: string }

/** The guest read a pattern back: its sha256 must be the pattern's. */
export function judgeReadBack(e: ReadBackEvidence): CheckResult {
  const ok = e.actual === e.expected;
  return {
    name: e.name, valid: ok,
    message: ok ? 'sha256 matches the pattern' : `sha256 ${e.actual} read in the guest, pattern is ${e.expected}`,
    evidence: { dev: e.dev, offset: e.offset, length: e.length, expected: e.expected, actual: e.actual },
  };
}
