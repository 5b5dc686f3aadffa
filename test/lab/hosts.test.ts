// `ftharness hosts` against a real sshd in a test network namespace: labels and health read over
// the pinned SSH and its libvirt; a host whose key does not match is unhealthy (exit 2); an
// inventory that carries a credential inline, or lacks a field, is refused naming the field.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../helpers.js';
import { parseProbe } from '../../harness/hosts.js';
import { startTestHost, type TestHost } from './netns-sshd.js';

describe('ftharness hosts (lab inventory) against sshd in a test network namespace', function () {
  this.timeout(120_000);
  let h: TestHost;
  before(async () => { h = await startTestHost(); });
  after(async () => { await h?.stop(); });
  const inv = (name: string, text: string) => { const f = join(h.dir, name); writeFileSync(f, text); return f; };
  const host = (name: string, knownHost: string) => `  - name: ${name}\n    ssh: { host: ${h.host}, port: ${h.port}, user: root, key: { file: user }, knownHost: "${knownHost}" }\n`;

  it('reads each host\'s labels and health over SSH and libvirt', async () => {
    const r = await cli(['hosts', '--inventory', inv('good.yaml', `hosts:\n${host('lab-1', h.knownHost)}`), '--json']);
    assert.equal(r.exitCode, 0, r.all);
    const j = JSON.parse(r.stdout);
    const [l] = j.hosts;
    assert.equal(l.healthy, true, JSON.stringify(l));
    assert.ok(l.labels.includes('pmem:none') && l.labels.some((x: string) => /^numa:\d+$/.test(x)), l.labels.join(' '));
    assert.match(l.libvirt, /^ok \(qemu\+ssh:\/\/root@/);
    assert.ok(l.facts.memory.totalBytes > 0 && l.facts.numa.nodes.length >= 1);
  });

  it('a host whose key does not match is unhealthy, and the command says why', async () => {
    const r = await cli(['hosts', '--inventory', inv('mixed.yaml', `hosts:\n${host('lab-1', h.knownHost)}${host('lab-2', h.otherHostKey)}`)]);
    assert.equal(r.exitCode, 2);
    assert.match(r.stdout, /^ok +lab-1 /m);
    assert.match(r.stdout, /^UNHEALTHY lab-2[\s\S]*host key mismatch, connection refused \(fail closed\)/m);
  });

  it('refuses inline credentials and missing fields, naming them', async () => {
    const r = await cli(['hosts', '--inventory', inv('bad.yaml', `hosts:\n  - name: lab-1\n    ssh: { host: x, user: root, key: { file: k }, knownHost: "ssh-ed25519 AAAA" }\n    password: hunter2\n  - name: lab-2\n    ssh: { host: y, user: root, knownHost: "ssh-ed25519 AAAA" }\n`)]);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /bad\.yaml: hosts\[0\]\.password: unknown field \(credentials are given by reference/);
    assert.match(r.stderr, /bad\.yaml: hosts\[1\]\.ssh\.key: required field is missing/);
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
  });

  it('parses the probe output with known answers', () => {
    const p = parseProbe('node 0 0-3 1024 10 21\nnode 1 4-7,9 2048 21 10\nnode 2 none 512 30 30 10\nmem 4096 1024\nndctl [{"dev":"namespace0.0"}]\npmu software\nbmc none\n');
    assert.deepEqual(p.numa.nodes.map((n) => [n.id, n.cpus, n.memoryBytes, n.distances]), [[0, 4, 1048576, [10, 21]], [1, 5, 2097152, [21, 10]], [2, 0, 524288, [30, 30, 10]]]);
    assert.deepEqual([p.memory.totalBytes, p.nvdimms.count, p.pmu.kind, p.bmc.inBand], [4096, 1, 'software', false]);
  });
});
