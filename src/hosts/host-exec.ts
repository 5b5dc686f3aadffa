// The seam for everything the harness does on a host: run a command, read and write files, hash a
// file where it lies (ground truth from a remote backing file without pulling its zeros over the
// wire). Local (this machine) or over SSH with ssh2 (exec and SFTP). The SSH side verifies the
// host key against the inventory's known-hosts entry and fails closed; it sets keepalives and
// timeouts; the private key is read from a file or an environment variable named by reference,
// never taken from argv or written to a log.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, writeFile, chmod } from 'node:fs/promises';
import { execa } from 'execa';
import ssh2 from 'ssh2';
import type { ClientChannel, SFTPWrapper } from 'ssh2';

export interface ExecOut { exitCode: number; stdout: string; stderr: string }

export interface HostExec {
  /** "local" or "user@host:port" */
  readonly where: string;
  exec(cmd: string, o?: { timeoutMs?: number; input?: string }): Promise<ExecOut>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: Buffer | string, mode?: number): Promise<void>;
  /** sha256 hex of a file, computed on the host that has it */
  sha256(path: string): Promise<string>;
  close(): Promise<void>;
}

export class LocalHostExec implements HostExec {
  readonly where = 'local';
  async exec(cmd: string, o: { timeoutMs?: number; input?: string } = {}): Promise<ExecOut> {
    const r = await execa('sh', ['-c', cmd], { reject: false, timeout: o.timeoutMs ?? 60_000, input: o.input });
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  }
  readFile(path: string) { return readFile(path); }
  async writeFile(path: string, data: Buffer | string, mode?: number) { await writeFile(path, data); if (mode !== undefined) await chmod(path, mode); }
  sha256(path: string): Promise<string> {
    return new Promise((res, rej) => {
      const h = createHash('sha256');
      createReadStream(path).on('data', (c) => h.update(c)).on('end', () => res(h.digest('hex'))).on('error', rej);
    });
  }
  async close() { /* nothing held */ }
}

/** How to reach a host over SSH; the key is given by reference (file or environment variable). */
export interface SshTarget {
  host: string;
  port?: number;
  user: string;
  /** the host's public key as a known_hosts / .pub line: "ssh-ed25519 AAAA… [comment]" */
  knownHost: string;
  key: { file: string } | { env: string };
  /** ms to connect and authenticate (default 15000) */
  readyTimeoutMs?: number;
  keepaliveMs?: number;
}

export class SshError extends Error {}

/** SHA256:… as ssh-keygen -l prints it. */
export const fingerprint = (blob: Buffer) => `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;

/** The key blob of a known_hosts / .pub line (its second field). */
export function knownHostBlob(line: string): Buffer {
  const f = line.trim().split(/\s+/);
  // a known_hosts line may start with the host pattern: the key type is the field before the blob
  const i = f.findIndex((x) => /^(ssh-|ecdsa-|sk-)/.test(x));
  if (i < 0 || !f[i + 1]) throw new SshError(`known-hosts entry "${line.slice(0, 40)}…" names no key type and key`);
  const blob = Buffer.from(f[i + 1], 'base64');
  if (!blob.length) throw new SshError('known-hosts entry: the key is not base64');
  return blob;
}

async function privateKey(k: SshTarget['key']): Promise<Buffer> {
  if ('file' in k) {
    try { return await readFile(k.file); } catch (e) { throw new SshError(`SSH key file ${k.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  }
  const v = process.env[k.env];
  if (!v) throw new SshError(`SSH key: environment variable ${k.env} is not set`);
  return Buffer.from(v);
}

export class SshHostExec implements HostExec {
  private constructor(readonly where: string, private readonly c: ssh2.Client, private sftpP?: Promise<SFTPWrapper>) {}

  static async connect(t: SshTarget): Promise<SshHostExec> {
    const where = `${t.user}@${t.host}:${t.port ?? 22}`;
    const expected = knownHostBlob(t.knownHost);
    const key = await privateKey(t.key);
    const c = new ssh2.Client();
    let presented: Buffer | undefined;
    await new Promise<void>((res, rej) => {
      c.once('ready', () => res());
      c.once('error', (e: Error & { level?: string }) => {
        if (presented && !presented.equals(expected)) {
          rej(new SshError(`${where}: host key mismatch, connection refused (fail closed): the host presented ${fingerprint(presented)}, the inventory expects ${fingerprint(expected)}`));
        } else if (e.level === 'client-authentication') {
          rej(new SshError(`${where}: authentication failed for ${t.user} with the given key (is it in the host's authorized_keys?)`));
        } else if (/timed out/i.test(e.message)) {
          rej(new SshError(`${where}: no SSH answer within ${t.readyTimeoutMs ?? 15_000} ms`));
        } else rej(new SshError(`${where}: ${e.message}`));
      });
      try {
        c.connect({
          host: t.host, port: t.port ?? 22, username: t.user, privateKey: key,
          readyTimeout: t.readyTimeoutMs ?? 15_000, keepaliveInterval: t.keepaliveMs ?? 5_000, keepaliveCountMax: 3,
          // Only the one key the inventory names is accepted: anything else ends the handshake.
          hostVerifier: (k: Buffer) => { presented = Buffer.from(k); return presented.equals(expected); },
        });
      } catch (e) { rej(new SshError(`${where}: ${(e as Error).message}`)); }
    });
    return new SshHostExec(where, c);
  }

  exec(cmd: string, o: { timeoutMs?: number; input?: string } = {}): Promise<ExecOut> {
    return new Promise((res, rej) => {
      this.c.exec(cmd, (err: Error | undefined, ch: ClientChannel) => {
        if (err) { rej(new SshError(`${this.where}: exec: ${err.message}`)); return; }
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => { ch.close(); rej(new SshError(`${this.where}: command timed out after ${o.timeoutMs ?? 60_000} ms`)); }, o.timeoutMs ?? 60_000);
        ch.on('data', (d: Buffer) => { stdout += d.toString(); });
        ch.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
        ch.on('close', (code: number | null) => { clearTimeout(timer); res({ exitCode: code ?? -1, stdout, stderr }); });
        if (o.input !== undefined) ch.end(o.input); else ch.end();
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpP ??= new Promise((res, rej) => this.c.sftp((e: Error | undefined, s: SFTPWrapper) => (e ? rej(new SshError(`${this.where}: sftp: ${e.message}`)) : res(s))));
    return this.sftpP;
  }

  async readFile(path: string): Promise<Buffer> {
    const s = await this.sftp();
    return new Promise((res, rej) => s.readFile(path, (e: Error | undefined, b: Buffer) => (e ? rej(new SshError(`${this.where}: read ${path}: ${e.message}`)) : res(b))));
  }

  async writeFile(path: string, data: Buffer | string, mode = 0o600): Promise<void> {
    const s = await this.sftp();
    await new Promise<void>((res, rej) => s.writeFile(path, data, { mode }, (e?: Error | null) => (e ? rej(new SshError(`${this.where}: write ${path}: ${e.message}`)) : res())));
  }

  async sha256(path: string): Promise<string> {
    const r = await this.exec(`sha256sum -- '${path.replace(/'/g, "'\\''")}'`);
    const m = /^([0-9a-f]{64})\s/.exec(r.stdout);
    if (r.exitCode !== 0 || !m) throw new SshError(`${this.where}: sha256sum ${path}: exit ${r.exitCode}: ${r.stderr.trim()}`);
    return m[1];
  }

  async close(): Promise<void> { this.c.end(); }
}
