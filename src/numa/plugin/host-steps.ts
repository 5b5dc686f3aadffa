// Host-level NUMA (the lab): the policies act on the VM itself — its vCPU threads pinned with
// vcpupin/emulatorpin, its memory with numatune and move_pages on QEMU's guest-RAM mapping. Only
// the host check is built: on a host with one NUMA node (this CI machine) the step is skipped
// with the reason in the results; on a multi-node host it stops as a harness error, because the
// moves themselves have not been built (there is no multi-node host here to build them against).
import { hostname } from 'node:os';
import { readNumaNodes } from '../../hosts/labels.js';
import { addCheck, type RunContext } from '../../runner/context.js';
import type { HostNumaEvidence } from './judge.js';
import type { HostHotMigrationStep } from './schema.js';

const SYSFS = '/sys/devices/system/node';

export async function numaHostHotMigration(ctx: RunContext, s: HostHotMigrationStep): Promise<void> {
  const e: HostNumaEvidence = { label: s.vm, hostNodes: readNumaNodes(SYSFS).map((n) => n.id), from: s.from, to: s.to, source: `${SYSFS} on ${hostname()}` };
  const c = await ctx.evidence.judge('numa/host-capable', e);
  addCheck(ctx, c);
  ctx.history.add('info', s.vm, c.valid === 'unknown' ? 'skip' : 'host-numa', { hostNodes: e.hostNodes, message: c.message });
  if (c.valid !== true) return;
  throw new Error(`numa-host-hot-migration: host-level moves are not built yet (host nodes ${e.hostNodes.join(', ')}); see README "NUMA"`);
}
