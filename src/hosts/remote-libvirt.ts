// A libvirt URI for a lab host over SSH (qemu+ssh://) that verifies the host key the way the
// harness's own SSH does: libvirt runs the `ssh` binary, so the URI names a small wrapper that
// pins the inventory's known-hosts entry (StrictHostKeyChecking=yes, no global or user known_hosts,
// BatchMode: never a prompt) and the key file by reference. Set as FTH_LIBVIRT_URI for a run.
import { writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import type { SshTarget } from './host-exec.js';
import { knownHostBlob } from './host-exec.js';

const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/** Writes <dir>/known_hosts and <dir>/ssh (the wrapper); returns the URI. The key must be a file. */
export async function sshLibvirtUri(t: SshTarget, dir: string): Promise<string> {
  if (!('file' in t.key)) throw new Error('a qemu+ssh:// libvirt connection needs the SSH key as a file (key: {file: …})');
  knownHostBlob(t.knownHost); // a malformed entry is refused here, not by ssh later
  const port = t.port ?? 22;
  const entry = t.knownHost.trim().split(/\s+/);
  const typeAt = entry.findIndex((x) => /^(ssh-|ecdsa-|sk-)/.test(x));
  const hostPattern = port === 22 ? t.host : `[${t.host}]:${port}`;
  await writeFile(join(dir, 'known_hosts'), `${hostPattern} ${entry.slice(typeAt, typeAt + 2).join(' ')}\n`);
  const wrapper = join(dir, 'ssh');
  await writeFile(wrapper, `#!/bin/sh\nexec ssh -o UserKnownHostsFile=${q(join(dir, 'known_hosts'))} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o ServerAliveInterval=5 -o ConnectTimeout=15 "$@"\n`);
  await chmod(wrapper, 0o700);
  const params = new URLSearchParams({ keyfile: t.key.file, command: wrapper });
  return `qemu+ssh://${encodeURIComponent(t.user)}@${t.host}:${port}/system?${params.toString()}`;
}
