// The placement cost model on hand-computed cases (see the formulas in src/numa/cost-model.ts).
import assert from 'node:assert/strict';
import { DEFAULT_COST, oracle, placeAll, rebalance, regret, tenantCost, type PlacementState, type Tenant } from '../../src/numa/cost-model.js';

const MiB = 2 ** 20;
const SLIT = [[10, 20], [20, 10]];
const state = (tenants: Tenant[], foreign = [0, 0], free = [1024 * MiB, 1024 * MiB]): PlacementState => ({
  nodes: free.map((f, i) => ({ cpus: 1, freeBytes: f, foreignLoad: foreign[i] })), L: SLIT, tenants,
});
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} ≠ ${b}`);

describe('NUMA placement cost model', () => {
  // A: 64 MiB working set, all of it on node 1, one busy thread. f = 64/(64+32) = 2/3.
  const A: Tenant = { name: 'a', wssBytes: 64 * MiB, residentBytes: [0, 64 * MiB], cpuDemand: 1 };

  it('prices a node by where the memory lives: node 0 = 2/3·2 + 0.5·0.25 s, node 1 = 2/3', () => {
    const s = state([A]);
    const c0 = tenantCost(s, A, 0, 0), c1 = tenantCost(s, A, 1, 0);
    close(c0.mem, 4 / 3); close(c0.move, 0.25); close(c0.score, 4 / 3 + 0.125);
    close(c1.mem, 2 / 3); close(c1.move, 0); close(c1.score, 2 / 3);
    assert.deepEqual(placeAll(s).placement, { a: 1 });
  });

  it('load arriving on node 1 moves the tenant to node 0 (cpu cost 2·1 outweighs 1.458 − 0.667)', () => {
    const moves = rebalance(state([A], [0, 1]), { a: 1 });
    assert.equal(moves.length, 1);
    assert.equal(moves[0].to, 0);
    close(moves[0].gain, (2 + 2 / 3 - (4 / 3 + 0.125)) / (2 + 2 / 3));
    assert.match(moves[0].reason, /CPU load on node 1/);
  });

  it('hysteresis: a 6.5 % gain is not worth a move, a 23.5 % gain is', () => {
    // Memory-only costs (β = γ = 0). On node 1 with share x of the memory on node 0:
    // mem(1) = f(1+x), mem(0) = f(2−x), gain = (2x−1)/(1+x).
    const o = { ...DEFAULT_COST, beta: 0, gamma: 0 };
    const split = (x: number): Tenant => ({ name: 't', wssBytes: 100 * MiB, residentBytes: [x * 100 * MiB, (1 - x) * 100 * MiB], cpuDemand: 0.5 });
    assert.deepEqual(rebalance(state([split(0.55)]), { t: 1 }, o), []);
    const m = rebalance(state([split(0.7)]), { t: 1 }, o);
    assert.equal(m.length, 1);
    close(m[0].gain, 0.4 / 1.7);
    assert.match(m[0].reason, /memory lives on node 0/);
  });

  it('a working set that fits no node is refused; one that outgrew its node moves', () => {
    const big: Tenant = { name: 'big', wssBytes: 2048 * MiB, residentBytes: [0, 0], cpuDemand: 1 };
    assert.throws(() => placeAll(state([big])), /big: its working set .* fits no node/);
    const grown: Tenant = { name: 'g', wssBytes: 700 * MiB, residentBytes: [100 * MiB, 0], cpuDemand: 0.5 };
    const m = rebalance(state([grown], [0, 0], [500 * MiB, 1024 * MiB]), { g: 0 });
    assert.equal(m[0]?.to, 1);
    assert.match(m[0].reason, /grew beyond node 0/);
  });

  it('greedy equals the oracle on a simple case (regret 0)', () => {
    const a: Tenant = { name: 'a', wssBytes: 64 * MiB, residentBytes: [0, 64 * MiB], cpuDemand: 0.5 };
    const b: Tenant = { name: 'b', wssBytes: 64 * MiB, residentBytes: [64 * MiB, 0], cpuDemand: 0.5 };
    const s = state([a, b]);
    assert.deepEqual(placeAll(s).placement, { a: 1, b: 0 });
    assert.deepEqual(oracle(s).placement, { a: 1, b: 0 });
    close(regret(s, placeAll(s).placement), 0);
  });

  it('greedy can be wrong: regret exactly 0.5 against the oracle on a crafted case', () => {
    // A (64 MiB, nothing resident) costs 2/3 anywhere and takes node 0 on the tie; B (32 MiB, on
    // node 0, f = 1/2) then pays 1/2·2 = 1 on node 1. Oracle: A on 1, B on 0: 2/3 + 1/2.
    const o = { ...DEFAULT_COST, gamma: 0 };
    const a: Tenant = { name: 'a', wssBytes: 64 * MiB, residentBytes: [0, 0], cpuDemand: 1 };
    const b: Tenant = { name: 'b', wssBytes: 32 * MiB, residentBytes: [32 * MiB, 0], cpuDemand: 1 };
    const s = state([a, b]);
    const g = placeAll(s, o);
    assert.deepEqual(g.placement, { a: 0, b: 1 });
    close(g.total, 2 / 3 + 1);
    assert.deepEqual(oracle(s, o).placement, { a: 1, b: 0 });
    close(regret(s, g.placement, o), 0.5);
  });

  it('the oracle refuses what exhaustive search cannot do', () => {
    const many = Array.from({ length: 7 }, (_, i): Tenant => ({ name: `t${i}`, wssBytes: MiB, residentBytes: [0, 0], cpuDemand: 0.1 }));
    assert.throws(() => oracle(state(many)), /beyond exhaustive search/);
  });
});
