// Primary → standby signals over TCP on the private guest-to-guest link. One JSON line each way:
//   primary → {"v":1,"type":"commit","generation","manifestKey","manifestSha256","sentAt","nonce","alg","check"}
//   primary → {"v":1,"type":"start","generation","regionSize","chunkSize","chunksTotal","sentAt","nonce","alg","check"}
//   standby → {"v":1,"type":"ack","generation","nonce"} | {"v":1,"type":"nack","nonce","reason"}
// "start" (pipelined restore, --signal-at start) says a save of that generation has begun: the
// standby may fetch and verify chunks as they land, but applies nothing before the manifest.
// `check` is HMAC-SHA256 over the canonical JSON of the other fields when both sides share a key
// (env FTH_PMEMHA_SIGNAL_KEY), else a plain sha256 of them: that catches garbage and truncation,
// not forgery. Either way the standby treats the message only as a hint to look at the store now;
// it verifies the manifest and every chunk itself. The store poll is the fallback path when the
// signal is lost or the link is cut.

import { createHmac, randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { canonicalJson, sha256Hex } from './manifest.js';
import { sleep } from './store.js';
import type { CommitClaim } from './save.js';

const MAX_LINE = 4096;

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(text: string, what = 'address'): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${what} ${JSON.stringify(text)} is not host:port`);
  return { host: m[1], port };
}

interface CommitMessage extends CommitClaim {
  v: 1;
  type: 'commit';
  sentAt: number;
  nonce: string;
  alg: 'hmac-sha256' | 'sha256';
  check: string;
}

/** What a "start" signal announces: a save of `generation` has begun (nothing is committed). */
export interface SaveStartClaim {
  generation: string;
  regionSize: number;
  chunkSize: number;
  chunksTotal: number;
}

interface StartMessage extends SaveStartClaim {
  v: 1;
  type: 'start';
  sentAt: number;
  nonce: string;
  alg: 'hmac-sha256' | 'sha256';
  check: string;
}

type SignalMessage = CommitMessage | StartMessage;

function checkOf(body: Record<string, unknown>, key?: string): { alg: CommitMessage['alg']; check: string } {
  const text = canonicalJson(body);
  return key ? { alg: 'hmac-sha256', check: createHmac('sha256', key).update(text).digest('hex') } : { alg: 'sha256', check: sha256Hex(text) };
}

export function encodeCommit(claim: CommitClaim, key?: string): { line: string; nonce: string } {
  const body = {
    v: 1 as const,
    type: 'commit' as const,
    generation: claim.generation,
    manifestKey: claim.manifestKey,
    manifestSha256: claim.manifestSha256,
    sentAt: Date.now(),
    nonce: randomBytes(8).toString('hex'),
  };
  return { line: JSON.stringify({ ...body, ...checkOf(body, key) }) + '\n', nonce: body.nonce };
}

export function encodeStart(claim: SaveStartClaim, key?: string): { line: string; nonce: string } {
  const body = {
    v: 1 as const,
    type: 'start' as const,
    generation: claim.generation,
    regionSize: claim.regionSize,
    chunkSize: claim.chunkSize,
    chunksTotal: claim.chunksTotal,
    sentAt: Date.now(),
    nonce: randomBytes(8).toString('hex'),
  };
  return { line: JSON.stringify({ ...body, ...checkOf(body, key) }) + '\n', nonce: body.nonce };
}

/** Parse and check one signal line; throws with the reason when it must be ignored. */
export function decodeSignal(line: string, key?: string): SignalMessage {
  const msg = JSON.parse(line) as SignalMessage;
  if (msg?.v !== 1 || (msg.type !== 'commit' && msg.type !== 'start')) throw new Error('not a commit or start message');
  const strings = msg.type === 'commit' ? (['generation', 'manifestKey', 'manifestSha256', 'nonce', 'check'] as const) : (['generation', 'nonce', 'check'] as const);
  for (const f of strings) {
    if (typeof (msg as unknown as Record<string, unknown>)[f] !== 'string') throw new Error(`${msg.type} message has no ${f}`);
  }
  if (msg.type === 'start') {
    for (const f of ['regionSize', 'chunkSize', 'chunksTotal'] as const) {
      if (!Number.isSafeInteger(msg[f]) || msg[f] < (f === 'chunksTotal' ? 0 : 1)) throw new Error(`start message has no valid ${f}`);
    }
  }
  const { alg, check, ...body } = msg;
  if (key && alg !== 'hmac-sha256') throw new Error(`${msg.type} message is not authenticated but a signal key is configured`);
  if (!key && alg !== 'sha256') throw new Error(`${msg.type} message uses ${alg} but no signal key is configured`);
  if (checkOf(body, key).check !== check) throw new Error(key ? `${msg.type} message HMAC does not verify` : `${msg.type} message checksum does not verify`);
  return msg;
}

/** decodeSignal for a commit line only. */
export function decodeCommit(line: string, key?: string): CommitMessage {
  const msg = decodeSignal(line, key);
  if (msg.type !== 'commit') throw new Error('not a commit message');
  return msg;
}

export interface SendOptions {
  key?: string;
  /** Wall-clock ms; retries stop here (the hold-up end). Default: 10 s from now. */
  deadline?: number;
  signal?: AbortSignal;
  attemptTimeoutMs?: number;
}

export interface SendResult {
  acked: boolean;
  attempts: number;
  detail: string;
}

function attempt(addr: HostPort, line: string, nonce: string, generation: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect({ host: addr.host, port: addr.port });
    let buf = '';
    const done = (err?: Error): void => {
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    sock.setTimeout(timeoutMs, () => done(new Error(`no ack within ${timeoutMs} ms`)));
    sock.on('error', (e) => done(e));
    sock.on('connect', () => sock.write(line));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_LINE) done(new Error('oversized reply'));
        return;
      }
      try {
        const reply = JSON.parse(buf.slice(0, nl)) as { type?: string; nonce?: string; generation?: string; reason?: string };
        if (reply.type === 'ack' && reply.nonce === nonce && reply.generation === generation) done();
        else if (reply.type === 'nack') done(new Error(`standby refused the signal: ${reply.reason ?? '?'}`));
        else done(new Error('unexpected reply'));
      } catch {
        done(new Error('unparsable reply'));
      }
    });
    sock.on('end', () => done(new Error('standby closed the connection without an ack')));
  });
}

/** Send the commit signal, retrying with backoff until acked, the deadline, or abort. */
export function sendCommitSignal(addr: HostPort, claim: CommitClaim, opts: SendOptions = {}): Promise<SendResult> {
  return sendSignal(addr, claim.generation, () => encodeCommit(claim, opts.key), opts);
}

/** Send the save-start signal (pipelined restore), with the same retries as the commit signal. */
export function sendStartSignal(addr: HostPort, claim: SaveStartClaim, opts: SendOptions = {}): Promise<SendResult> {
  return sendSignal(addr, claim.generation, () => encodeStart(claim, opts.key), opts);
}

async function sendSignal(addr: HostPort, generation: string, encode: () => { line: string; nonce: string }, opts: SendOptions): Promise<SendResult> {
  const deadline = opts.deadline ?? Date.now() + 10000;
  let attempts = 0;
  let last = 'not sent';
  for (let delay = 100; ; delay = Math.min(1000, delay * 2)) {
    if (opts.signal?.aborted) return { acked: false, attempts, detail: `aborted: ${last}` };
    const left = deadline - Date.now();
    if (left <= 0) return { acked: false, attempts, detail: `no ack before the deadline after ${attempts} attempt(s): ${last}` };
    attempts++;
    const { line, nonce } = encode();
    try {
      await attempt(addr, line, nonce, generation, Math.min(opts.attemptTimeoutMs ?? 1000, left));
      return { acked: true, attempts, detail: `acked by ${addr.host}:${addr.port}` };
    } catch (err) {
      last = (err as Error).message;
    }
    try {
      await sleep(Math.min(delay, Math.max(0, deadline - Date.now())), opts.signal);
    } catch {
      // aborted: reported at the top of the loop
    }
  }
}

export interface SignalServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Listen for signals. `onClaim` (commit) and `onStart` (save begun) run after the ack is sent
 * (the ack means "received and checked", not "restored"); `onReject` gets lines that fail the
 * check. Without `onStart`, start signals are acked and ignored.
 */
export function startSignalServer(
  addr: HostPort,
  opts: {
    key?: string;
    onClaim: (claim: CommitClaim, from: string) => void;
    onStart?: (claim: SaveStartClaim, from: string) => void;
    onReject?: (reason: string, from: string) => void;
  },
): Promise<SignalServer> {
  const open = new Set<Socket>();
  const server: Server = createServer((sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    const from = `${sock.remoteAddress}:${sock.remotePort}`;
    let buf = '';
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      if (buf.length > MAX_LINE && !buf.includes('\n')) return void sock.destroy();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: SignalMessage;
        try {
          msg = decodeSignal(line, opts.key);
        } catch (err) {
          const reason = (err as Error).message;
          let nonce: unknown;
          try {
            nonce = (JSON.parse(line) as { nonce?: unknown }).nonce;
          } catch {
            nonce = undefined;
          }
          sock.write(JSON.stringify({ v: 1, type: 'nack', nonce, reason }) + '\n');
          opts.onReject?.(reason, from);
          continue;
        }
        sock.write(JSON.stringify({ v: 1, type: 'ack', generation: msg.generation, nonce: msg.nonce }) + '\n');
        if (msg.type === 'commit') opts.onClaim({ generation: msg.generation, manifestKey: msg.manifestKey, manifestSha256: msg.manifestSha256 }, from);
        else opts.onStart?.({ generation: msg.generation, regionSize: msg.regionSize, chunkSize: msg.chunkSize, chunksTotal: msg.chunksTotal }, from);
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      const a = server.address();
      resolve({
        port: typeof a === 'object' && a ? a.port : addr.port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            for (const s of open) s.destroy();
          }),
      });
    });
  });
}
