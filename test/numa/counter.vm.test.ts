// Calibration of the TCG access counter (src/numa/tcg/counter.c, src/numa/plugin/counters.ts) on one real
// guest: 2 vCPUs, 2 NUMA cells of 256 MiB (vCPU 0 on node 0, vCPU 1 on node 1), the plugin loaded
// through <qemu:commandline>. A static helper pinned to vCPU 1 binds one page to node 1 and one to
// node 0, writes and reads each N times, and reports their PFNs (pagemap) and nodes (move_pages).
// The counters must put those accesses on the right pages, nodes and vCPU.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { findImage } from '../../src/image/build.js';
import { FAST_BOOT_ARGS } from '../../src/image/kernel-args.js';
import { resolveAccel } from '../../src/hosts/accel.js';
import { Lab } from '../../src/lab/lab.js';
import type { Vm } from '../../src/vm/vm.js';
import type { VmSpec } from '../../src/vm/spec.js';
import {
  armAccessCounter, counterPluginPath, counterQemuArgs, nodeTotals, rangeOfGpa, readCounters, readSeries,
  type Armed, type CountersSnapshot,
} from '../../src/numa/plugin/counters.js';

const N = 100_000;
const CELLS = [{ id: 0, cpus: [0], memoryMiB: 256 }, { id: 1, cpus: [1], memoryMiB: 256 }];

// The guest-side helper (static: the guest image has no C library to link against).
//   fth-cal cal N CPU    pin to CPU; a page bound to node 1, one to node 0; N writes then N reads
//                        of each; print {"cpu","pages":[{want,node,pfn,pfnAfter}…]}
//   fth-cal bench MS CPU pin to CPU; loads and stores over 4 MiB for MS ms; print {"opsPerSec"}
const HELPER_C = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#define MPOL_BIND 2
static void pin(int cpu) {
  cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s);
  if (sched_setaffinity(0, sizeof s, &s)) { perror("sched_setaffinity"); exit(2); }
}
static uint64_t pfn_of(volatile void *p) {
  int fd = open("/proc/self/pagemap", O_RDONLY); uint64_t e = 0;
  if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)p / 4096) * 8) != 8) { perror("pagemap"); exit(2); }
  close(fd);
  return (e >> 63) & 1 ? e & ((1ULL << 55) - 1) : 0;
}
static int node_of(volatile void *p) {
  void *pages[1] = { (void *)p }; int status[1] = { -1 };
  if (syscall(SYS_move_pages, 0, 1UL, pages, NULL, status, 0)) { perror("move_pages"); exit(2); }
  return status[0];
}
static volatile uint64_t *page_on(int node) {
  void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  unsigned long mask = 1UL << node;
  if (p == MAP_FAILED || syscall(SYS_mbind, p, 4096UL, MPOL_BIND, &mask, 64UL, 0U)) { perror("mmap/mbind"); exit(2); }
  *(volatile uint64_t *)p = 1; /* first touch: allocated under the policy */
  return p;
}
static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: fth-cal cal N CPU | bench MS CPU\n"); return 2; }
  long n = atol(argv[2]); int cpu = atoi(argv[3]);
  pin(cpu);
  if (!strcmp(argv[1], "bench")) {
    size_t words = (4u << 20) / 8; volatile uint64_t *buf = malloc(words * 8); uint64_t ops = 0;
    for (size_t i = 0; i < words; i++) buf[i] = i;
    double t0 = now_s(), t;
    do {
      for (size_t i = 0; i < words; i += 8) { buf[i] = buf[i] + 1; }
      ops += words / 8 * 2;
    } while ((t = now_s()) - t0 < n / 1000.0);
    printf("{\"opsPerSec\":%.0f,\"cpu\":%d}\n", ops / (t - t0), sched_getcpu());
    return 0;
  }
  volatile uint64_t *a = page_on(1), *b = page_on(0);
  uint64_t pa = pfn_of(a), pb = pfn_of(b), sum = 0;
  for (long i = 0; i < n; i++) a[0] = (uint64_t)i;
  for (long i = 0; i < n; i++) b[0] = (uint64_t)i;
  for (long i = 0; i < n; i++) sum += a[0];
  for (long i = 0; i < n; i++) sum += b[0];
  printf("{\"cpu\":%d,\"sum\":%llu,\"pages\":[{\"want\":1,\"node\":%d,\"pfn\":%llu,\"pfnAfter\":%llu},{\"want\":0,\"node\":%d,\"pfn\":%llu,\"pfnAfter\":%llu}]}\n",
         sched_getcpu(), (unsigned long long)sum, node_of(a), (unsigned long long)pa, (unsigned long long)pfn_of(a),
         node_of(b), (unsigned long long)pb, (unsigned long long)pfn_of(b));
  return 0;
}
`;

interface CalPage { want: number; node: number; pfn: number; pfnAfter: number }

describe('@vm access counter (TCG plugin) calibrated on a real 2-cell guest', function () {
  this.timeout(600_000);
  let lab: Lab | undefined;
  let vm: Vm;
  let spec: VmSpec;
  let files: { out: string; map: string; series: string };
  let armed: Armed;
  const figures: Record<string, number | string> = {};

  before(async () => {
    const plugin = counterPluginPath();
    // Not a skip: harness/setup.sh builds the plugin, so its absence is a failure.
    if (!plugin.so) throw new Error(`access-counter plugin missing: ${plugin.reason}`);
    const img = await findImage();
    if (!img) throw new Error('no guest image: run harness/setup.sh (ftharness image build)');
    const accel = await resolveAccel({});
    lab = await Lab.open();
    const helper = join(lab.shareDir, 'fth-cal');
    writeFileSync(`${helper}.c`, HELPER_C);
    await execa('cc', ['-static', '-O2', '-Wall', '-o', helper, `${helper}.c`]);
    files = { out: join(lab.workDir, 'counters.bin'), map: join(lab.workDir, 'map.txt'), series: join(lab.workDir, 'series.jsonl') };
    spec = {
      name: lab.domainName('cnt'), vcpus: 2, memoryMiB: 512, accel: accel.accel, cpu: accel.cpu,
      numa: { cells: CELLS },
      nvdimms: [], nics: [{ kind: 'user' }],
      shares: [{ tag: 'fthimage', hostDir: img.toolsDir, readonly: true }, { tag: 'fthrun', hostDir: lab.shareDir, readonly: true }],
      boot: { kind: 'kernel', kernel: img.kernel, initrd: img.initrd, cmdline: `${FAST_BOOT_ARGS} fth.hostname=cnt fth.net=eth0,10.0.2.15/24,10.0.2.2 fth.9p=fthimage,/opt/fth;fthrun,/opt/fthrun` },
      consoleLog: join(lab.workDir, 'console.log'), agentSocket: join(lab.workDir, 'cnt.qga'),
      description: `ftharness test counter.vm pid ${process.pid}`,
      qemuArgs: counterQemuArgs({ so: plugin.so, ...files, intervalMs: 200, vcpus: 2, nodes: 2, pages: (512 * 2 ** 20) / 4096 }),
    };
    vm = await lab.defineVm('cnt', spec);
    figures.bootWithPluginUnarmedMs = (await vm.boot()).startToAgentMs;
  });

  after(async () => {
    if (Object.keys(figures).length) console.log(`      access-counter figures (one run each, ${new Date().toISOString()}): ${JSON.stringify(figures)}`);
    const problems = await lab?.close();
    assert.deepEqual(problems ?? [], [], 'cleanup');
  });

  it('is loaded but unarmed after boot: no instrumentation, nothing counted', async () => {
    const live = await vm.liveXml();
    assert.match(live, /<qemu:arg value=['"]-plugin['"]\/>/);
    const s = await readCounters(files.out);
    assert.equal(s.armed, false);
    assert.equal(s.state, 'waiting-for-map');
    assert.equal(s.vcpus, 2);
    assert.equal(s.nodes, 2);
    assert.equal(s.pages, 131072);
    assert.ok(s.perVcpu.every((v) => v.unmapped + v.io + v.beyond + v.nohw === 0 && v.node.every((n) => n.rU + n.wU + n.rK + n.wK === 0)), JSON.stringify(s.perVcpu));
    assert.ok(s.pageHits.every((h) => h === 0));
    assert.equal(existsSync(files.series) ? readFileSync(files.series, 'utf8') : '', '', 'no series before arming');
    const b = JSON.parse(await vm.agent.sh('/opt/fthrun/fth-cal bench 3000 1'));
    figures.benchUnarmedOpsPerSec = b.opsPerSec;
  });

  it('arms from the HMP address map: node 1 at GPA 256 MiB, from plugin values at 512 MiB', async () => {
    const t0 = Date.now();
    armed = await armAccessCounter(spec.name, files.map, CELLS, []);
    figures.armMs = Date.now() - t0;
    const MiB = 2 ** 20;
    assert.deepEqual(armed.ranges.map((r) => [r.name, r.valueStart / MiB, r.valueEnd / MiB, r.gpaStart / MiB, r.node]), [
      ['ram-node0', 0, 256, 0, 0],
      ['ram-node1', 512, 768, 256, 1],
    ]);
    const s = await readCounters(files.out);
    assert.equal(s.armed, true);
    assert.equal(s.rangesLoaded, 2);
    assert.ok(Math.abs(s.armedAtMs! - Date.now()) < 120_000, `armedAtMs ${s.armedAtMs}`);
    assert.match(readFileSync(files.map, 'utf8'), /^0x0000000020000000 0x0000000030000000 0x0000000010000000 1/m);
  });

  it('counts the helper\'s N writes and reads on the right pages, nodes and vCPU', async () => {
    // NUMA balancing would move the node-0 page next to its only user (vCPU 1): off, and recorded.
    await vm.agent.sh('echo 0 > /proc/sys/kernel/numa_balancing');
    const s0: CountersSnapshot = await readCounters(files.out);
    const out = await vm.agent.sh(`/opt/fthrun/fth-cal cal ${N} 1`);
    const s1: CountersSnapshot = await readCounters(files.out);
    const cal = JSON.parse(out) as { cpu: number; pages: CalPage[] };
    assert.equal(cal.cpu, 1, out);
    for (const p of cal.pages) {
      assert.ok(p.pfn > 0 && p.pfn === p.pfnAfter, `page for node ${p.want} did not stay put: ${out}`);
      assert.equal(p.node, p.want, `guest kernel put the page bound to node ${p.want} on node ${p.node}`);
      const r = rangeOfGpa(armed.ranges, p.pfn * 4096);
      assert.equal(r?.node, p.node, `map node of GPA 0x${(p.pfn * 4096).toString(16)} (${r?.name}) vs guest kernel's ${p.node}`);
      const delta = s1.pageHits[p.pfn] - s0.pageHits[p.pfn];
      figures[`pageHitsNode${p.want}`] = delta;
      assert.ok(delta >= 2 * N, `page ${p.pfn} (node ${p.want}) counted ${delta} user accesses, the helper made ≥ ${2 * N}`);
      // Often exact (200001 and 200007 for 200000), but 2 of 3 runs on 2026-12-03 counted more on
      // a page: 204210, 204320 and 214231 (+7 %); cause not yet found (a suspect: TCG re-running
      // part of an interrupted translation block, whose memory callbacks fire again). The bound
      // catches counting on the wrong page or vCPU, not that over-count: see the issue 13 note.
      assert.ok(delta <= 2 * N * 1.10 + 1000, `page ${p.pfn} (node ${p.want}) counted ${delta} user accesses, far more than the helper's ${2 * N}`);
      const d = (k: 'rU' | 'wU') => s1.perVcpu[1].node[p.want][k] - s0.perVcpu[1].node[p.want][k];
      assert.ok(d('wU') >= N, `vCPU 1 user writes on node ${p.want} grew by ${d('wU')} < ${N}`);
      assert.ok(d('rU') >= N, `vCPU 1 user reads on node ${p.want} grew by ${d('rU')} < ${N}`);
    }
    // A guest kernel at work (page tables, the agent) is counted too, as kernel accesses.
    const k = nodeTotals(s1).reduce((a, n) => a + n.rK + n.wK, 0);
    assert.ok(k > 0, 'no kernel accesses counted');
    figures.unmappedAfterCal = s1.unmapped.reduce((a, b) => a + b, 0);
    figures.ioAfterCal = s1.perVcpu.reduce((a, v) => a + v.io, 0);

    // The series has the arming line, then cumulative lines that catch up with s1.
    const deadline = Date.now() + 10_000;
    let series = await readSeries(files.series);
    const tS1 = Date.now();
    while (Date.now() < deadline && !(series.length && series.at(-1)!.t > tS1)) {
      await new Promise((r) => setTimeout(r, 200));
      series = await readSeries(files.series);
    }
    assert.equal(series[0].armed, true);
    assert.ok(Math.abs(series[0].t - armed.armedAtMs) < 1, `${series[0].t} vs ${armed.armedAtMs}`);
    for (let i = 1; i < series.length; i++) {
      assert.ok(series[i].t >= series[i - 1].t);
      assert.ok(series[i].c[1][1][1] >= series[i - 1].c[1][1][1], 'cumulative');
    }
    const last = series.at(-1)!;
    assert.ok(last.t > tS1, 'a series line after the calibration');
    assert.ok(last.c[1][1][1] >= s1.perVcpu[1].node[1].wU && last.c[1][0][1] >= s1.perVcpu[1].node[0].wU, JSON.stringify(last));
    assert.equal(last.c.length, 2);
    assert.equal(last.c[0].length, 2);
  });

  it('costs a measured slowdown when armed, and writes a final line at QEMU exit', async () => {
    const b = JSON.parse(await vm.agent.sh('/opt/fthrun/fth-cal bench 3000 1'));
    figures.benchArmedOpsPerSec = b.opsPerSec;
    figures.slowdown = `${(Number(figures.benchUnarmedOpsPerSec) / b.opsPerSec).toFixed(1)}x`;
    await vm.destroy(); // SIGTERM: QEMU exits normally, atexit callbacks run
    const s = await readCounters(files.out);
    assert.equal(s.exited, true, 'atexit callback ran');
    const series = await readSeries(files.series);
    assert.equal(series.at(-1)!.final, true);
  });
});
