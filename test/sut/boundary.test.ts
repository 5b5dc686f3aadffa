// The SUT boundary: a system is one folder whose plugin registers itself; the runner and the
// scenario loader name none; a SUT's own code (what runs in guests) imports nothing from the
// harness. A throw-away SUT registered here shows that a new system needs no other change.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { Type } from '@sinclair/typebox';
import { parseScenario } from '../../src/scenario/load.js';
import { step, VmName } from '../../src/scenario/schema.js';
import { runStep } from '../../src/runner/steps.js';
import type { RunContext } from '../../src/runner/context.js';
import { registerSut, suts } from '../../src/sut/registry.js';

const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => {
  const p = join(dir, f);
  return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
});
const imports = (file: string) => [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((m) => m[1]);

describe('SUT boundary', () => {
  it('each registered SUT is one folder under src/ with a plugin', () => {
    assert.deepEqual(suts().map((s) => s.name).sort(), ['numa', 'pheap', 'pmem-ha', 'podvm']);
    for (const s of suts()) assert.ok(statSync(`src/${s.name}/plugin/index.ts`).isFile());
  });

  it("a SUT's own code imports only its folder, src/shared and packages — nothing of the harness", () => {
    for (const s of suts()) {
      for (const f of files(`src/${s.name}`).filter((x) => !x.includes('/plugin/'))) {
        for (const spec of imports(f).filter((x) => x.startsWith('.'))) {
          const target = relative('src', resolve(dirname(f), spec));
          assert.ok(target.startsWith(`${s.name}/`) && !target.startsWith(`${s.name}/plugin/`) || target.startsWith('shared/'), `${f} imports ${spec} (${target})`);
        }
      }
    }
    for (const f of files('src/shared')) {
      for (const spec of imports(f).filter((x) => x.startsWith('.'))) assert.ok(resolve(dirname(f), spec).startsWith(resolve('src/shared')), `${f} imports ${spec}`);
    }
  });

  it('src/runner and src/scenario name no SUT: no import of a SUT folder, no SUT step kind', () => {
    const kinds = suts().flatMap((s) => Object.keys(s.steps));
    for (const f of [...files('src/runner'), ...files('src/scenario')]) {
      const text = readFileSync(f, 'utf8');
      for (const spec of imports(f)) assert.ok(!suts().some((s) => spec.includes(`/${s.name}/`)), `${f} imports ${spec}`);
      for (const k of kinds) assert.ok(!new RegExp(`['"\`]${k}['"\`]`).test(text), `${f} names the step "${k}"`);
    }
  });

  it('a new SUT is one registration: its step validates, walks and runs with no other change', async () => {
    const seen: string[] = [];
    registerSut({
      name: 'demo-sut', summary: 'a throw-away SUT for this test',
      steps: {
        'demo-echo': {
          schema: step('demo-echo', { vm: VmName, words: Type.String({ minLength: 1 }) }, 'say something'),
          walk: (w, st: { vm: string }) => { if (!w.needOn(st.vm)) seen.push('walk: off'); else seen.push('walk: on'); },
          run: async (_ctx, st: { words: string }, slice: { said: string[] }) => { slice.said.push(st.words); },
        },
      },
      slice: () => ({ said: [] as string[] }),
    });
    assert.throws(() => registerSut({ name: 'demo-sut-2', summary: 'x', steps: { 'demo-echo': { schema: step('demo-echo', {}, 'x'), run: async () => undefined } } }), /already provided by demo-sut/);
    const yaml = (steps: string) => `name: d\nvms:\n  - { name: g, vcpus: 1, memory: 128MiB }\nsteps:\n${steps}`;
    const sc = parseScenario(yaml('  - { do: boot, vm: g }\n  - { do: demo-echo, vm: g, words: hello }\n'), 'd.yaml');
    assert.deepEqual(seen, ['walk: on']);
    assert.throws(() => parseScenario(yaml('  - { do: demo-echo, vm: g, words: "" }\n'), 'd.yaml'), /steps\[0\]\.words/);
    assert.throws(() => parseScenario(yaml('  - { do: demo-echo, vm: g, words: hi }\n'), 'd.yaml'), /demo-echo: VM "g" is not running here/);
    const ctx = { slices: new Map() } as unknown as RunContext;
    await runStep(ctx, sc.steps[1]);
    assert.deepEqual(ctx.slices.get('demo-sut'), { said: ['hello'] });
  });
});
