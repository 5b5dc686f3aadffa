// Bundles every SUT's guest programs (SutPlugin.guest) with esbuild into dist/guest/<sut>/<name>.mjs:
// one tree-shaken ESM file each, from the compiled dist/ (run after tsc; setup.sh does), and for
// programs that export launch(args) a CommonJS twin with its V8 code cache (src/shared/launch.ts). Fails
// when a bundle contains harness code or lib-storage, and prints each bundle's size and inputs.
//   node dist/harness/build-guest.js [--json]
import '../src/suts.js';
import { build, type BuildOptions } from 'esbuild';
import { execa } from 'execa';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { cachedBundleFile, FORBIDDEN_IN_GUEST, GUEST_BUNDLE_DIR, hostProgram, LAUNCHER } from '../src/sut/guest.js';
import { suts } from '../src/sut/registry.js';
import { projectRoot } from '../src/util/paths.js';

export interface BundleReport { sut: string; name: string; file: string; bytes: number; inputs: number; cacheBytes?: number }

const COMMON: BuildOptions = { bundle: true, platform: 'node', target: 'node18', treeShaking: true, mainFields: ['module', 'main'], minifySyntax: true, minifyWhitespace: true, legalComments: 'none', logLevel: 'error' };

/** The CommonJS twin of a program that exports launch(args), and its V8 code cache, made by
 *  loading it once through the launcher (the guest runs the same Node binary). */
async function cachedBundle(root: string, compiled: string, sut: string, name: string): Promise<BundleReport> {
  const file = join(root, cachedBundleFile(sut, name));
  const r = await build({ ...COMMON, entryPoints: [compiled], outfile: file, format: 'cjs', metafile: true, write: false });
  const meta = r.metafile!;
  const inputs = Object.keys(meta.inputs);
  const bad = inputs.filter((i) => FORBIDDEN_IN_GUEST.some((re) => re.test(i)));
  if (bad.length) throw new Error(`guest bundle ${sut}/${name}.cjs pulls in harness code or lib-storage: ${bad.slice(0, 5).join(', ')}`);
  // Node 20 loses a script's dynamic-import callback when its code comes from a cache made in
  // another process (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING, measured), so the built-ins the SDK
  // imports lazily are required instead; any other dynamic import stops the build.
  const text = r.outputFiles![0].text.replace(/\bimport\("(node:[\w/]+)"\)/g, 'Promise.resolve(require("$1"))');
  const left = text.match(/.{0,40}\bimport\(.{0,40}/);
  if (left) throw new Error(`guest bundle ${sut}/${name}.cjs has a dynamic import the code-cache launcher cannot serve: …${left[0]}…`);
  await writeFile(file, text);
  const made = await execa(process.execPath, [join(root, LAUNCHER), '--make-cache', file], { reject: false, all: true, timeout: 60_000 });
  if (made.exitCode !== 0) throw new Error(`code cache of ${sut}/${name}.cjs: ${made.all?.split('\n')[0] ?? made.exitCode}`);
  return { sut, name, file: relative(root, file), bytes: Object.values(meta.outputs)[0].bytes, inputs: inputs.length, cacheBytes: (await stat(`${file}.cache`)).size };
}

export async function buildGuestBundles(): Promise<BundleReport[]> {
  const root = projectRoot();
  const out: BundleReport[] = [];
  await mkdir(join(root, GUEST_BUNDLE_DIR), { recursive: true });
  await build({ ...COMMON, entryPoints: [join(root, 'dist/src/shared/launch.js')], outfile: join(root, LAUNCHER), format: 'cjs' });
  for (const sut of suts()) {
    for (const [name, entry] of Object.entries(sut.guest ?? {})) {
      const compiled = join(root, 'dist', entry.replace(/\.ts$/, '.js'));
      const file = hostProgram(sut.name, name);
      await mkdir(dirname(file), { recursive: true });
      const r = await build({
        ...COMMON, entryPoints: [compiled], outfile: file, format: 'esm', metafile: true,
        // CommonJS dependencies (the AWS SDK's) call require() for Node built-ins.
        banner: { js: "import { createRequire as __fthRequire } from 'node:module'; const require = __fthRequire(import.meta.url);" },
      });
      const inputs = Object.keys(r.metafile.inputs);
      const bad = inputs.filter((i) => FORBIDDEN_IN_GUEST.some((re) => re.test(i)));
      if (bad.length) throw new Error(`guest bundle ${sut.name}/${name} (${entry}) pulls in harness code or lib-storage: ${bad.slice(0, 5).join(', ')}`);
      await writeFile(`${file.replace(/\.mjs$/, '')}.meta.json`, JSON.stringify(r.metafile));
      const esm = Object.values(r.metafile.outputs)[0];
      out.push({ sut: sut.name, name, file: relative(root, file), bytes: esm.bytes, inputs: inputs.length });
      if (esm.exports.includes('launch')) out.push(await cachedBundle(root, compiled, sut.name, name));
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const reports = await buildGuestBundles();
    if (process.argv.includes('--json')) console.log(JSON.stringify(reports, null, 2));
    else for (const b of reports) console.error(`[guest] ${b.file}: ${(b.bytes / 1024).toFixed(0)} KiB from ${b.inputs} modules${b.cacheBytes ? `, V8 code cache ${(b.cacheBytes / 1024).toFixed(0)} KiB` : ''}`);
  } catch (e) {
    console.error(`[guest] ${(e as Error).message}`);
    process.exit(2);
  }
}
