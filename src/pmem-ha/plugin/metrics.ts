// The HA metrics every HA run names: unit, what a value means, and why a run may have none.
import type { MetricDef } from '../../sut/api.js';
import { addMetric, type RunContext } from '../../runner/context.js';

export const HA_METRICS = {
  notice_to_save_start_ms: { unit: 'ms', description: 'AC-loss notice received → first chunk read (guest clock)', missing: 'the primary started no save after the AC-loss notice' },
  save_duration_ms: { unit: 'ms', description: 'save start → manifest committed (or save end)', missing: 'no save ran to its end (power cut before the manifest was committed, or no save)' },
  save_throughput_mibs: { unit: 'MiB/s', description: 'region bytes saved (uploaded + zero-skipped + named from the pre-copy) per second', missing: 'no save ran to its end (power cut before the manifest was committed, or no save)' },
  bytes_uploaded: { unit: 'B', description: 'non-zero chunk bytes PUT to the store', missing: 'no save status was read from the primary' },
  bytes_skipped_zero: { unit: 'B', description: 'all-zero chunk bytes recorded, not uploaded', missing: 'no save status was read from the primary' },
  bytes_precopied: { unit: 'B', description: 'non-zero chunk bytes unchanged since the continuous pre-copy stored them: named by content, not uploaded after the notice (0 without pre-copy)', missing: 'no save status was read from the primary' },
  bytes_read_at_save: { unit: 'B', description: 'region bytes the save read from the device after the notice (the whole region, less what dm-era write tracking showed unchanged since the pre-copy)', missing: 'no save status was read from the primary' },
  commit_to_signal_ms: { unit: 'ms', description: 'manifest committed → standby acked the signal', missing: 'no signal was acknowledged after a commit (no commit, cut before the signal, or link down; the standby then finds generations by polling the store)' },
  restore_duration_ms: { unit: 'ms', description: 'standby: restore start → journal done (guest clock)', missing: null },
  rto_ms: { unit: 'ms', description: 'AC-loss notice → standby holds the data (harness clock, 100 ms polling)', missing: null },
  rpo_bytes: { unit: 'B', description: "non-zero bytes of the primary's PMEM in 4 KiB blocks the standby does not hold exactly", missing: null },
} satisfies Record<string, MetricDef>;
export type HaMetric = keyof typeof HA_METRICS;

export function addHaMetric(ctx: RunContext, name: HaMetric, value: number | null | undefined): void {
  if (typeof value === 'number' && Number.isFinite(value)) addMetric(ctx, name, HA_METRICS[name].unit, value, HA_METRICS[name].description);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Status = Record<string, any>;

/** Save metrics from the primary's status (the SUT's own report: timing only, never truth). */
export function primaryMetrics(ctx: RunContext, s: Status): void {
  const v = s.save;
  if (!v) return;
  if (v.saveStartAt) addHaMetric(ctx, 'notice_to_save_start_ms', v.saveStartAt - v.noticeAt);
  const end = v.manifestCommittedAt ?? v.endAt;
  if (v.saveStartAt && end) {
    addHaMetric(ctx, 'save_duration_ms', end - v.saveStartAt);
    const secs = (end - v.saveStartAt) / 1000;
    if (secs > 0) addHaMetric(ctx, 'save_throughput_mibs', (v.bytesUploaded + v.bytesSkipped + (v.bytesPrecopied ?? 0)) / 2 ** 20 / secs);
  }
  addHaMetric(ctx, 'bytes_uploaded', v.bytesUploaded);
  addHaMetric(ctx, 'bytes_skipped_zero', v.bytesSkipped);
  addHaMetric(ctx, 'bytes_precopied', v.bytesPrecopied ?? 0);
  addHaMetric(ctx, 'bytes_read_at_save', v.bytesRead);
  if (v.manifestCommittedAt && v.signalAckedAt) addHaMetric(ctx, 'commit_to_signal_ms', v.signalAckedAt - v.manifestCommittedAt);
}

/** Every HA run's results name every HA metric: a metric the run could not sample says why
 *  (an empty series with `missing`), so a reader can tell "not reached" from "not recorded". */
export function recordMissingHaMetrics(ctx: RunContext, standbyHolds: boolean, verdict: string): void {
  const notRestored = standbyHolds
    ? 'the standby holds the data, but no `wait-ha until: holds-new` step timed its restore (e.g. it was redone at boot after a standby cut)'
    : `the standby did not restore this save: ${verdict}`;
  for (const [name, { unit, missing }] of Object.entries(HA_METRICS)) {
    const reason = missing ?? notRestored;
    const m = ctx.metrics[name];
    if (!m) ctx.metrics[name] = { unit, values: [], missing: reason };
    else if (!m.values.length) m.missing ??= reason;
  }
}
