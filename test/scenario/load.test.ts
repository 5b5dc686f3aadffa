import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { loadScenario, parseScenario, ScenarioError } from '../../src/scenario/load.js';
import { scenarioJsonSchema } from '../../src/scenario/schema.js';

const yamlFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(dir, f));

const VALID = `
name: t
vms:
  - name: guest
    vcpus: 2
    memory: 1GiB
    numa:
      - { cpus: [0], memory: 512MiB, distances: [10, 21] }
      - { cpus: [1], memory: 512MiB, distances: [21, 10] }
    nvdimms:
      - { size: 256MiB, node: 1 }
steps:
  - { do: boot, vm: guest }
  - { do: pmem-write, vm: guest, pattern: p1, length: 1MiB }
  - { do: check-backing-file, vm: guest, pattern: p1 }
`;

function problemsOf(text: string): string {
  try {
    parseScenario(text, 'bad.yaml');
  } catch (e) {
    assert.ok(e instanceof ScenarioError, `expected ScenarioError, got ${e}`);
    return e.message;
  }
  assert.fail('expected the scenario to be rejected');
}

describe('scenario files', () => {
  it('loads and normalises a valid file (sizes, defaults)', () => {
    const s = parseScenario(VALID, 'ok.yaml');
    assert.equal(s.vms[0].memoryMiB, 1024);
    assert.equal(s.vms[0].maxMemoryMiB, 1280);
    assert.deepEqual(s.vms[0].nvdimms[0], { sizeMiB: 256, node: 1, labelKiB: 0, access: 'shared' });
    assert.deepEqual(s.vms[0].nics, [{ kind: 'user' }]);
  });
  it('loads every scenario shipped in scenarios/ and every test fixture', async () => {
    const files = [...yamlFiles('scenarios'), ...yamlFiles('test/fixtures')];
    assert.ok(files.length >= 20, `found only ${files.length} files`);
    const failed: string[] = [];
    for (const f of files) {
      try { await loadScenario(f); } catch (e) { failed.push((e as Error).message); }
    }
    assert.deepEqual(failed, []);
    const s = await loadScenario('scenarios/smoke.yaml');
    assert.equal(s.name, 'smoke');
    assert.equal(s.vms[0].nvdimms[0].node, 1);
  });
  it('wrong type: names file, line and field', () => {
    const m = problemsOf(VALID.replace('vcpus: 2', 'vcpus: two'));
    assert.match(m, /^bad\.yaml:5: vms\[0\]\.vcpus: must be integer$/m);
  });
  it('unknown field', () => {
    assert.match(problemsOf(VALID.replace('vcpus: 2', 'vcpus: 2\n    colour: blue')), /vms\[0\]\.colour: unknown field "colour"/);
  });
  it('NUMA cell with no CPUs', () => {
    assert.match(problemsOf(VALID.replace('cpus: [1]', 'cpus: []')), /vms\[0\]\.numa\[1\]\.cpus: must have at least 1 item/);
  });
  it('maxMemory below memory + NVDIMMs; maxMemory above it is kept for the domain', () => {
    assert.match(problemsOf(VALID.replace('vcpus: 2', 'vcpus: 2\n    maxMemory: 1100MiB')),
      /^bad\.yaml:6: vms\[0\]\.maxMemory: 1100MiB is less than memory 1024MiB \+ NVDIMMs 256MiB = 1280MiB: make it at least 1280MiB/m);
    assert.equal(parseScenario(VALID.replace('vcpus: 2', 'vcpus: 2\n    maxMemory: 2GiB'), 'ok.yaml').vms[0].maxMemoryMiB, 2048);
  });
  it('bad size string', () => {
    assert.match(problemsOf(VALID.replace('memory: 1GiB', 'memory: lots')), /vms\[0\]\.memory: must be a size/);
  });
  it('unknown step kind and unknown VM', () => {
    assert.match(problemsOf(VALID.replace('do: boot, vm: guest', 'do: explode, vm: guest')), /steps\[0\]\.do: unknown step "explode"/);
    assert.match(problemsOf(VALID.replace('do: boot, vm: guest', 'do: boot, vm: other')), /steps\[0\]\.vm: no VM named "other"/);
  });
  it('semantic rules: cpu beyond vcpus, cells not adding up, NVDIMM on a missing node, pattern read before written', () => {
    assert.match(problemsOf(VALID.replace('cpus: [1]', 'cpus: [7]')), /numa\[1\]\.cpus\[0\]: vCPU 7 does not exist/);
    assert.match(problemsOf(VALID.replace('memory: 1GiB', 'memory: 2GiB')), /cells add up to 1024 MiB but memory is 2048 MiB/);
    assert.match(problemsOf(VALID.replace('node: 1 }', 'node: 3 }')), /nvdimms\[0\]\.node: no NUMA cell 3/);
    assert.match(problemsOf(VALID.replace('pattern: p1 }\n', 'pattern: p9 }\n')), /pattern "p9" is not written/);
    assert.match(problemsOf(VALID.replace('length: 1MiB', 'length: 1000')), /steps\[1\]\.length: must be a non-zero multiple of 4096/);
  });
  it('YAML syntax errors are reported with a line', () => {
    assert.match(problemsOf('name: [unclosed\nvms: 1\n'), /^bad\.yaml:\d+: \(top\): YAML:/);
  });
  it('a missing file is a ScenarioError naming the file', async () => {
    await assert.rejects(loadScenario('no/such.yaml'), /no\/such\.yaml: \(top\): cannot read: ENOENT/);
  });
  it('exports a JSON Schema that validates the shipped scenario and rejects a bad one', async () => {
    const schema = scenarioJsonSchema();
    const v = new Ajv({ discriminator: true, strict: false }).compile(schema);
    const yaml = await import('yaml');
    assert.equal(v(yaml.parse(VALID)), true);
    assert.equal(v(yaml.parse(VALID.replace('vcpus: 2', 'vcpus: two'))), false);
  });
});
