// A scenario whose VM is defined, started, cut and checked through qemu+ssh:// on a "remote"
// host: sshd in a network namespace this test creates (the libvirt behind it is this machine's,
// reached through the namespace by libvirt's own ssh transport and virt-ssh-helper). The host
// key is pinned: a wrong one stops the run before anything starts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { sshLibvirtUri } from '../../src/hosts/remote-libvirt.js';
import { cli, domainNames, tmpDir } from '../helpers.js';
import { startTestHost, type TestHost } from './netns-sshd.js';

describe('a scenario through qemu+ssh:// on a test host in a network namespace @vm', function () {
  this.timeout(300_000);
  let h: TestHost;
  before(async () => { h = await startTestHost(); });
  after(async () => { await h?.stop(); });

  it('passes with the VM on the remote libvirt; a wrong host key refuses the connection', async () => {
    const uri = await sshLibvirtUri({ host: h.host, port: h.port, user: h.user, knownHost: h.knownHost, key: { file: h.keyFile } }, h.dir);
    const list = await execa('virsh', ['-c', uri, 'uri'], { reject: false });
    assert.equal(list.exitCode, 0, list.stderr);
    const out = tmpDir('fth-remote-');
    const r = await cli(['run', 'test/fixtures/tiny.yaml', '--json', '--no-report', '--out', out], { env: { FTH_LIBVIRT_URI: uri } });
    assert.equal(r.exitCode, 0, r.all);
    const s = JSON.parse(r.stdout);
    const res = JSON.parse(readFileSync(join(s.runs[0].dir, 'results.json'), 'utf8'));
    assert.equal(res.verdict, 'pass', res.reason);
    assert.equal(res.dimensions.libvirtUri, uri.split('?')[0]);
    assert.ok(!(await domainNames()).some((d) => d.includes(res.runId)), 'domain left behind');
    // a man in the middle: the pinned key does not match
    const bad = tmpDir('fth-mitm-');
    const wrong = await sshLibvirtUri({ host: h.host, port: h.port, user: h.user, knownHost: h.otherHostKey, key: { file: h.keyFile } }, bad);
    const v = await execa('virsh', ['-c', wrong, 'uri'], { reject: false });
    assert.notEqual(v.exitCode, 0);
    assert.match(v.stderr, /Host key verification failed/);
  });
});
