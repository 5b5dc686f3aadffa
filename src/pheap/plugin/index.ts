// The persistent heap as a system under test. Its scenarios drive it with core steps (exec in
// the guest, host-check on backing-file snapshots), so it brings no steps of its own: it brings
// its guest program and its independent ground-truth checker (checker.ts, run on the host by
// host-check through checker-cli.ts; it decodes the image without the heap's code).
import type { SutPlugin } from '../../sut/api.js';
import { registerSut } from '../../sut/registry.js';

export const pheap: SutPlugin = {
  name: 'pheap',
  summary: 'persistent object heap with typed slabs, pointer swizzling at a new base (src/pheap/README.md)',
  steps: {},
  guest: { cli: 'src/pheap/cli.ts' },
};

registerSut(pheap);
