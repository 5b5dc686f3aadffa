// Starts a guest program from its CommonJS bundle with the V8 code cache made when it was built
// (harness/build-guest.ts), so a TCG guest skips most of the parse and compile of the bundle
// (measured: the agent's load 1.0-1.8 s as ESM, 0.8-0.9 s from here; Node 20 has no module
// compile cache, and its startup snapshots cannot hold node:http2, which the AWS SDK loads).
//   node launch.cjs BUNDLE.cjs ARGS...          run BUNDLE's exported launch(ARGS)
//   node launch.cjs --make-cache BUNDLE.cjs     load BUNDLE, write BUNDLE.cjs.cache (build time)
// A cache V8 rejects (another Node build) costs only the compile it would have saved.
import { readFileSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { Script } from 'node:vm';

const [, , first, ...rest] = process.argv;
const make = first === '--make-cache';
const file = resolve(make ? rest[0] : first);
if (!(make ? rest[0] : first)) {
  process.stderr.write('usage: launch.cjs [--make-cache] BUNDLE.cjs ARGS...\n');
  process.exit(2);
}
let cachedData: Buffer | undefined;
if (!make) {
  try {
    cachedData = readFileSync(`${file}.cache`);
  } catch {
    // no cache: compile as usual
  }
}
// A shebang is only valid on a file's first line, not inside the module wrapper.
const source = readFileSync(file, 'utf8').replace(/^#!.*/, '');
// The build turned the bundle's dynamic imports into require(): a script compiled from a cache
// made in another process has no dynamic-import callback on Node 20.
const script = new Script(Module.wrap(source), { filename: file, cachedData });
if (cachedData && script.cachedDataRejected) process.stderr.write(`launch: the code cache of ${file} was rejected (another Node build?); compiling it\n`);
const mod = { exports: {} as { launch?: (args: string[]) => unknown } };
(script.runInThisContext() as (...a: unknown[]) => void)(mod.exports, createRequire(file), mod, file, dirname(file));
if (make) {
  // After the load, so the functions its top level ran are in the cache too.
  writeFileSync(`${file}.cache`, script.createCachedData());
  process.exit(0);
}
if (typeof mod.exports.launch !== 'function') {
  process.stderr.write(`launch: ${file} exports no launch(args)\n`);
  process.exit(2);
}
mod.exports.launch(rest);
