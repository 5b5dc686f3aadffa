// npm run bench:boot [-- --n N] [--kernel-args "..."] [--dmesg FILE]: boot one guest N times in
// sequence (cold boot each time: start → guest ready; destroy in between) and print
// min/median/max with the accel. --kernel-args appends to the fast-boot line (to measure an
// option; with `loglevel=N` the fast line's `quiet` is dropped); --dmesg writes the last boot's
// kernel log there (with `initcall_debug`: each initcall's time, without slowing the serial
// console, which stays quiet).
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { openBenchLab } from './lab.js';
import { FAST_BOOT_ARGS } from '../../src/image/kernel-args.js';
import { closeHypervisor } from '../../src/vm/libvirt.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '7' }, json: { type: 'boolean' }, 'kernel-args': { type: 'string', default: '' }, dmesg: { type: 'string' } } });
const n = Number(values.n);
if (!Number.isInteger(n) || n < 1) { console.error('--n must be a positive integer'); process.exit(2); }

const extra = values['kernel-args']!.trim();
const baseArgs = /\bloglevel=/.test(extra) ? FAST_BOOT_ARGS.replace(/\bquiet\b ?/, '') : FAST_BOOT_ARGS;
const cmdline = `${baseArgs}${extra ? ` ${extra}` : ''}`;

const { img, accel, lab } = await openBenchLab();
const samples: number[] = [];
try {
  const pm = `${lab.workDir}/pmem.img`;
  await execa('truncate', ['-s', '64M', pm]);
  const vm = await lab.defineVm('bench', {
    name: lab.domainName('bench'), vcpus: 2, memoryMiB: 1024, accel: accel.accel, cpu: accel.cpu,
    numa: { cells: [{ id: 0, cpus: [0], memoryMiB: 512 }, { id: 1, cpus: [1], memoryMiB: 512 }] },
    nvdimms: [{ sizeMiB: 64, backingFile: pm, node: 1 }],
    nics: [{ kind: 'user' }], shares: [{ tag: 'fthimage', hostDir: img.toolsDir, readonly: true }],
    boot: { kind: 'kernel', kernel: img.kernel, initrd: img.initrd, cmdline: `${cmdline} fth.net=eth0,10.0.2.15/24,10.0.2.2 fth.9p=fthimage,/opt/fth` },
    consoleLog: `${lab.workDir}/console.log`, agentSocket: `${lab.workDir}/bench.qga`,
  });
  for (let i = 0; i < n; i++) {
    const t = await vm.boot();
    samples.push(t.startToAgentMs);
    process.stderr.write(`boot ${i + 1}/${n}: ${t.startToAgentMs} ms\n`);
    if (values.dmesg && i === n - 1) await writeFile(values.dmesg, await vm.agent.sh('dmesg'));
    await vm.destroy();
  }
} finally {
  await lab.close();
  await closeHypervisor();
}
const sorted = [...samples].sort((a, b) => a - b);
const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
const fig = { accel: accel.accel, accelChosen: accel.how, cpuMode: accel.cpuMode, topology: 'emulated', guest: '2 vCPU, 1 GiB, 2 NUMA cells, 64 MiB NVDIMM', n, minMs: sorted[0], medianMs: median, maxMs: sorted.at(-1)!, samplesMs: samples, target: 'median ≤ 2500 ms under TCG (issue 12)', ...(extra ? { kernelArgs: extra } : {}) };
if (values.json) console.log(JSON.stringify(fig, null, 2));
else console.log(`boot → guest ready (accel ${accel.accel} ${accel.how}, cpu ${accel.cpuMode}, emulated topology, ${fig.guest}, n=${n}${extra ? `, kernel args +"${extra}"` : ''}): min ${fig.minMs} ms, median ${median} ms, max ${fig.maxMs} ms  [target: median ≤ 2500 ms under TCG (issue 12)]`);
