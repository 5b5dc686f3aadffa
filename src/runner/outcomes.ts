// How a run's verdict comes about (README "Outcomes"):
// - a check that found a violation → fail, and it stays fail whatever happens later (a later
//   error or interrupt is added to the reason, never put in its place);
// - the SUT missing a deadline (never ready, never restores, never reaches a phase) → a failed
//   check carrying the last status the SUT reported → fail;
// - the harness, libvirt, the guest agent or the store breaking → error;
// - no violation and no error, but a checker that could not decide → unknown;
// - otherwise pass.
import type { CheckResult, Verdict } from '../results/types.js';

/** The SUT did not reach `what` within its deadline: a liveness / RTO violation, not an error. */
export class SutDeadline extends Error {
  constructor(readonly check: string, message: string, readonly evidence: Record<string, unknown> = {}) {
    super(message);
  }

  toCheck(): CheckResult {
    return { name: this.check, valid: false, message: this.message, evidence: this.evidence };
  }
}

export function verdictOf(checks: CheckResult[], error?: string): { verdict: Verdict; reason: string } {
  const failed = checks.filter((c) => c.valid === false);
  if (failed.length) {
    const first = `${failed.length} check(s) failed: ${failed[0].name}: ${failed[0].message}`;
    return { verdict: 'fail', reason: error ? `${first}; then: ${error}` : first };
  }
  if (error) return { verdict: 'error', reason: error };
  const unknown = checks.filter((c) => c.valid === 'unknown');
  if (unknown.length) return { verdict: 'unknown', reason: `${unknown.length} check(s) could not decide: ${unknown[0].name}: ${unknown[0].message}` };
  return { verdict: 'pass', reason: `${checks.length} check(s) passed` };
}
