// The systems under test, one line each: importing a SUT's plugin registers it. A new system is
// one folder and one line here; nothing in src/runner or src/scenario names a SUT.
import './pmem-ha/plugin/index.js';
import './pheap/plugin/index.js';
import './podvm/plugin/index.js';
import './numa/plugin/index.js';
