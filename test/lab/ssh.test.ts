// The SSH host seam against a real sshd in a network namespace this test creates: exec, SFTP reads
// and writes, a remote hash that equals the local one; a wrong host key fails closed (no command
// runs), a bad user key fails clearly, a missing key reference is named; nothing is left running.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { LocalHostExec, SshHostExec, SshError, fingerprint, knownHostBlob } from '../../src/hosts/host-exec.js';
import { startTestHost, type TestHost } from './netns-sshd.js';

describe('SSH host seam (ssh2) against sshd in a test network namespace', function () {
  this.timeout(60_000);
  let h: TestHost;
  before(async () => { h = await startTestHost(); });
  after(async () => {
    await h?.stop();
    const ns = await execa('ip', ['netns', 'list']);
    assert.doesNotMatch(ns.stdout, new RegExp(h.ns), 'namespace left behind');
    const left = await execa('pgrep', ['-f', `${h.dir}/sshd_config`], { reject: false });
    assert.equal(left.stdout.trim(), '', 'sshd left running');
  });
  const target = (over: Partial<Parameters<typeof SshHostExec.connect>[0]> = {}) => ({ host: h.host, port: h.port, user: h.user, knownHost: h.knownHost, key: { file: h.keyFile }, ...over });

  it('runs commands, reads and writes files over SFTP, and hashes a file where it lies', async () => {
    const r = await SshHostExec.connect(target());
    try {
      const out = await r.exec('ip -o -4 addr show | grep -o "10\\.213\\.[0-9.]*"; echo err >&2; exit 3');
      assert.equal(out.exitCode, 3);
      assert.match(out.stdout, new RegExp(h.host.replace(/\./g, '\\.')), 'the command ran inside the namespace');
      assert.equal(out.stderr.trim(), 'err');
      const data = randomBytes(300_000);
      await r.writeFile(`${h.dir}/blob.bin`, data);
      assert.ok((await r.readFile(`${h.dir}/blob.bin`)).equals(data));
      assert.equal(await r.sha256(`${h.dir}/blob.bin`), createHash('sha256').update(data).digest('hex'));
      assert.equal(await new LocalHostExec().sha256(`${h.dir}/blob.bin`), await r.sha256(`${h.dir}/blob.bin`));
      await assert.rejects(r.readFile(`${h.dir}/absent`), /read .*absent: /);
    } finally { await r.close(); }
  });

  it('a wrong host key fails closed, naming both fingerprints; nothing runs', async () => {
    const marker = `${h.dir}/must-not-exist`;
    await assert.rejects(SshHostExec.connect(target({ knownHost: h.otherHostKey })), (e: Error) => {
      assert.ok(e instanceof SshError);
      assert.match(e.message, /host key mismatch, connection refused \(fail closed\)/);
      assert.ok(e.message.includes(fingerprint(knownHostBlob(h.knownHost))) && e.message.includes(fingerprint(knownHostBlob(h.otherHostKey))));
      return true;
    });
    assert.equal((await execa('test', ['-e', marker], { reject: false })).exitCode, 1);
  });

  it('a key the host does not authorise, and a key reference that does not resolve, give clear errors', async () => {
    await assert.rejects(SshHostExec.connect(target({ key: { file: h.otherKeyFile } })), /authentication failed for root with the given key/);
    await assert.rejects(SshHostExec.connect(target({ key: { file: `${h.dir}/nope` } })), /SSH key file .*nope: ENOENT/);
    delete process.env.FTH_TEST_NO_SUCH_KEY;
    await assert.rejects(SshHostExec.connect(target({ key: { env: 'FTH_TEST_NO_SUCH_KEY' } })), /environment variable FTH_TEST_NO_SUCH_KEY is not set/);
    await assert.rejects(SshHostExec.connect(target({ knownHost: 'garbage' })), /names no key type and key/);
  });

  it('a closed port is refused at once, not waited on', async () => {
    await assert.rejects(SshHostExec.connect(target({ port: 2999, readyTimeoutMs: 3000 })), /ECONNREFUSED|no SSH answer/);
  });
});
