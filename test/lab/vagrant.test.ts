// The lab host's Vagrantfile is valid where vagrant is installed (skipped, saying so, elsewhere).
import assert from 'node:assert/strict';
import { execa } from 'execa';

describe('Vagrantfile', () => {
  it('vagrant validate passes', async function () {
    const v = await execa('vagrant', ['--version'], { reject: false }).catch(() => undefined);
    if (!v || v.exitCode !== 0) { this.skip(); return; } // vagrant is not installed here: nothing to validate with
    const r = await execa('vagrant', ['validate'], { reject: false, env: { VAGRANT_DEFAULT_PROVIDER: 'libvirt' } });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  });
});
