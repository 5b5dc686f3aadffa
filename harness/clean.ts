// `ftharness clean`: remove what crashed runs left behind (domains, processes, scratch files).
// A run whose process is still alive is left alone unless --all.
import { rm } from 'node:fs/promises';
import { DOMAIN_PREFIX } from '../src/lab/lab.js';
import { dropOwnership, listOwnerships, pidAlive } from '../src/lab/ownership.js';
import { listDomainNames, lookupDomain } from '../src/vm/libvirt.js';

async function removeDomain(name: string): Promise<boolean> {
  const d = await lookupDomain(name);
  if (!d) return false;
  try { await d.destroy(); } catch { /* not running */ }
  await d.undefine();
  return true;
}

function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try { process.kill(target, 'SIGKILL'); } catch { /* gone */ }
  }
}

export async function clean(opts: { all?: boolean; log: (l: string) => void }): Promise<number> {
  let removed = 0;
  const live = new Set<string>();
  for (const o of await listOwnerships()) {
    if (!opts.all && o.pid !== process.pid && pidAlive(o.pid)) {
      opts.log(`run ${o.runId} (pid ${o.pid}) is still running: left alone (use --all to remove anyway)`);
      o.domains.forEach((d) => live.add(d));
      continue;
    }
    for (const d of o.domains) if (await removeDomain(d)) { opts.log(`removed domain ${d}`); removed++; }
    for (const p of o.pids) if (pidAlive(p)) { killGroup(p); opts.log(`killed pid ${p}`); removed++; }
    for (const p of o.paths) { await rm(p, { recursive: true, force: true }); opts.log(`removed ${p}`); }
    await dropOwnership(o.runId);
  }
  // Domains whose ownership file was lost: our prefix and a dead owner pid in the description.
  for (const name of await listDomainNames()) {
    if (!name.startsWith(DOMAIN_PREFIX) || live.has(name)) continue;
    const d = await lookupDomain(name);
    const xml = d ? await d.getXMLDesc() : '';
    const pid = Number(/ftharness run \S+ pid (\d+)/.exec(xml)?.[1] ?? 0);
    if (opts.all || !pid || !pidAlive(pid)) {
      if (await removeDomain(name)) { opts.log(`removed orphan domain ${name}`); removed++; }
    }
  }
  try {
    const { cleanLeftoverStores } = await import('../src/store/rgw.js');
    for (const r of await cleanLeftoverStores()) {
      if (r.action === 'removed') { opts.log(`removed leftover store ${r.dir} (killed ${r.killed.length} daemon(s))`); removed++; }
      else opts.log(`store ${r.dir}: ${r.action}${r.detail ? ` (${r.detail})` : ''}`);
    }
  } catch (e) {
    opts.log(`store leftovers not checked: ${(e as Error).message}`);
  }
  return removed;
}
