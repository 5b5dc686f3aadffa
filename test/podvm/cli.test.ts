// `ftharness podvm plan` through the real CLI on pods it has never seen (written here), and bad
// input everywhere a user can give it: pod manifests, inventories, scenarios naming them. Bad input
// exits 2 and names the file and the field; nothing is planned or started.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, tmpDir } from '../helpers.js';

const dir = tmpDir('fth-podvm-cli-');
const write = (name: string, text: string) => { const f = join(dir, name); writeFileSync(f, text); return f; };

const fresh = write('batch.yaml', `apiVersion: v1
kind: Pod
metadata: { name: batch-7f3a, namespace: jobs }
spec:
  restartPolicy: OnFailure
  initContainers:
    - { name: fetch, image: busybox, command: [sh, -c, 'true'], resources: { requests: { cpu: 1500m, memory: 300Mi } } }
    - { name: proxy, image: busybox, restartPolicy: Always, command: [sh], resources: { requests: { cpu: 200m, memory: 50Mi }, limits: { memory: 100Mi } } }
    - { name: warm, image: busybox, command: [sh], resources: { requests: { cpu: 1400m } } }
  containers:
    - { name: work, image: busybox, command: [sh], resources: { requests: { cpu: "1", memory: 1Gi }, limits: { cpu: "2", memory: 1.5Gi } } }
---
apiVersion: v1
kind: Pod
metadata: { name: huge }
spec:
  containers:
    - { name: a, image: busybox, command: [sh], resources: { requests: { cpu: "64", memory: 1Ti } } }
`);
const inv = write('inv.yaml', `hosts:
  - { name: small, cpu: 2, memory: 1Gi }
  - { name: big, cpu: 8, memory: 16Gi, reserved: { cpu: 500m, memory: 1Gi } }
`);

describe('ftharness podvm plan', () => {
  it('explains a pod with init containers and a sidecar it has never seen, and keeps a too-large one Pending in Kubernetes\' words', async () => {
    const r = await cli(['podvm', 'plan', fresh, '--inventory', inv]);
    assert.equal(r.exitCode, 0, r.all);
    // cpu: init "warm" 1400m + sidecar proxy 200m = 1600m > fetch 1500m and > work 1 + proxy = 1200m
    assert.match(r.stdout, /requests\.cpu = 1600m: init container "warm" \+ sidecar proxy declared before it/);
    assert.match(r.stdout, /requests\.memory = 1074Mi: Σ app containers and sidecars \(proxy, work\)/);
    assert.match(r.stdout, /podVM \(fth\): 2 vCPU, 1728 MiB/);
    assert.match(r.stdout, /small: rejected: Insufficient memory/);
    assert.match(r.stdout, /→ host big/);
    assert.match(r.stdout, /NodeResourcesFit on big: fits \(the schedulers agree\)/);
    assert.match(r.stdout, /pod default\/huge[\s\S]*→ Pending: 0\/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory\./);
  });

  it('--json gives exact quantities and the Binding object; policies compare on the same pod', async () => {
    const r = await cli(['podvm', 'plan', fresh, '--inventory', inv, '--json', '--policy', 'kata-go-static']);
    assert.equal(r.exitCode, 0, r.all);
    const j = JSON.parse(r.stdout);
    assert.equal(j.pods[0].effective.requests.cpu, '1600');
    assert.deepEqual([j.pods[0].size.vcpus, j.pods[0].size.memoryMiB], [3, 2048 + 1536 + 100]);
    assert.deepEqual(j.pods[0].binding.target, { apiVersion: 'v1', kind: 'Node', name: 'big' });
    assert.equal(j.pods[1].state, 'Pending');
  });

  it('without an inventory, this machine is the one host', async () => {
    const r = await cli(['podvm', 'plan', 'scenarios/podvm/web.pod.yaml']);
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /^this machine as one host: local/);
    assert.match(r.stdout, /→ host local/);
  });

  it('bad pods, inventories and flags exit 2 naming the file and field, and plan nothing', async () => {
    const bad = write('bad.yaml', `apiVersion: v1
kind: Pod
metadata: { name: bad }
spec:
  containers:
    - { name: a, image: busybox, resources: { requests: { cpu: 2 }, limits: { cpu: 1 } } }
    - { name: a, image: busybox, restartPolicy: Always }
`);
    const r = await cli(['podvm', 'plan', bad, fresh]);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, new RegExp(`${bad}: spec\\.containers\\[0\\]\\.resources\\.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`));
    assert.match(r.stderr, /spec\.containers\[1\]\.name: Duplicate value: "a"/);
    assert.match(r.stderr, /spec\.containers\[1\]\.restartPolicy: Forbidden/);
    assert.doesNotMatch(r.stdout, /pod /);
    const q = await cli(['podvm', 'plan', write('q.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: { name: q }\nspec:\n  containers: [{ name: a, image: busybox, resources: { limits: { memory: 1.5.5Gi } } }]\n')]);
    assert.equal(q.exitCode, 2);
    assert.match(q.stderr, /q\.yaml: spec\.containers\[0\]\.resources\.limits(\.|\[)memory/);
    const i = await cli(['podvm', 'plan', fresh, '--inventory', write('i.yaml', 'hosts: [{ name: h, cpu: two, memory: 1Gi }]\n')]);
    assert.equal(i.exitCode, 2);
    assert.match(i.stderr, /i\.yaml: hosts\[0\]\.cpu: /);
    const p = await cli(['podvm', 'plan', fresh, '--policy', 'kata']);
    assert.equal(p.exitCode, 2);
    assert.match(p.stderr, /--policy/);
  });

  it('a scenario naming a bad pod is rejected before anything starts', async () => {
    const bad = write('bad2.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: { name: Bad_Name }\nspec:\n  containers: [{ name: a, image: busybox, command: [sh] }]\n');
    const scen = write('s.yaml', `name: s\nvms: []\nsteps:\n  - { do: podvm-cluster }\n  - { do: pod-create, pod: bad2.yaml }\n  - { do: check-pod, pod: nope }\n`);
    const out = tmpDir('fth-podvm-out-');
    const r = await cli(['run', scen, '--out', out, '--no-report']);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /s\.yaml:5: steps\[1\]\.pod: invalid pod manifest .*bad2\.yaml[\s\S]*metadata\.name: Invalid value: "Bad_Name"/);
    assert.match(r.stderr, /steps\[2\]\.pod: no pod "nope" was created before this step/);
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'a run dir was created');
    const noCluster = write('s2.yaml', `name: s2\nvms: []\nsteps:\n  - { do: pod-create, pod: bad2.yaml }\n`);
    const r2 = await cli(['validate', noCluster]);
    assert.equal(r2.exitCode, 2);
    assert.match(r2.stderr, /steps\[0\]\.do: no podvm-cluster step before this one/);
    const empty = write('s3.yaml', 'name: s3\nvms: []\nsteps:\n  - { do: sleep, ms: 1 }\n');
    const r3 = await cli(['validate', empty]);
    assert.equal(r3.exitCode, 2);
    assert.match(r3.stderr, /vms: must have at least 1 item\(s\): no step of this scenario creates VMs itself/);
  });
});
