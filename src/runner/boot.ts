import { powerKey } from '../faults/power.js';
import { addMetric, type RunContext } from './context.js';

/** Start a VM and wait for its guest agent; ends the power cut the VM was under. */
export async function bootVm(ctx: RunContext, vmName: string, timeoutS = 120): Promise<void> {
  const vm = ctx.lab.vm(vmName);
  const t = await ctx.history.op(vmName, 'boot', undefined, () => vm.boot(timeoutS * 1000));
  await ctx.nemesis.end(powerKey(vmName));
  addMetric(ctx, 'boot_to_agent_ms', 'ms', t.startToAgentMs, 'domain start → guest ready (its agent answers and its init is done)');
  ctx.guestKernel ??= (await vm.agent.sh('uname -r')).trim();
}
