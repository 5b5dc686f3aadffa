// Bundles every SUT's guest programs (SutPlugin.guest) with esbuild into dist/guest/<sut>/<name>.mjs:
// one tree-shaken ESM file each, from the compiled dist/ (run after tsc; setup.sh does). Fails
// when a bundle contains harness code or lib-storage, and prints each bundle's size and inputs.
//   node dist/harness/build-guest.js [--json]
import '../src/suts.js';
import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { FORBIDDEN_IN_GUEST, hostProgram } from '../src/sut/guest.js';
import { suts } from '../src/sut/registry.js';
import { projectRoot } from '../src/util/paths.js';

export interface BundleReport { sut: string; name: string; file: string; bytes: number; inputs: number }

export async function buildGuestBundles(): Promise<BundleReport[]> {
  const root = projectRoot();
  const out: BundleReport[] = [];
  for (const sut of suts()) {
    for (const [name, entry] of Object.entries(sut.guest ?? {})) {
      const compiled = join(root, 'dist', entry.replace(/\.ts$/, '.js'));
      const file = hostProgram(sut.name, name);
      await mkdir(dirname(file), { recursive: true });
      const r = await build({
        entryPoints: [compiled], outfile: file, bundle: true, platform: 'node', format: 'esm', target: 'node18',
        treeShaking: true, mainFields: ['module', 'main'], minifySyntax: true, minifyWhitespace: true, legalComments: 'none', metafile: true, logLevel: 'error',
        // CommonJS dependencies (the AWS SDK's) call require() for Node built-ins.
        banner: { js: "import { createRequire as __fthRequire } from 'node:module'; const require = __fthRequire(import.meta.url);" },
      });
      const inputs = Object.keys(r.metafile.inputs);
      const bad = inputs.filter((i) => FORBIDDEN_IN_GUEST.some((re) => re.test(i)));
      if (bad.length) throw new Error(`guest bundle ${sut.name}/${name} (${entry}) pulls in harness code or lib-storage: ${bad.slice(0, 5).join(', ')}`);
      await writeFile(`${file.replace(/\.mjs$/, '')}.meta.json`, JSON.stringify(r.metafile));
      out.push({ sut: sut.name, name, file: relative(root, file), bytes: r.metafile.outputs[relative(process.cwd(), file)]?.bytes ?? Object.values(r.metafile.outputs)[0].bytes, inputs: inputs.length });
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const reports = await buildGuestBundles();
    if (process.argv.includes('--json')) console.log(JSON.stringify(reports, null, 2));
    else for (const b of reports) console.error(`[guest] ${b.file}: ${(b.bytes / 1024).toFixed(0)} KiB from ${b.inputs} modules`);
  } catch (e) {
    console.error(`[guest] ${(e as Error).message}`);
    process.exit(2);
  }
}
