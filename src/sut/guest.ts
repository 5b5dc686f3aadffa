// Guest-side programs of the SUTs, as the guests run them: one bundled, tree-shaken file per
// program (harness/build-guest.ts, run by setup.sh), so that starting one in a TCG guest reads
// one file over 9p instead of resolving dozens of modules through hundreds of path lookups.
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

/** Inputs a guest bundle must never contain: harness code, or the multipart library the SUTs
 *  are built without. Checked on every build (a bundle that pulls them in is a build error). */
export const FORBIDDEN_IN_GUEST: readonly RegExp[] = [
  /node_modules\/@aws-sdk\/lib-storage\//,
  /(^|\/)dist\/(src\/(runner|scenario|vm|lab|hosts|report|results|checkers|faults|store|image|sut)|harness)\//,
  /\/plugin\//,
];
