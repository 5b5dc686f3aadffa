// Guest-side programs of the SUTs, as the guests run them: one bundled, tree-shaken file per
// program (harness/build-guest.ts, run by setup.sh), so that starting one in a TCG guest reads
// one file over 9p instead of resolving dozens of modules through hundreds of path lookups.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../util/paths.js';

/** Where bundles are written, relative to the project root (the guest sees it at /opt/ftharness). */
export const GUEST_BUNDLE_DIR = 'dist/guest';
const GUEST_CODE_ROOT = '/opt/ftharness';

const bundleFile = (sut: string, name: string) => `${GUEST_BUNDLE_DIR}/${sut}/${name}.mjs`;

/** The guest path of a SUT's program `name` (declared in its plugin's `guest`). */
export const guestProgram = (sut: string, name: string) => `${GUEST_CODE_ROOT}/${bundleFile(sut, name)}`;

/** The same bundle on the host. */
export const hostProgram = (sut: string, name: string) => join(projectRoot(), bundleFile(sut, name));

/** A program whose entry exports launch(args) is also built as CommonJS with a V8 code cache
 *  (`<name>.cjs` + `.cjs.cache`), started through the launcher (src/shared/launch.ts). */
export const LAUNCHER = `${GUEST_BUNDLE_DIR}/launch.cjs`;
export const cachedBundleFile = (sut: string, name: string) => `${GUEST_BUNDLE_DIR}/${sut}/${name}.cjs`;

/** The guest command line that starts program `name`: from its code-cached bundle when it has
 *  one (the build made it), else `node <bundle.mjs>`. Arguments are appended by the caller. */
export function guestCommand(sut: string, name: string): string {
  const cjs = cachedBundleFile(sut, name);
  if (!existsSync(join(projectRoot(), cjs))) return `node ${guestProgram(sut, name)}`;
  return `node ${GUEST_CODE_ROOT}/${LAUNCHER} ${GUEST_CODE_ROOT}/${cjs}`;
}

/** Inputs a guest bundle must never contain: harness code, or the multipart library the SUTs
 *  are built without. Checked on every build (a bundle that pulls them in is a build error). */
export const FORBIDDEN_IN_GUEST: readonly RegExp[] = [
  /node_modules\/@aws-sdk\/lib-storage\//,
  /(^|\/)dist\/(src\/(runner|scenario|vm|lab|hosts|report|results|checkers|faults|store|image|sut)|harness)\//,
  /\/plugin\//,
];
