// `ftharness podvm plan`: the explained chain for pod manifests, against an inventory or this
// machine as one host. Nothing is started. Exit 0 planned (bound or Pending), 1 the two
// schedulers disagree about a host, 2 bad input.
import { loadInventory, thisMachine, InventoryError, type HostDef } from '../src/podvm/inventory.js';
import { loadPods, PodSpecError } from '../src/podvm/pod.js';
import type { PodModel } from '../src/podvm/model.js';
import { DEFAULT_PLAN, planJson, planPods, renderPlan } from '../src/podvm/plan.js';
import { DEFAULT_SIZING, SIZING_POLICIES } from '../src/podvm/sizing.js';
import type { ScoreStrategy } from '../src/podvm/scheduler.js';

export interface PlanFlags { inventory?: string; policy: string; score: ScoreStrategy; numa: 'auto' | 'never'; seed: number; json?: boolean }

export async function podvmPlanCommand(files: string[], o: PlanFlags, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const problems: string[] = [];
  if (!SIZING_POLICIES[o.policy]) problems.push(`--policy: unknown sizing policy "${o.policy}" (known: ${Object.keys(SIZING_POLICIES).join(', ')})`);
  let hosts: HostDef[] = [];
  try { hosts = o.inventory ? loadInventory(o.inventory) : [thisMachine()]; } catch (e) { problems.push(e instanceof InventoryError ? e.message : `${o.inventory}: ${(e as Error).message}`); }
  const pods: PodModel[] = [];
  for (const f of files) {
    try { pods.push(...await loadPods(f)); } catch (e) { problems.push(e instanceof PodSpecError ? e.message : `${f}: ${(e as Error).message}`); }
  }
  const uids = new Map<string, string>();
  for (const p of pods) {
    const k = `${p.namespace}/${p.name}`;
    if (uids.has(k)) problems.push(`${p.file}: metadata.name: Duplicate value: "${k}" (also in ${uids.get(k)})`);
    uids.set(k, p.file);
  }
  if (problems.length) { err(`ftharness podvm plan: invalid input, nothing was planned:\n${problems.join('\n')}`); return 2; }
  const { plans } = planPods(pods, hosts, { ...DEFAULT_PLAN, policy: o.policy, score: o.score, numa: o.numa, seed: o.seed, sizing: DEFAULT_SIZING });
  if (o.json) out(JSON.stringify({ hosts: hosts.map((h) => h.name), inventory: o.inventory ?? 'this machine', policy: o.policy, score: o.score, seed: o.seed, pods: plans.map(planJson) }, null, 2));
  else out(`${o.inventory ? `inventory ${o.inventory}` : 'this machine as one host'}: ${hosts.map((h) => h.name).join(', ')}; policy ${o.policy}; score ${o.score}; seed ${o.seed}\n\n${plans.map((p) => renderPlan(p, hosts)).join('\n\n')}`);
  return plans.some((p) => p.disagreement) ? 1 : 0;
}
