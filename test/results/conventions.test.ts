import assert from 'node:assert/strict';
import {
  canonicalValues, directionOf, isUnsupported, metricName, parseMetricName, parseSize, pmemSizeOf, roleOf,
} from '../../src/results/conventions.js';
import { NIGHT0, makeRun } from '../report/fixtures.js';

describe('metric conventions', () => {
  it('parses labelled metric names and builds them back', () => {
    assert.deepEqual(parseMetricName('holdup_min_ms{pmem_size=64MiB,node="1"}'), { base: 'holdup_min_ms', labels: { pmem_size: '64MiB', node: '1' } });
    assert.deepEqual(parseMetricName('rto_ms'), { base: 'rto_ms', labels: {} });
    assert.equal(metricName('holdup_min_ms', { pmem_size: '1GiB' }), 'holdup_min_ms{pmem_size=1GiB}');
  });

  it('finds roles by name, labels and perf prefix', () => {
    assert.equal(roleOf('rto_ms'), 'rto');
    assert.equal(roleOf('recovery_time'), 'rto');
    assert.equal(roleOf('data_at_risk_bytes'), 'rpo');
    assert.equal(roleOf('holdup_min_ms{pmem_size=16MiB}'), 'holdup');
    assert.equal(roleOf('numa_local_fraction'), 'numa');
    assert.equal(roleOf('perf.cache-misses'), 'perf');
    assert.equal(roleOf('save_throughput'), undefined);
  });

  it('parses sizes in QEMU syntax', () => {
    assert.equal(parseSize('64MiB'), 64 * 2 ** 20);
    assert.equal(parseSize('64M'), 64 * 2 ** 20);
    assert.equal(parseSize('1G'), 2 ** 30);
    assert.equal(parseSize('4096'), 4096, 'bare number is bytes, as in QEMU');
    assert.equal(parseSize('1.5GiB'), 1.5 * 2 ** 30);
    assert.equal(parseSize('lots'), undefined);
  });

  it('converts time and size units to ms and bytes', () => {
    assert.deepEqual(canonicalValues({ unit: 's', values: [1.5] }, 'time'), [1500]);
    assert.deepEqual(canonicalValues({ unit: 'us', values: [2000] }, 'time'), [2]);
    assert.deepEqual(canonicalValues({ unit: 'KiB', values: [4] }, 'size'), [4096]);
    assert.equal(canonicalValues({ unit: 'furlongs', values: [1] }, 'time'), undefined);
  });

  it('marks unsupported counters by unit or description', () => {
    assert.equal(isUnsupported({ unit: 'unsupported', values: [] }), true);
    assert.equal(isUnsupported({ unit: 'count', values: [], description: 'Unsupported: no PMU under TCG' }), true);
    assert.equal(isUnsupported({ unit: 'count', values: [3], description: 'cycles' }), false);
  });

  it('knows which way is better, name before unit', () => {
    assert.equal(directionOf('boot_time', 'ms'), 'lower');
    assert.equal(directionOf('save_throughput', 'MiB/s'), 'higher');
    assert.equal(directionOf('numa_local_fraction', 'fraction'), 'higher');
    assert.equal(directionOf('rpo_bytes', 'bytes'), 'lower');
    assert.equal(directionOf('cache_size', 'bytes'), undefined, 'bytes alone say nothing');
  });

  it('takes the PMEM size from the label, else from the run dimensions', () => {
    const run = makeRun({ scenario: 's', runIndex: 1, runs: 1, verdict: 'pass', startedAt: NIGHT0, dims: { pmem_size: '256M' } });
    assert.equal(pmemSizeOf('holdup_min_ms{pmem_size=64MiB}', run), 64 * 2 ** 20);
    assert.equal(pmemSizeOf('holdup_min_ms', run), 256 * 2 ** 20);
  });
});
