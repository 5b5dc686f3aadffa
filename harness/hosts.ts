// `ftharness hosts --inventory FILE`: every lab host with its capability labels and health, read
// over its pinned SSH (NUMA nodes, NVDIMM namespaces, PMU, memory), its libvirt (answers?) and its
// BMC (power status). Exit 0 when every host is healthy, 2 otherwise (or on a bad inventory).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { SshHostExec, type HostExec } from '../src/hosts/host-exec.js';
import { countCpuList, countNamespaces, flatLabels, type HostLabels, type NumaNode } from '../src/hosts/labels.js';
import { sshLibvirtUri } from '../src/hosts/remote-libvirt.js';
import { ipmiPower } from '../src/faults/bmc.js';
import { loadLabInventory, LabInventoryError, type LabHost } from '../src/lab/inventory.js';

// One round trip: every fact as "key value" lines.
const PROBE = `for d in /sys/devices/system/node/node[0-9]*; do [ -d "$d" ] || continue; c=$(cat $d/cpulist); echo "node \${d##*node} \${c:-none} $(awk '/MemTotal/{print $4}' $d/meminfo) $(cat $d/distance)"; done
echo "mem $(awk '/MemTotal/{t=$2}/MemAvailable/{a=$2}END{print t*1024, a*1024}' /proc/meminfo)"
echo "ndctl $(ndctl list -N 2>/dev/null | tr -d '\\n')"
perf stat -x, -e instructions true 2>&1 >/dev/null | grep -q '^[0-9]' && echo "pmu hardware" || { command -v perf >/dev/null && echo "pmu software" || echo "pmu none"; }
[ -e /dev/ipmi0 ] && echo "bmc in-band" || echo "bmc none"`;

export function parseProbe(out: string): Omit<HostLabels, 'labels' | 'disk'> {
  const nodes: NumaNode[] = [];
  let memory = { totalBytes: 0, freeBytes: 0 };
  let nv = 0;
  let pmu: HostLabels['pmu']['kind'] = 'none';
  let bmc = false;
  for (const line of out.split('\n')) {
    const [k, ...v] = line.trim().split(/\s+/);
    if (k === 'node') {
      nodes.push({ id: Number(v[0]), cpus: v[1] === 'none' ? 0 : countCpuList(v[1]), cpuList: v[1] === 'none' ? '' : v[1], memoryBytes: Number(v[2]) * 1024, distances: v.slice(3).map(Number) });
    } else if (k === 'mem') memory = { totalBytes: Number(v[0]), freeBytes: Number(v[1]) };
    else if (k === 'ndctl') { try { nv = countNamespaces(v.join(' ')); } catch { nv = 0; } }
    else if (k === 'pmu') pmu = v[0] as typeof pmu;
    else if (k === 'bmc') bmc = v[0] === 'in-band';
  }
  return {
    numa: { nodes, source: 'sysfs over ssh' }, nvdimms: { count: nv, source: 'ndctl list -N over ssh' },
    pmu: { kind: pmu, source: 'perf stat over ssh' }, bmc: { inBand: bmc, source: '/dev/ipmi0 over ssh' }, memory,
  };
}

export interface HostHealth { name: string; healthy: boolean; labels: string[]; ssh: string; libvirt: string; bmc: string; facts?: ReturnType<typeof parseProbe> }

async function checkHost(h: LabHost): Promise<HostHealth> {
  const out: HostHealth = { name: h.name, healthy: false, labels: [], ssh: '', libvirt: 'not checked', bmc: h.power ? 'not checked' : 'none configured' };
  let ex: HostExec | undefined;
  const dir = await mkdtemp(join(tmpdir(), 'fth-hosts-'));
  try {
    ex = await SshHostExec.connect(h.ssh);
    const r = await ex.exec(PROBE, { timeoutMs: 30_000 });
    out.facts = parseProbe(r.stdout);
    out.ssh = `ok (${ex.where})`;
    const uri = h.libvirt ?? await sshLibvirtUri(h.ssh, dir);
    const v = await execa('virsh', ['-c', uri, 'version'], { reject: false, timeout: 30_000 });
    out.libvirt = v.exitCode === 0 ? `ok (${uri.split('?')[0]})` : `does not answer: ${v.stderr.trim().split('\n')[0]}`;
    let bmcOk = true;
    if (h.power) {
      try { out.bmc = `ok: ${(await ipmiPower(h.power.ipmi, 'status')).answer}`; } catch (e) { bmcOk = false; out.bmc = (e as Error).message; }
    }
    out.labels = flatLabels({ ...out.facts, accel: undefined, disk: { dir: '', freeBytes: 0 } }).filter((l) => !l.startsWith('accel:'));
    if (h.power) out.labels = out.labels.map((l) => (l.startsWith('bmc:') ? 'bmc:ipmi' : l));
    out.healthy = v.exitCode === 0 && bmcOk;
  } catch (e) {
    out.ssh = (e as Error).message;
  } finally {
    await ex?.close();
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

export async function hostsCommand(o: { inventory: string; json?: boolean }, say: (s: string) => void, err: (s: string) => void): Promise<number> {
  let hosts: LabHost[];
  try { hosts = loadLabInventory(o.inventory); } catch (e) {
    err(`ftharness hosts: ${e instanceof LabInventoryError ? 'invalid inventory:\n' : ''}${(e as Error).message}`);
    return 2;
  }
  const res = await Promise.all(hosts.map(checkHost));
  if (o.json) say(JSON.stringify({ inventory: o.inventory, hosts: res }, null, 2));
  else for (const h of res) say(`${h.healthy ? 'ok       ' : 'UNHEALTHY'} ${h.name.padEnd(16)} ${h.labels.join(' ')}\n          ssh: ${h.ssh}\n          libvirt: ${h.libvirt}\n          bmc: ${h.bmc}`);
  return res.every((h) => h.healthy) ? 0 : 2;
}
