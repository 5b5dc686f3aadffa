// npm run bench:pmem-save: in one run, on the same guest and the same bytes, the HA agent's save
// (chunked, checksummed, zero-skipping, parallel, committed by a manifest) against one plain PUT
// of the whole region from the same guest; then the save of a mostly-zero region against a full
// one. Prints ratios; every figure is tagged with accel and topology kind.
import '../../src/util/warnings.js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { openBenchLab } from './lab.js';
import { controlDir, GUEST_MOUNTS } from '../../src/runner/plan.js';
import { FAST_BOOT_ARGS } from '../../src/image/kernel-args.js';
import { handCredentials, openRunStore } from '../../src/runner/store.js';
import { patternBytes } from '../../src/shared/patterns.js';
import { closeHypervisor } from '../../src/vm/libvirt.js';
import { projectRoot } from '../../src/util/paths.js';
import { guestProgram } from '../../src/sut/guest.js';
import { mkdir } from 'node:fs/promises';

const { values } = parseArgs({ options: { size: { type: 'string', default: '64' }, chunk: { type: 'string', default: '1048576' }, json: { type: 'boolean' } } });
const sizeMiB = Number(values.size);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (l: string) => process.stderr.write(`[bench] ${l}\n`);

const { img, accel, lab } = await openBenchLab();

try {
  const store = await openRunStore('auto', lab, log);
  const data = join(lab.workDir, 'data.img');
  const meta = join(lab.workDir, 'meta.img');
  await execa('truncate', ['-s', `${sizeMiB}M`, data]);
  await execa('truncate', ['-s', '4M', meta]);
  const ctl = controlDir(lab, 'bench');
  await mkdir(ctl, { recursive: true });
  const vm = await lab.defineVm('bench', {
    name: lab.domainName('bench'), vcpus: 2, memoryMiB: 1024, accel: accel.accel, cpu: accel.cpu,
    numa: { cells: [{ id: 0, cpus: [0, 1], memoryMiB: 1024 }] },
    nvdimms: [{ sizeMiB, backingFile: data, node: 0 }, { sizeMiB: 4, backingFile: meta, node: 0 }],
    nics: [{ kind: 'user' }],
    shares: [
      { tag: 'fthimage', hostDir: img.toolsDir, readonly: true },
      { tag: 'fthcode', hostDir: projectRoot(), readonly: true },
      { tag: 'fthrun', hostDir: lab.shareDir, readonly: true },
      { tag: 'fthctl', hostDir: ctl, readonly: false },
    ],
    boot: { kind: 'kernel', kernel: img.kernel, initrd: img.initrd, cmdline: `${FAST_BOOT_ARGS} fth.net=eth0,10.0.2.15/24,10.0.2.2 fth.9p=fthimage,/opt/fth;fthcode,/opt/ftharness;fthrun,/opt/fthrun;fthctl,/run/fthctl,rw` },
    consoleLog: join(lab.workDir, 'console.log'), agentSocket: join(lab.workDir, 'bench.qga'),
  });
  await vm.boot();
  const env = await handCredentials(ctl, GUEST_MOUNTS.fthctl, store.conn);
  const fill = async (name: string, bytes: number) => {
    await vm.agent.sh(`dd if=/dev/zero of=/dev/nvdimm0 bs=1M count=${sizeMiB} oflag=direct conv=fsync 2>/dev/null`);
    if (!bytes) return;
    await writeFile(join(lab.shareDir, `${name}.bin`), patternBytes(1, name, bytes));
    await vm.agent.sh(`dd if=${GUEST_MOUNTS.fthrun}/${name}.bin of=/dev/nvdimm0 bs=1M oflag=direct conv=notrunc,fsync 2>/dev/null`);
  };
  const status = async () => JSON.parse(await readFile(join(ctl, 'status.json'), 'utf8').catch(() => '{}'));

  // The agent, started once; each save is an AC-loss notice with a long hold-up, then AC back.
  await vm.agent.spawn(`node ${guestProgram('pmem-ha', 'agent')} primary --dev /dev/nvdimm0 --endpoint ${store.guestEndpoint} --bucket ${store.bucket} --prefix bench --control-dir /run/fthctl --chunk-size ${values.chunk}`, '/run/fthctl/agent.log', env);
  for (let i = 0; i < 1200 && (await status()).phase !== 'ready'; i++) await sleep(100);
  let saves = 0;
  const agentSave = async () => {
    saves++;
    await vm.agent.writeFile('/run/fthctl/control.jsonl', `${JSON.stringify({ event: 'ac-loss', holdupMs: 600000 })}\n`, 'a');
    let st = await status();
    for (let i = 0; i < 3000 && !(st.saves === saves && st.save?.endAt); i++) { await sleep(100); st = await status(); }
    if (st.save?.outcome !== 'committed') throw new Error(`agent save ${saves} did not commit: ${st.save?.outcome} ${st.save?.error ?? ''}`);
    await vm.agent.writeFile('/run/fthctl/control.jsonl', `${JSON.stringify({ event: 'ac-restored' })}\n`, 'a');
    for (let i = 0; i < 300 && (await status()).phase !== 'ready'; i++) await sleep(100);
    return { ms: st.save.manifestCommittedAt - st.save.saveStartAt, uploaded: st.save.bytesUploaded, skipped: st.save.bytesSkipped };
  };
  const plainPut = async () => {
    const out = await vm.agent.sh(`node ${guestProgram('pmem-ha', 'plain-upload')} --dev /dev/nvdimm0 --endpoint ${store.guestEndpoint} --bucket ${store.bucket} --key plain/${Date.now()}`, { env, timeoutMs: 600_000 });
    return JSON.parse(out.trim().split('\n').at(-1)!) as { bytes: number; totalMs: number };
  };

  const bytes = sizeMiB * 2 ** 20;
  log(`full region: ${sizeMiB} MiB of random bytes`);
  await fill('full', bytes);
  const plain = await plainPut();
  const full = await agentSave();
  const plain2 = await plainPut(); // both orders, so warm-up does not favour one side
  const full2 = await agentSave();
  log('mostly-zero region: 1 MiB of random bytes');
  await fill('sparse', 2 ** 20);
  const sparse = await agentSave();
  const sparse2 = await agentSave();

  const mibs = (b: number, ms: number) => b / 2 ** 20 / (ms / 1000);
  const plainT = (mibs(plain.bytes, plain.totalMs) + mibs(plain2.bytes, plain2.totalMs)) / 2;
  const agentT = (mibs(bytes, full.ms) + mibs(bytes, full2.ms)) / 2;
  const fullMs = (full.ms + full2.ms) / 2;
  const sparseMs = (sparse.ms + sparse2.ms) / 2;
  const fig = {
    accel: accel.accel, accelChosen: accel.how, cpuMode: accel.cpuMode, topology: 'emulated', sizeMiB, chunkBytes: Number(values.chunk), store: store.backend,
    plainPutMiBs: plainT, agentSaveMiBs: agentT, ratio: agentT / plainT, ratioTarget: 0.9,
    fullSaveMs: fullMs, mostlyZeroSaveMs: sparseMs, mostlyZeroNonZeroFraction: 1 / sizeMiB,
    costRatioSparseToFull: sparseMs / fullMs, uploadedFull: full.uploaded, uploadedSparse: sparse.uploaded,
    samples: { plain: [plain, plain2], full: [full, full2], sparse: [sparse, sparse2] },
  };
  if (values.json) console.log(JSON.stringify(fig, null, 2));
  else {
    console.log(`pmem save vs plain PUT — accel ${accel.accel} (${accel.how}, cpu ${accel.cpuMode}), emulated topology, ${sizeMiB} MiB NVDIMM, ${fig.store}, measured in the guest in one run:`);
    console.log(`  plain single PUT:   ${plainT.toFixed(1)} MiB/s (read + PUT)`);
    console.log(`  agent save:         ${agentT.toFixed(1)} MiB/s (sha256 per chunk, parallel PUTs, manifest commit)`);
    console.log(`  ratio agent/plain:  ${fig.ratio.toFixed(2)}  [target ≥ 0.9]`);
    console.log(`  full region save:   ${fullMs.toFixed(0)} ms (${(full.uploaded / 2 ** 20).toFixed(0)} MiB uploaded)`);
    console.log(`  mostly-zero save:   ${sparseMs.toFixed(0)} ms (${(sparse.uploaded / 2 ** 20).toFixed(0)} MiB uploaded, ${(100 / sizeMiB).toFixed(1)} % non-zero)`);
    console.log(`  cost mostly-zero / full: ${fig.costRatioSparseToFull.toFixed(2)}  [target: follows the non-zero bytes]`);
  }
} finally {
  await lab.close(log);
  await closeHypervisor();
}
