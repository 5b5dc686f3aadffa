// How a qemu-guest-agent command reaches the guest.
// - socket: our own virtio-serial channel (org.ftharness.qga.0), whose host end is a unix socket
//   QEMU listens on; we hold one connection per VM and speak the agent's JSON protocol on it. No
//   process per call, no libvirtd round trip, and no payload on any command line.
// - virsh: `virsh qemu-agent-command` on libvirt's own agent channel, one short process per call;
//   for a lab's disk image, whose qemu-ga serves only the standard channel.
import { connect, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import { virsh } from './libvirt.js';

/** The agent answered with an error, or could not be reached; `message` is one line. */
export class QgaError extends Error {}

export interface QgaTransport {
  readonly kind: 'socket' | 'virsh';
  /** Send `{execute, arguments}`; resolve with `return`, reject with QgaError. */
  call(execute: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown>;
  close(): void;
}

/** The guest's own channel name for ftharness's agent connection (vm-images/init.sh serves it). */
export const FTH_QGA_CHANNEL = 'org.ftharness.qga.0';

export function virshTransport(domain: string): QgaTransport {
  return {
    kind: 'virsh',
    async call(execute, args, timeoutMs) {
      const payload = JSON.stringify(args ? { execute, arguments: args } : { execute });
      const timeoutS = Math.max(1, Math.ceil(timeoutMs / 1000));
      const r = await virsh(['qemu-agent-command', domain, '--timeout', String(timeoutS), payload], { timeoutMs: timeoutMs + 10_000 });
      if (r.exitCode !== 0) throw new QgaError(String(r.stderr || r.stdout || `virsh exit ${r.exitCode}`).replace(/^error: /gm, '').trim());
      return (JSON.parse(r.stdout) as { return: unknown }).return;
    },
    close() { /* nothing held */ },
  };
}

type Waiter = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; sync?: number; sawMarker?: boolean };

/**
 * One connection to QEMU's end of our agent channel. Commands are serialised (the protocol has
 * no request ids). After connecting, and after a command timed out, the stream is resynchronised
 * with guest-sync-delimited: the agent handles requests one at a time, in order, so a late
 * answer to a timed-out command comes before the 0xFF byte that precedes the sync's answer and
 * is dropped with everything else before it.
 */
export function socketTransport(path: string): QgaTransport {
  let sock: Socket | undefined;
  let synced = false;
  let buf = Buffer.alloc(0);
  let waiter: Waiter | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const settle = (err?: Error, value?: unknown) => {
    const w = waiter;
    if (!w) return;
    waiter = undefined;
    clearTimeout(w.timer);
    if (err) w.reject(err); else w.resolve(value);
  };
  const drop = (why: string) => {
    synced = false;
    buf = Buffer.alloc(0);
    const s = sock;
    sock = undefined;
    s?.destroy();
    settle(new QgaError(why));
  };

  const onData = (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (waiter) {
      const w = waiter;
      if (w.sync !== undefined && !w.sawMarker) {
        const ff = buf.indexOf(0xff);
        if (ff < 0) { buf = Buffer.alloc(0); return; }
        buf = buf.subarray(ff + 1);
        w.sawMarker = true;
      }
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      const line = buf.subarray(0, nl).toString('utf8').trim();
      buf = buf.subarray(nl + 1);
      if (!line) continue;
      let msg: { return?: unknown; error?: { class?: string; desc?: string } };
      try { msg = JSON.parse(line) as typeof msg; } catch { continue; }
      if (w.sync !== undefined && msg.return !== w.sync) { w.sawMarker = false; continue; } // an older sync's answer
      if (msg.error) settle(new QgaError(`${msg.error.class ?? 'error'}: ${msg.error.desc ?? ''}`.trim()));
      else settle(undefined, msg.return);
    }
    buf = Buffer.alloc(0); // nothing asked: stale bytes
  };

  const send = (obj: unknown, timeoutMs: number, sync?: number): Promise<unknown> =>
    new Promise((resolve, reject) => {
      // On a timeout the connection stays; the next command resynchronises first.
      const timer = setTimeout(() => { synced = false; settle(new QgaError(`no answer within ${timeoutMs} ms`)); }, timeoutMs);
      waiter = { resolve, reject, timer, sync };
      // 0xFF before a sync resets the agent's JSON parser after a half-sent request.
      const body = Buffer.from(`${JSON.stringify(obj)}\n`);
      sock!.write(sync !== undefined ? Buffer.concat([Buffer.from([0xff]), body]) : body);
    });

  const open = (timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const s = connect(path);
      let up = false;
      const t = setTimeout(() => { s.destroy(); reject(new QgaError(`agent channel not connected (connect timed out after ${timeoutMs} ms)`)); }, timeoutMs);
      s.once('connect', () => { up = true; clearTimeout(t); sock = s; resolve(); });
      s.on('error', (e: NodeJS.ErrnoException) => {
        if (!up) { clearTimeout(t); reject(new QgaError(`agent channel not connected (${e.code ?? e.message})`)); } else if (sock === s) drop(`agent channel lost (${e.code ?? e.message})`);
      });
      s.on('close', () => { if (sock === s) drop('agent channel closed (guest powered off or QEMU gone)'); });
      s.on('data', (d: Buffer) => { if (sock === s) onData(d); });
    });

  const ensure = async (timeoutMs: number) => {
    if (!sock) await open(Math.min(timeoutMs, 2000));
    if (!synced) {
      const id = randomInt(1, 2 ** 31 - 1);
      await send({ execute: 'guest-sync-delimited', arguments: { id } }, Math.min(timeoutMs, 3000), id);
      synced = true;
    }
  };

  return {
    kind: 'socket',
    call(execute, args, timeoutMs) {
      const run = async () => {
        await ensure(timeoutMs);
        return send(args ? { execute, arguments: args } : { execute }, timeoutMs);
      };
      const p = queue.then(run, run);
      queue = p.catch(() => undefined);
      return p;
    },
    close() { drop('closed'); },
  };
}
