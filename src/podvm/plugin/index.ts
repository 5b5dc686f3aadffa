// podVMs as a system under test: a VM per pod, sized from its containers, placed by a VM
// scheduler, the pod bound to that host, its containers run by crun inside the podVM.
import type { StepDef, SutPlugin } from '../../sut/api.js';
import { registerSut } from '../../sut/registry.js';
import { PODVM_STEP_SCHEMAS } from './schema.js';
import { newSlice, PODVM, type PodvmSlice } from './slice.js';
import { walkCheckPod, walkCluster, walkHostCut, walkHostReturn, walkPodCreate, walkPodDelete, walkWaitPod } from './walk.js';

type Executors = typeof import('./steps.js');
const lazy = <K extends keyof Executors>(name: K): StepDef['run'] => async (ctx, s) => ((await import('./steps.js'))[name] as (c: typeof ctx, st: unknown) => Promise<void>)(ctx, s);
const S = PODVM_STEP_SCHEMAS;

export const podvm: SutPlugin<PodvmSlice> = {
  name: PODVM,
  summary: 'podVMs: a VM per pod sized from its containers, a VM scheduler and a bound container scheduler, containers under crun (src/podvm/README.md)',
  steps: {
    'podvm-cluster': { schema: S['podvm-cluster'], vmFields: [], walk: walkCluster, run: lazy('podvmCluster'), describe: (s) => `podvm-cluster ${s.inventory ?? 'this machine'}` },
    'pod-create': { schema: S['pod-create'], vmFields: [], createsVms: true, walk: walkPodCreate, run: lazy('podCreate'), describe: (s) => `pod-create ${s.name ?? s.pod}` },
    'wait-pod': { schema: S['wait-pod'], vmFields: [], walk: walkWaitPod, run: lazy('waitPod'), describe: (s) => `wait-pod ${s.pod} ${s.phase}` },
    'check-pod': { schema: S['check-pod'], vmFields: [], walk: walkCheckPod, run: lazy('checkPod'), describe: (s) => `check-pod ${s.pod}` },
    'host-power-cut': { schema: S['host-power-cut'], vmFields: [], walk: walkHostCut, run: lazy('hostPowerCut'), describe: (s) => `host-power-cut ${s.host}` },
    'host-return': { schema: S['host-return'], vmFields: [], walk: walkHostReturn, run: lazy('hostReturn'), describe: (s) => `host-return ${s.host}` },
    'pod-delete': { schema: S['pod-delete'], vmFields: [], walk: walkPodDelete, run: lazy('podDelete'), describe: (s) => `pod-delete ${s.pod}` },
  },
  slice: newSlice,
  metrics: {
    podvm_create_to_running_ms: { unit: 'ms', description: 'pod-create (or re-plan after an eviction) → its app containers run in the podVM' },
    podvm_reschedule_ms: { unit: 'ms', description: 'host power cut → the pod runs again on another host (grace + plan + boot + containers)', missing: 'no pod was evicted by a host power cut in this run' },
    podvm_wait_ms: { unit: 'ms', description: 'wait-pod until the phase' },
    podvm_qemu_rss_mib: { unit: 'MiB', description: 'QEMU process RSS on the host after the pod started' },
    podvm_qemu_overhead_mib: { unit: 'MiB', description: "QEMU RSS minus the guest's memory in use: the VM's own host overhead (TCG translation cache included)" },
  },
  guest: { 'pod-runner': 'src/podvm/pod-runner.ts' },
};

registerSut(podvm);
