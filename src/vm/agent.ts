// qemu-guest-agent client over a transport (qga-transport.ts): our own channel's unix socket for
// our image, `virsh qemu-agent-command` for a lab's disk image. Control traffic only — bulk data
// goes over 9p. Every call is kept in a transcript (secrets redacted) for results.
import { redact } from '../shared/redact.js';
import { QgaError, virshTransport, type QgaTransport } from './qga-transport.js';

export class AgentError extends Error {
  constructor(readonly domain: string, readonly command: string, message: string) {
    super(`guest agent of ${domain}: ${command}: ${message}`);
  }
}

export interface ExecResult {
  exitCode: number;
  /** set when the process was killed by a signal */
  signal?: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface TranscriptEntry {
  time: string;
  command: string;
  args?: unknown;
  ok: boolean;
  result?: unknown;
  error?: string;
  ms: number;
}

/** Largest chunk per guest-file-write: on the virsh transport its base64 must stay under
 *  Linux's 128 KiB argv limit. */
const FILE_CHUNK = 48 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class GuestAgent {
  readonly transcript: TranscriptEntry[] = [];

  constructor(readonly domain: string, readonly transport: QgaTransport = virshTransport(domain)) {}

  /** One raw agent command; `timeoutS` bounds the agent's answer. */
  async command<T = unknown>(execute: string, args?: Record<string, unknown>, timeoutS = 10, quietArgs = false): Promise<T> {
    const t0 = Date.now();
    const entry: TranscriptEntry = {
      time: new Date(t0).toISOString(), command: execute, ok: true, ms: 0,
      args: quietArgs ? '(elided)' : args ? JSON.parse(redact(JSON.stringify(args))) : undefined,
    };
    let ret: T;
    try {
      ret = (await this.transport.call(execute, args, timeoutS * 1000)) as T;
    } catch (e) {
      if (!(e instanceof QgaError)) throw e;
      Object.assign(entry, { ok: false, ms: Date.now() - t0, error: redact(e.message) });
      this.transcript.push(entry);
      throw new AgentError(this.domain, execute, entry.error!);
    }
    entry.ms = Date.now() - t0;
    if (execute !== 'guest-file-read') entry.result = JSON.parse(redact(JSON.stringify(ret ?? null)));
    this.transcript.push(entry);
    return ret;
  }

  close(): void {
    this.transport.close();
  }

  async ping(timeoutS = 2): Promise<void> {
    await this.command('guest-ping', undefined, timeoutS);
  }

  /** One readiness probe; only its outcome goes into the transcript. Without a marker the
   *  agent answering is readiness; with one (our image's init writes /run/fth-ready after the
   *  network and shares are up, see vm-images/init.sh) the agent must also be able to open it. */
  private async quietProbe(marker?: string): Promise<void> {
    const n = this.transcript.length;
    try {
      if (!marker) return await this.ping(1);
      const handle = await this.command<number>('guest-file-open', { path: marker, mode: 'r' }, 1);
      await this.command('guest-file-close', { handle }, 2);
    } finally {
      this.transcript.splice(n);
    }
  }

  /** Poll until the guest is ready (see quietProbe); resolves with the ms waited. */
  async waitReady(timeoutMs: number, isAlive: () => Promise<boolean> = async () => true, marker?: string): Promise<number> {
    const t0 = Date.now();
    let last = '';
    let tries = 0;
    while (Date.now() - t0 < timeoutMs) {
      tries++;
      try {
        await this.quietProbe(marker);
        this.transcript.push({ time: new Date(t0).toISOString(), command: 'wait-ready', ok: true, result: { tries, ...(marker ? { marker } : {}) }, ms: Date.now() - t0 });
        return Date.now() - t0;
      } catch (e) {
        last = (e as Error).message;
        if (!(await isAlive())) throw new AgentError(this.domain, 'wait-ready', 'domain stopped before the guest was ready');
        await sleep(50);
      }
    }
    throw new AgentError(this.domain, 'wait-ready', `not ready within ${timeoutMs} ms (last: ${last})`);
  }

  /** Run a program in the guest, wait for it, return exit code and captured output. */
  async exec(path: string, args: string[] = [], opts: { env?: Record<string, string>; input?: Buffer | string; timeoutMs?: number } = {}): Promise<ExecResult> {
    const t0 = Date.now();
    const req: Record<string, unknown> = { path, arg: args, 'capture-output': true };
    // QGA replaces the whole environment when `env` is given: give it only when there is one.
    if (opts.env && Object.keys(opts.env).length) req.env = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
    if (opts.input !== undefined) req['input-data'] = Buffer.from(opts.input).toString('base64');
    const { pid } = await this.command<{ pid: number }>('guest-exec', req);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    let wait = 20;
    for (;;) {
      const st = await this.command<{ exited: boolean; exitcode?: number; signal?: number; 'out-data'?: string; 'err-data'?: string }>('guest-exec-status', { pid });
      if (st.exited) {
        return {
          exitCode: st.exitcode ?? -1,
          signal: st.signal,
          stdout: Buffer.from(st['out-data'] ?? '', 'base64').toString(),
          stderr: Buffer.from(st['err-data'] ?? '', 'base64').toString(),
          durationMs: Date.now() - t0,
        };
      }
      if (Date.now() - t0 > timeoutMs) {
        // Best effort: the guest process keeps running, but we stop waiting and say so.
        throw new AgentError(this.domain, `exec ${path}`, `still running after ${timeoutMs} ms (pid ${pid})`);
      }
      await sleep(wait);
      wait = Math.min(wait * 2, 250);
    }
  }

  /** exec through /bin/sh -c; throws with the output when the exit code is not 0. */
  async sh(script: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.exec('/bin/sh', ['-c', script], opts);
    if (r.exitCode !== 0) {
      throw new AgentError(this.domain, `sh ${script.slice(0, 80)}`, `exit ${r.exitCode}${r.signal ? ` signal ${r.signal}` : ''}: ${redact(r.stderr.trim() || r.stdout.trim())}`);
    }
    return r.stdout;
  }

  /** Start a long-running program in the background (its output goes to logFile in the guest). */
  async spawn(cmdline: string, logFile: string, env?: Record<string, string>): Promise<void> {
    await this.command('guest-exec', {
      path: '/bin/sh', arg: ['-c', `${cmdline} >>${logFile} 2>&1 &`], 'capture-output': false,
      ...(env && Object.keys(env).length ? { env: Object.entries(env).map(([k, v]) => `${k}=${v}`) } : {}),
    });
  }

  async readFile(path: string): Promise<Buffer> {
    const h = await this.command<number>('guest-file-open', { path, mode: 'r' });
    const parts: Buffer[] = [];
    try {
      for (;;) {
        const r = await this.command<{ count: number; 'buf-b64': string; eof: boolean }>('guest-file-read', { handle: h, count: FILE_CHUNK });
        parts.push(Buffer.from(r['buf-b64'], 'base64'));
        if (r.eof || r.count === 0) break;
      }
    } finally {
      await this.command('guest-file-close', { handle: h }).catch(() => undefined);
    }
    return Buffer.concat(parts);
  }

  async writeFile(path: string, data: Buffer | string, mode: 'w' | 'a' | 'r+' = 'w'): Promise<void> {
    const buf = Buffer.from(data);
    const h = await this.command<number>('guest-file-open', { path, mode });
    try {
      for (let off = 0; off < buf.length || off === 0; off += FILE_CHUNK) {
        const part = buf.subarray(off, off + FILE_CHUNK);
        await this.command('guest-file-write', { handle: h, 'buf-b64': part.toString('base64') }, 10, true);
        if (buf.length === 0) break;
      }
      await this.command('guest-file-flush', { handle: h });
    } finally {
      await this.command('guest-file-close', { handle: h }).catch(() => undefined);
    }
  }
}
