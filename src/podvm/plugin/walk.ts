// The podVM steps in the static walk: the cluster comes first; pod files are read and validated
// (like the API server, with field paths) and inventories loaded before anything starts; pods and
// hosts named by later steps must exist.
import { dirname, resolve } from 'node:path';
import type { WalkApi } from '../../scenario/walk.js';
import { InventoryError, loadInventory } from '../inventory.js';
import { loadPodsSync, PodSpecError } from '../pod.js';
import type { CheckPodStep, ClusterStep, HostStep, PodCreateStep, PodDeleteStep, WaitPodStep } from './schema.js';

interface WalkState { cluster?: number; hosts?: string[]; pods?: Map<string, { at: number; containers: string[] }>; down?: Set<string> }
const st = (w: WalkApi) => w.sut as WalkState;
export const resolveFile = (scenarioFile: string, f: string) => resolve(dirname(scenarioFile), f);

export function walkCluster(w: WalkApi, s: ClusterStep): void {
  const x = st(w);
  if (x.cluster !== undefined) w.bad('do', `the cluster is already set up at ${w.ref(x.cluster)}`);
  x.cluster = w.i;
  x.pods ??= new Map();
  x.down = new Set();
  if (s.inventory && w.readsFiles) {
    try { x.hosts = loadInventory(resolveFile(w.file, s.inventory)).map((h) => h.name); } catch (e) { w.bad('inventory', e instanceof InventoryError ? e.message : (e as Error).message); }
  } else if (!s.inventory) x.hosts = ['local'];
}

const needCluster = (w: WalkApi): boolean => {
  if (st(w).cluster !== undefined) return true;
  w.bad('do', 'no podvm-cluster step before this one: set up the cluster first');
  return false;
};
const needPod = (w: WalkApi, pod: string): boolean => {
  if (st(w).pods?.has(pod)) return true;
  w.bad('pod', `no pod "${pod}" was created before this step (pod-create)`);
  return false;
};
const needHost = (w: WalkApi, host: string): boolean => {
  const hs = st(w).hosts;
  if (!hs || hs.includes(host)) return true;
  w.bad('host', `no host "${host}" in the inventory (hosts: ${hs.join(', ')})`);
  return false;
};

export function walkPodCreate(w: WalkApi, s: PodCreateStep): void {
  if (w.scenario.image) w.bad('do', 'podVMs boot the built guest image (crun, cgroup v2, the pod runner): drop the scenario\'s `image:`');
  if (!needCluster(w) || !w.readsFiles) { if (!w.readsFiles) st(w).pods?.set(s.name ?? s.pod, { at: w.i, containers: [] }); return; }
  try {
    const pods = loadPodsSync(resolveFile(w.file, s.pod));
    const p = s.name ? pods.find((x) => x.name === s.name) : pods.length === 1 ? pods[0] : undefined;
    if (!p) { w.bad(s.name ? 'name' : 'pod', s.name ? `no pod named "${s.name}" in ${s.pod} (it has ${pods.map((x) => x.name).join(', ')})` : `${s.pod} holds ${pods.length} pods: say which with \`name\``); return; }
    const noCmd = p.containers.find((c) => !c.command.length);
    if (noCmd) { w.bad('pod', `${s.pod}: container "${noCmd.name}" has no command: images are not pulled here (every container runs a busybox root filesystem), so give command/args`); return; }
    if (st(w).pods!.has(p.name)) w.bad('pod', `pod "${p.name}" is already created at ${w.ref(st(w).pods!.get(p.name)!.at)}`);
    st(w).pods!.set(p.name, { at: w.i, containers: p.containers.map((c) => c.name) });
  } catch (e) { w.bad('pod', e instanceof PodSpecError ? e.message : (e as Error).message); }
}

export function walkWaitPod(w: WalkApi, s: WaitPodStep): void {
  if (needCluster(w) && needPod(w, s.pod) && s.notOn) needHost(w, s.notOn);
}
export function walkCheckPod(w: WalkApi, s: CheckPodStep): void {
  if (!needCluster(w) || !needPod(w, s.pod)) return;
  const known = st(w).pods!.get(s.pod)!.containers;
  for (const [k, c] of (s.oomKilled ?? []).entries()) if (known.length && !known.includes(c)) w.bad(['oomKilled', k], `pod "${s.pod}" has no container "${c}" (it has ${known.join(', ')})`);
}
export function walkHostCut(w: WalkApi, s: HostStep): void {
  if (!needCluster(w) || !needHost(w, s.host)) return;
  if (st(w).down!.has(s.host)) w.bad('host', `host "${s.host}" is already cut (host-return it first)`);
  st(w).down!.add(s.host);
}
export function walkHostReturn(w: WalkApi, s: HostStep): void {
  if (!needCluster(w) || !needHost(w, s.host)) return;
  if (!st(w).down!.has(s.host)) w.bad('host', `host "${s.host}" is not cut here (no host-power-cut before)`);
  st(w).down!.delete(s.host);
}
export function walkPodDelete(w: WalkApi, s: PodDeleteStep): void {
  if (needCluster(w) && needPod(w, s.pod)) st(w).pods!.delete(s.pod);
}
