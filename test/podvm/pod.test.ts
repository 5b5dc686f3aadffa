// Unit tests of src/podvm/pod.ts: one test per API-server rule (path and wording as
// kubernetes/kubernetes pkg/apis/core/validation/validation.go and apimachinery's field errors
// print them), defaulting, kinds, QoS, and the file-level loader (test/fixtures/pods).
import assert from 'node:assert/strict';
import { loadPods, loadPodsSync, PodSpecError, validatePod } from '../../src/podvm/pod.js';
import type { FieldError } from '../../src/podvm/model.js';

const FIX = 'test/fixtures/pods';
type Obj = Record<string, unknown>;

/** A valid pod with the given containers (and spec fields) to vary one thing at a time. */
function pod(spec: Obj = {}, metadata: Obj = { name: 'p' }): Obj {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } };
}
const withResources = (resources: unknown): Obj => pod({ containers: [{ name: 'c', image: 'busybox', resources }] });
function errorsOf(raw: unknown): FieldError[] {
  const r = validatePod(raw, 'inline.yaml');
  assert.equal(r.pod === undefined, r.errors.length > 0, 'a pod exactly when there are no errors');
  return r.errors;
}
const one = (raw: unknown, path: string, message: string): void => assert.deepEqual(errorsOf(raw), [{ path, message }]);
const LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', '123-abc'; regex: '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com'; regex: '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const QTY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

describe('podvm pod manifests', () => {
  describe('validation', () => {
    it('accepts a minimal pod and defaults namespace, restartPolicy and QoS', () => {
      const r = validatePod(pod(), 'inline.yaml');
      assert.deepEqual(r.errors, []);
      assert.equal(r.pod?.namespace, 'default');
      assert.equal(r.pod?.restartPolicy, 'Always');
      assert.equal(r.pod?.qosClass, 'BestEffort');
      assert.equal(r.pod?.file, 'inline.yaml');
    });

    it('requires apiVersion v1 and kind Pod', () => {
      one({ ...pod(), apiVersion: 'apps/v1' }, 'apiVersion', 'Unsupported value: "apps/v1": supported values: "v1"');
      one({ ...pod(), kind: 'Deployment' }, 'kind', 'Unsupported value: "Deployment": supported values: "Pod"');
      one({ ...pod(), apiVersion: undefined }, 'apiVersion', 'Required value');
      one({ ...pod(), kind: '' }, 'kind', 'Required value');
      one('just a string', '', 'Invalid value: "just a string": must be an object (a v1 Pod)');
    });

    it('requires metadata.name, a DNS-1123 subdomain of at most 253 characters', () => {
      one(pod({}, {}), 'metadata.name', 'Required value: name or generateName is required');
      one(pod({}, { name: 7 }), 'metadata.name', 'Invalid value: 7: must be a string');
      one(pod({}, { name: 'Web_1' }), 'metadata.name', `Invalid value: "Web_1": ${SUBDOMAIN_MSG}`);
      assert.deepEqual(errorsOf(pod({}, { name: 'a'.repeat(254) })), [{ path: 'metadata.name', message: `Invalid value: "${'a'.repeat(254)}": must be no more than 253 characters` }]);
      assert.deepEqual(errorsOf(pod({}, { name: 'web.shop-1' })), []);
    });

    it('checks a given namespace is a DNS-1123 label', () => {
      one(pod({}, { name: 'p', namespace: 'my.ns' }), 'metadata.namespace', 'Invalid value: "my.ns": must not contain dots');
      one(pod({}, { name: 'p', namespace: 'Prod' }), 'metadata.namespace', `Invalid value: "Prod": ${LABEL_MSG}`);
      assert.equal(validatePod(pod({}, { name: 'p', namespace: 'prod' }), 'f').pod?.namespace, 'prod');
    });

    it('requires spec and a non-empty spec.containers', () => {
      one({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } }, 'spec', 'Required value');
      one(pod({ containers: [] }), 'spec.containers', 'Required value');
      one(pod({ containers: undefined }), 'spec.containers', 'Required value');
    });

    it('requires container names that are DNS-1123 labels of at most 63 characters', () => {
      one(pod({ containers: [{ image: 'busybox' }] }), 'spec.containers[0].name', 'Required value');
      one(pod({ containers: [{ name: 'Web', image: 'busybox' }] }), 'spec.containers[0].name', `Invalid value: "Web": ${LABEL_MSG}`);
      const long = 'a'.repeat(64);
      one(pod({ containers: [{ name: long, image: 'busybox' }] }), 'spec.containers[0].name', `Invalid value: "${long}": must be no more than 63 characters`);
    });

    it('requires names unique across containers and initContainers', () => {
      one(pod({ containers: [{ name: 'x', image: 'b' }, { name: 'x', image: 'b' }] }), 'spec.containers[1].name', 'Duplicate value: "x"');
      one(pod({ containers: [{ name: 'x', image: 'b' }], initContainers: [{ name: 'x', image: 'b' }] }),
        'spec.initContainers[0].name', 'Duplicate value: "x"');
      one(pod({ initContainers: [{ name: 'i', image: 'b' }, { name: 'i', image: 'b' }] }), 'spec.initContainers[1].name', 'Duplicate value: "i"');
    });

    it('requires an image, without surrounding whitespace', () => {
      one(pod({ containers: [{ name: 'c' }] }), 'spec.containers[0].image', 'Required value');
      one(pod({ initContainers: [{ name: 'i', image: '' }] }), 'spec.initContainers[0].image', 'Required value');
      one(pod({ containers: [{ name: 'c', image: ' busybox' }] }), 'spec.containers[0].image', 'Invalid value: " busybox": must not have leading or trailing whitespace');
    });

    it('reports unparseable quantities at their field, in requests, limits and overhead alike', () => {
      one(withResources({ limits: { cpu: '1 Gi' } }), 'spec.containers[0].resources.limits.cpu', `Invalid value: "1 Gi": ${QTY_MSG}`);
      one(withResources({ requests: { memory: '1.5.5Gi' } }), 'spec.containers[0].resources.requests.memory', `Invalid value: "1.5.5Gi": ${QTY_MSG}`);
      one(withResources({ requests: { memory: '1ki' } }), 'spec.containers[0].resources.requests.memory', 'Invalid value: "1ki": unable to parse quantity\'s suffix');
      one(withResources({ limits: { 'ephemeral-storage': '1Gb' } }), 'spec.containers[0].resources.limits.ephemeral-storage', `Invalid value: "1Gb": ${QTY_MSG}`);
      one(withResources({ limits: { 'nvidia.com/gpu': 'lots' } }), 'spec.containers[0].resources.limits[nvidia.com/gpu]', `Invalid value: "lots": ${QTY_MSG}`);
      one(pod({ overhead: { cpu: 'x' } }), 'spec.overhead.cpu', `Invalid value: "x": ${QTY_MSG}`);
      one(withResources({ limits: { memory: true } }), 'spec.containers[0].resources.limits.memory', 'Invalid value: true: must be a quantity (a string or a number)');
      one(withResources({ limits: { memory: 12345678901234567890 } }), 'spec.containers[0].resources.limits.memory',
        'Invalid value: 12345678901234567000: integer too large to read exactly from a YAML number; quote it');
    });

    it('accepts and ignores other standard and extended resources, but not misspelt ones', () => {
      const r = validatePod(withResources({ limits: { 'ephemeral-storage': '1Gi', 'hugepages-2Mi': '4Mi', 'example.com/dongle': 1, cpu: 1 } }), 'f');
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.pod?.containers[0].limits, { cpu: 1000n });
      assert.deepEqual(r.pod?.containers[0].requests, { cpu: 1000n });
      one(withResources({ requests: { cpus: '1' } }), 'spec.containers[0].resources.requests.cpus', 'Invalid value: "cpus": must be a standard resource for containers');
    });

    it('rejects negative quantities', () => {
      one(withResources({ limits: { memory: '-1Gi' } }), 'spec.containers[0].resources.limits.memory', 'Invalid value: "-1Gi": must be greater than or equal to 0');
      one(withResources({ requests: { cpu: -0.5 } }), 'spec.containers[0].resources.requests.cpu', 'Invalid value: "-500m": must be greater than or equal to 0');
      one(pod({ overhead: { memory: '-1' } }), 'spec.overhead.memory', 'Invalid value: "-1": must be greater than or equal to 0');
    });

    it('accepts cpu finer than 1m, as the API server does, rounding it up to 1m', () => {
      // ValidateResourceQuantityValue has no precision rule; kubelet's MilliValue() rounds up
      const r = validatePod(withResources({ requests: { cpu: '0.0001' }, limits: { cpu: '100u' } }), 'f');
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.pod?.containers[0].requests, { cpu: 1n });
      assert.deepEqual(r.pod?.containers[0].limits, { cpu: 1n });
    });

    it('requires request <= limit per resource, in Kubernetes wording, on exact values', () => {
      one(withResources({ requests: { cpu: '600m' }, limits: { cpu: '500m' } }), 'spec.containers[0].resources.requests',
        'Invalid value: "600m": must be less than or equal to cpu limit of 500m');
      one(withResources({ requests: { memory: '1.5Gi' }, limits: { memory: '1Gi' } }), 'spec.containers[0].resources.requests',
        'Invalid value: "1536Mi": must be less than or equal to memory limit of 1Gi');
      // both round up to 1m, but 0.0002 > 0.0001 exactly
      one(withResources({ requests: { cpu: '0.0002' }, limits: { cpu: '0.0001' } }), 'spec.containers[0].resources.requests',
        'Invalid value: "200u": must be less than or equal to cpu limit of 100u');
      assert.deepEqual(errorsOf(withResources({ requests: { cpu: '0.5' }, limits: { cpu: '500m' } })), []);
    });

    it('requires equal request and limit for resources that cannot be overcommitted', () => {
      one(withResources({ requests: { cpu: 1, 'example.com/dongle': 1 }, limits: { cpu: 1, 'example.com/dongle': 2 } }),
        'spec.containers[0].resources.requests', 'Invalid value: "1": must be equal to example.com/dongle limit of 2');
      one(withResources({ requests: { 'example.com/dongle': 1 } }), 'spec.containers[0].resources.limits',
        'Required value: Limit must be set for non overcommitable resources');
    });

    it('allows a container restartPolicy only on init containers, and only Always', () => {
      one(pod({ containers: [{ name: 'c', image: 'b', restartPolicy: 'Always' }] }), 'spec.containers[0].restartPolicy',
        'Forbidden: may not be set for non-init containers');
      one(pod({ initContainers: [{ name: 'i', image: 'b', restartPolicy: 'OnFailure' }] }), 'spec.initContainers[0].restartPolicy',
        'Unsupported value: "OnFailure": supported values: "Always"');
    });

    it('allows a pod restartPolicy of Always, OnFailure or Never', () => {
      one(pod({ restartPolicy: 'Sometimes' }), 'spec.restartPolicy', 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"');
      for (const p of ['Always', 'OnFailure', 'Never']) assert.equal(validatePod(pod({ restartPolicy: p }), 'f').pod?.restartPolicy, p);
      assert.equal(validatePod(pod({ restartPolicy: '' }), 'f').pod?.restartPolicy, 'Always', 'SetDefaults_PodSpec');
    });

    it('reads spec.overhead quantities into the model', () => {
      const r = validatePod(pod({ overhead: { cpu: '250m', memory: '120Mi' } }), 'f');
      assert.deepEqual(r.pod?.overhead, { cpu: 250n, memory: 120n * 1024n * 1024n });
    });

    it('requires nodeSelector to map strings to strings', () => {
      assert.deepEqual(validatePod(pod({ nodeSelector: { 'kubernetes.io/os': 'linux' } }), 'f').pod?.nodeSelector, { 'kubernetes.io/os': 'linux' });
      one(pod({ nodeSelector: { zone: 3 } }), 'spec.nodeSelector.zone', 'Invalid value: 3: must be a string');
      one(pod({ nodeSelector: ['zone'] }), 'spec.nodeSelector', 'Invalid value: ["zone"]: must be an object');
    });

    it('reports wrong JSON types with their path, and accepts unknown fields', () => {
      one(withResources('2 cpus'), 'spec.containers[0].resources', 'Invalid value: "2 cpus": must be an object');
      one(withResources({ limits: ['cpu'] }), 'spec.containers[0].resources.limits', 'Invalid value: ["cpu"]: must be an object');
      one(pod({ containers: [{ name: 'c', image: 7 }] }), 'spec.containers[0].image', 'Invalid value: 7: must be a string');
      one(pod({ containers: [{ name: 'c', image: 'b', command: 'sh -c x' }] }), 'spec.containers[0].command', 'Invalid value: "sh -c x": must be a list');
      one(pod({ containers: [{ name: 'c', image: 'b', args: ['-c', 1] }] }), 'spec.containers[0].args[1]', 'Invalid value: 1: must be a string');
      one(pod({ containers: [{ name: 'c', image: 'b', env: [{ value: 'x' }] }] }), 'spec.containers[0].env[0].name', 'Required value');
      one(pod({ containers: 'c' }), 'spec.containers', 'Invalid value: "c": must be a list');
      one(pod({ containers: ['c'] }), 'spec.containers[0]', 'Invalid value: "c": must be an object');
      one({ ...pod(), spec: 'none' }, 'spec', 'Invalid value: "none": must be an object');
      assert.deepEqual(errorsOf({ ...pod(), status: { phase: 'Running' }, extra: 1, spec: { ...(pod().spec as Obj), hostNetwork: true } }), []);
    });
  });

  describe('model', () => {
    it('builds a pod with an init container, a sidecar and two apps: kinds, order, defaulting', async () => {
      const [p, ...rest] = await loadPods(`${FIX}/web-with-sidecar.yaml`);
      assert.equal(rest.length, 0);
      assert.equal(p.name, 'web');
      assert.equal(p.namespace, 'shop');
      assert.equal(p.restartPolicy, 'OnFailure');
      assert.deepEqual(p.nodeSelector, { disktype: 'ssd' });
      assert.deepEqual(p.containers.map((c) => [c.name, c.kind]), [['migrate', 'init'], ['log-shipper', 'sidecar'], ['app', 'app'], ['metrics', 'app']]);
      const [migrate, shipper, app, metrics] = p.containers;
      // a limit without a request defaults the request (SetDefaults_Pod)
      assert.deepEqual(migrate.limits, { cpu: 500n, memory: 64n << 20n });
      assert.deepEqual(migrate.requests, { cpu: 500n, memory: 64n << 20n });
      assert.deepEqual(shipper.requests, { cpu: 100n, memory: 32n << 20n });
      assert.deepEqual(shipper.limits, {});
      assert.deepEqual(app.requests, { cpu: 250n, memory: 1610612736n });
      assert.deepEqual(app.limits, { cpu: 1000n, memory: 2n << 30n });
      assert.deepEqual(metrics.requests, { cpu: 1n, memory: 100n << 20n });
      // command ++ args; nothing invented when there is neither
      assert.deepEqual(migrate.command, ['sh', '-c', 'echo migrating']);
      assert.deepEqual(app.command, ['httpd', '-f']);
      assert.deepEqual(metrics.command, []);
      // value entries only; valueFrom is not resolved
      assert.deepEqual(app.env, { MODE: 'production', EMPTY: '' });
      assert.equal(p.qosClass, 'Burstable');
      assert.equal((p.raw.spec?.initContainers ?? [])[1].name, 'log-shipper', 'raw manifest kept');
    });

    it('derives a stable UUID-shaped uid from namespace/name unless metadata.uid is set', () => {
      const a = validatePod(pod(), 'f').pod!.uid;
      assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(validatePod(pod(), 'other-file').pod!.uid, a, 'depends on namespace/name only');
      assert.notEqual(validatePod(pod({}, { name: 'p', namespace: 'other' }), 'f').pod!.uid, a);
      assert.equal(validatePod(pod({}, { name: 'p', uid: 'given' }), 'f').pod!.uid, 'given');
    });

    it('classifies QoS as Kubernetes does, counting init containers too', () => {
      const g = { limits: { cpu: '1', memory: '1Gi' } };
      const qos = (spec: Obj) => validatePod(pod(spec), 'f').pod!.qosClass;
      assert.equal(qos({ containers: [{ name: 'c', image: 'b', resources: g }] }), 'Guaranteed');
      assert.equal(qos({ containers: [{ name: 'c', image: 'b', resources: { requests: { cpu: 1, memory: '1Gi' }, limits: { cpu: '1000m', memory: '1024Mi' } } }] }), 'Guaranteed');
      assert.equal(qos({ containers: [{ name: 'c', image: 'b', resources: { requests: { cpu: '500m' }, ...g } }] }), 'Burstable');
      assert.equal(qos({ containers: [{ name: 'c', image: 'b', resources: { limits: { cpu: 1 } } }] }), 'Burstable', 'no memory limit');
      assert.equal(qos({ containers: [{ name: 'c', image: 'b', resources: g }], initContainers: [{ name: 'i', image: 'b' }] }), 'Burstable', 'an unlimited init container');
      assert.equal(qos({ containers: [{ name: 'c', image: 'b', resources: g }], initContainers: [{ name: 'i', image: 'b', resources: g }] }), 'Guaranteed');
      assert.equal(qos({ containers: [{ name: 'c', image: 'b', resources: { limits: { 'ephemeral-storage': '1Gi' } } }] }), 'BestEffort', 'only cpu and memory count');
      assert.equal(qos({ containers: [{ name: 'c', image: 'b', resources: { limits: { cpu: 0, memory: 0 } } }] }), 'BestEffort', 'zero quantities do not count');
      assert.equal(qos({ containers: [{ name: 'c', image: 'b', resources: { requests: { cpu: '0.0005' }, limits: { cpu: '1m', memory: '1Gi' } } }] }), 'Burstable',
        'exact values: 0.5m < 1m although both are 1 millicore');
    });
  });

  describe('files', () => {
    it('loads every document of a multi-document file, skipping empty ones', async () => {
      const pods = await loadPods(`${FIX}/two-pods.yaml`);
      assert.deepEqual(pods.map((p) => [p.name, p.qosClass]), [['first', 'Guaranteed'], ['second', 'BestEffort']]);
      assert.equal(pods[1].uid, '0b6e2c3a-1111-4222-8333-444455556666');
      assert.deepEqual(loadPodsSync(`${FIX}/two-pods.yaml`).map((p) => p.name), ['first', 'second']);
    });

    it('names the file in every error line', async () => {
      const f = `${FIX}/bad-resources.yaml`;
      await assert.rejects(loadPods(f), (e: unknown) => {
        assert.ok(e instanceof PodSpecError);
        assert.equal(e.file, f);
        assert.equal(e.message, [
          `invalid pod manifest ${f} (3 errors):`,
          `${f}: spec.containers[1].resources.limits.memory: Invalid value: "-1Gi": must be greater than or equal to 0`,
          `${f}: spec.containers[1].resources.requests.memory: Invalid value: "1Gb": ${QTY_MSG}`,
          `${f}: spec.containers[1].resources.requests: Invalid value: "600m": must be less than or equal to cpu limit of 500m`,
        ].join('\n'));
        return true;
      });
    });

    it('lists every error of the file, names included', () => {
      const f = `${FIX}/bad-names.yaml`;
      assert.throws(() => loadPodsSync(f), (e: unknown) => {
        assert.ok(e instanceof PodSpecError);
        assert.deepEqual(e.errors, [
          { path: 'metadata.name', message: `Invalid value: "Bad_Name": ${SUBDOMAIN_MSG}` },
          { path: 'spec.containers[1].name', message: `Invalid value: "Web": ${LABEL_MSG}` },
          { path: 'spec.containers[1].image', message: 'Required value' },
          { path: 'spec.initContainers[0].name', message: 'Duplicate value: "app"' },
        ]);
        return true;
      });
    });

    it('prefixes the document number in multi-document files', async () => {
      const f = `${FIX}/bad-second-document.yaml`;
      await assert.rejects(loadPods(f), {
        name: 'PodSpecError',
        message: `invalid pod manifest ${f} (2 errors):\n`
          + `${f} (document 2): apiVersion: Unsupported value: "apps/v1": supported values: "v1"\n`
          + `${f} (document 2): kind: Unsupported value: "Deployment": supported values: "Pod"`,
      });
    });

    it('reports YAML syntax errors, files without pods, and duplicate pods', async () => {
      await assert.rejects(loadPods(`${FIX}/bad-yaml.yaml`), (e: unknown) => {
        assert.ok(e instanceof PodSpecError);
        assert.match(e.message, /bad-yaml\.yaml: YAML: .* at line \d+, column \d+$/m);
        return true;
      });
      await assert.rejects(loadPods(`${FIX}/empty.yaml`), { message: `invalid pod manifest ${FIX}/empty.yaml (1 error):\n${FIX}/empty.yaml: no Pod documents` });
      await assert.rejects(loadPods(`${FIX}/duplicate-pods.yaml`), {
        message: `invalid pod manifest ${FIX}/duplicate-pods.yaml (1 error):\n${FIX}/duplicate-pods.yaml (document 2): metadata.name: Duplicate value: "twin"`,
      });
      await assert.rejects(loadPods(`${FIX}/does-not-exist.yaml`), { code: 'ENOENT' });
    });
  });
});
