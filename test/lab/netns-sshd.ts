// A remote lab host for tests, on this machine: a network namespace the test creates, a veth pair
// into it, and Debian's sshd inside with a per-run host key and user key. Everything is removed
// by stop() (sshd killed, namespace and veth deleted).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { tmpDir } from '../helpers.js';

export interface TestHost {
  ns: string;
  host: string;
  port: number;
  user: string;
  dir: string;
  /** the host key line (ssh-ed25519 AAAA…) */
  knownHost: string;
  keyFile: string;
  /** a key the host does not authorise */
  otherKeyFile: string;
  /** another host's key: what a man in the middle would present */
  otherHostKey: string;
  stop(): Promise<void>;
}

const sh = (cmd: string, args: string[]) => execa(cmd, args);

async function keygen(file: string): Promise<void> {
  await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fth-test', '-f', file]);
}

export async function startTestHost(): Promise<TestHost> {
  const id = randomBytes(2).toString('hex');
  const ns = `fth-t-${id}`;
  const octet = 16 + (parseInt(id, 16) % 200);
  const [hostIf, nsIf] = [`fth${id}a`, `fth${id}b`];
  const host = `10.213.${octet}.2`;
  const dir = tmpDir('fth-sshd-');
  let sshd: ResultPromise | undefined;
  const stop = async () => {
    sshd?.kill('SIGTERM');
    await sshd?.catch(() => undefined);
    await execa('ip', ['netns', 'del', ns], { reject: false });
    await execa('ip', ['link', 'del', hostIf], { reject: false });
  };
  try {
    await sh('ip', ['netns', 'add', ns]);
    await sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    await sh('ip', ['link', 'set', nsIf, 'netns', ns]);
    await sh('ip', ['addr', 'add', `10.213.${octet}.1/30`, 'dev', hostIf]);
    await sh('ip', ['link', 'set', hostIf, 'up']);
    await sh('ip', ['-n', ns, 'addr', 'add', `${host}/30`, 'dev', nsIf]);
    await sh('ip', ['-n', ns, 'link', 'set', nsIf, 'up']);
    await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const k of ['host', 'user', 'other-user', 'other-host']) await keygen(join(dir, k));
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user.pub')));
    writeFileSync(join(dir, 'sshd_config'), [
      'Port 2222', `ListenAddress ${host}`, `HostKey ${join(dir, 'host')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`, 'PermitRootLogin prohibit-password', 'PasswordAuthentication no',
      'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', 'LogLevel VERBOSE', 'Subsystem sftp /usr/lib/openssh/sftp-server', '',
    ].join('\n'));
    mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege-separation dir
    sshd = execa('ip', ['netns', 'exec', ns, '/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')], { reject: false, all: true });
    // ready when the port answers
    for (let i = 0; i < 100; i++) {
      const r = await execa('ip', ['netns', 'exec', ns, 'sh', '-c', `cat /proc/net/tcp | grep -qi ':08AE 00000000:0000 0A'`], { reject: false });
      if (r.exitCode === 0) break;
      if (sshd.exitCode !== null && sshd.exitCode !== undefined) throw new Error(`sshd exited: ${(await sshd).all}`);
      await new Promise((r2) => setTimeout(r2, 100));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const pub = (f: string) => readFileSync(join(dir, `${f}.pub`), 'utf8').trim();
  return {
    ns, host, port: 2222, user: 'root', dir, knownHost: pub('host'), keyFile: join(dir, 'user'), otherKeyFile: join(dir, 'other-user'),
    otherHostKey: pub('other-host'), stop,
  };
}
