// Sharding for CI matrices: the shards of a suite are disjoint and their union is the suite, the
// split does not depend on the order files were given in, and a run keeps its index and seed.
import assert from 'node:assert/strict';
import { inShard, parseShard, workItems, type Shard } from '../../src/runner/shard.js';
import { cli } from '../helpers.js';

const scen = ['c', 'a', 'b', 'd', 'e'].map((n, i) => ({ file: `/s/${n}.yaml`, name: n, ...(i === 1 ? { seed: 100 } : {}) }));
const id = (x: { scenario: string; run: number }) => `${x.scenario}#${x.run}`;

describe('run --shard / --list', () => {
  it('shards are disjoint, their union is the whole set, and they are balanced', () => {
    for (const runs of [1, 3]) {
      const all = workItems(scen, runs);
      for (const n of [1, 2, 3, 4, 7, 16]) {
        const parts = Array.from({ length: n }, (_, i) => inShard(all, { index: i + 1, count: n }).map(id));
        const flat = parts.flat();
        assert.equal(new Set(flat).size, flat.length, `overlap at N=${n}`);
        assert.deepEqual([...flat].sort(), all.map(id).sort(), `union at N=${n}`);
        const sizes = parts.map((p) => p.length);
        assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `unbalanced at N=${n}: ${sizes}`);
      }
    }
  });

  it('does not depend on the order of the files; keeps run indices and seeds', () => {
    const s: Shard = { index: 2, count: 3 };
    const a = inShard(workItems(scen, 2), s).map(id).sort();
    const b = inShard(workItems([...scen].reverse(), 2), s).map(id).sort();
    assert.deepEqual(a, b);
    const items = workItems(scen, 3);
    assert.deepEqual(items.filter((x) => x.scenario === 'a').map((x) => x.seed), [100, 101, 102]);
    assert.deepEqual(workItems(scen, 2, 7).filter((x) => x.scenario === 'c').map((x) => x.seed), [7, 8]);
    assert.equal(items.find((x) => x.scenario === 'c')!.seed, undefined);
  });

  it('parses i/N and says what is wrong', () => {
    assert.deepEqual(parseShard('2/4'), { index: 2, count: 4 });
    assert.match(String(parseShard('0/4')), /i must be between 1 and N/);
    assert.match(String(parseShard('5/4')), /i must be between 1 and N/);
    assert.match(String(parseShard('1/0')), /N must be between 1 and 1000/);
    assert.match(String(parseShard('two')), /must be i\/N/);
  });

  it('the CLI lists without starting anything; the shards of the listing add up to it', async () => {
    const files = ['scenarios/smoke.yaml', 'scenarios/pmem-ha-basic.yaml', 'scenarios/podvm-oom.yaml'];
    const whole = await cli(['run', ...files, '--runs', '2', '--seed', '5', '--list', '--json']);
    assert.equal(whole.exitCode, 0, whole.all);
    const all = JSON.parse(whole.stdout) as { total: number; items: { scenario: string; run: number; seed: number }[] };
    assert.equal(all.total, 6);
    assert.deepEqual(all.items.map((x) => x.seed), [5, 6, 5, 6, 5, 6]);
    const got: string[] = [];
    for (const i of [1, 2, 3, 4]) {
      const r = await cli(['run', ...files, '--runs', '2', '--seed', '5', '--list', '--json', '--shard', `${i}/4`]);
      assert.equal(r.exitCode, 0, r.all);
      got.push(...(JSON.parse(r.stdout) as typeof all).items.map(id));
    }
    assert.deepEqual(got.sort(), all.items.map(id).sort());
    const text = await cli(['run', ...files, '--list', '--shard', '1/2']);
    assert.match(text.stdout, /^\S+ run 1\/1 \S+\.yaml$/m);
    const bad = await cli(['run', ...files, '--list', '--shard', '3/2']);
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /--shard: i must be between 1 and N \(2\), got 3/);
  });
});
