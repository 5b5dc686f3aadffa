// The agent-channel client's protocol handling (resync after connect and after a timeout,
// stale answers dropped) against a scripted peer on a unix socket. The real agent is exercised
// by every VM test; this pins the cases a healthy guest rarely shows.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { socketTransport, QgaError } from '../../src/vm/qga-transport.js';
import { tmpDir } from '../helpers.js';

/** A peer that answers like qemu-ga; `script` may delay or replace answers. */
function peer(path: string, script: (req: any, reply: (obj: unknown, ff?: boolean) => void, sock: Socket) => void): Promise<Server> {
  const srv = createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1').replace(/\xff/g, '');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const req = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        script(req, (obj, ff) => sock.write(Buffer.concat([ff ? Buffer.from([0xff]) : Buffer.alloc(0), Buffer.from(`${JSON.stringify(obj)}\n`)])), sock);
      }
    });
  });
  return new Promise((r) => srv.listen(path, () => r(srv)));
}
const qga = (req: any, reply: (o: unknown, ff?: boolean) => void) => {
  if (req.execute === 'guest-sync-delimited') reply({ return: req.arguments.id }, true);
  else if (req.execute === 'guest-ping') reply({ return: {} });
  else if (req.execute === 'echo') reply({ return: req.arguments });
  else reply({ error: { class: 'CommandNotFound', desc: `The command ${req.execute} has not been found` } });
};

describe('guest-agent socket transport', () => {
  it('syncs once per connection, then answers each command in order', async () => {
    const path = join(tmpDir(), 'a.sock');
    let syncs = 0;
    const srv = await peer(path, (req, reply) => { if (req.execute === 'guest-sync-delimited') syncs++; qga(req, reply); });
    const t = socketTransport(path);
    const got = await Promise.all([1, 2, 3].map((n) => t.call('echo', { n }, 1000)));
    assert.deepEqual(got, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.equal(syncs, 1);
    await assert.rejects(t.call('nope', undefined, 1000), (e: Error) => e instanceof QgaError && /CommandNotFound: The command nope/.test(e.message));
    t.close(); srv.close();
  });

  it('drops stale bytes before the sync marker, and an older sync\'s answer', async () => {
    const path = join(tmpDir(), 'b.sock');
    const srv = await peer(path, (req, reply, sock) => {
      if (req.execute === 'guest-sync-delimited') {
        sock.write('{"return": {"stale": true}}\n');
        reply({ return: 12345 }, true); // an older sync
        reply({ return: req.arguments.id }, true);
      } else qga(req, reply);
    });
    const t = socketTransport(path);
    assert.deepEqual(await t.call('echo', { x: 1 }, 1000), { x: 1 });
    t.close(); srv.close();
  });

  it('after a timeout it resyncs, so a late answer is never taken for the next command\'s', async () => {
    const path = join(tmpDir(), 'c.sock');
    let late: (() => void) | undefined;
    const srv = await peer(path, (req, reply) => {
      if (req.execute === 'echo' && req.arguments.slow) { late = () => reply({ return: 'LATE' }); return; }
      if (req.execute === 'guest-sync-delimited' && late) { late(); late = undefined; } // the agent finishes the old one first
      qga(req, reply);
    });
    const t = socketTransport(path);
    await assert.rejects(t.call('echo', { slow: true }, 200), /no answer within 200 ms/);
    assert.deepEqual(await t.call('echo', { after: 1 }, 1000), { after: 1 });
    t.close(); srv.close();
  });

  it('says "not connected" while nothing listens, and reconnects when the peer comes back', async () => {
    const path = join(tmpDir(), 'd.sock');
    const t = socketTransport(path);
    await assert.rejects(t.call('guest-ping', undefined, 500), /agent channel not connected \(ENOENT\)/);
    const srv = await peer(path, qga);
    assert.deepEqual(await t.call('guest-ping', undefined, 1000), {});
    t.close(); srv.close();
  });
});
