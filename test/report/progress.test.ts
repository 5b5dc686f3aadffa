import assert from 'node:assert/strict';
import { Progress } from '../../src/report/progress.js';
import { registerSecret } from '../../src/shared/redact.js';

function sink(isTTY: boolean, columns?: number) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns, write: (s: string) => chunks.push(s) } };
}

describe('progress reporter', () => {
  let now = 0;
  const clock = () => now;

  it('prints plain timestamped lines when not on a TTY', () => {
    const { chunks, stream } = sink(false);
    now = Date.parse('2025-11-27T10:00:00Z');
    const p = new Progress({ stream, now: clock });
    p.start('pmem-ha/power-cut', 2, 5);
    now += 1500;
    p.step('boot');
    now += 63_000;
    p.done('fail', 'acked write lost');
    assert.deepEqual(chunks, [
      '2025-11-27T10:00:00.000Z pmem-ha/power-cut  run 2/5 start\n',
      '2025-11-27T10:00:01.500Z pmem-ha/power-cut  run 2/5 step boot\n',
      '2025-11-27T10:01:04.500Z pmem-ha/power-cut  run 2/5 done fail in 01:04 — acked write lost\n',
    ]);
    assert.ok(chunks.every((c) => !c.includes('\r')), 'no carriage returns in logs');
  });

  it('rewrites one line on a TTY and ends it with the verdict', () => {
    const { chunks, stream } = sink(true, 200);
    now = 0;
    const p = new Progress({ stream, now: clock, tickMs: 0 });
    p.start('numa', 1, 3);
    now = 12_000;
    p.step('inject power-cut');
    now = 20_000;
    p.done('pass');
    assert.equal(chunks.length, 3);
    assert.ok(chunks.slice(0, 2).every((c) => c.startsWith('\r\x1b[2K') && !c.endsWith('\n')), 'in-place repaint');
    assert.match(chunks[1], /▶ 00:12 {2}numa {2}run 1\/3 {2}inject power-cut/);
    assert.equal(chunks[2], '\r\x1b[2K✓ numa  run 1/3  pass in 00:20\n');
  });

  it('ticks the elapsed time on a TTY and stops ticking when done', async () => {
    const { chunks, stream } = sink(true, 80);
    const p = new Progress({ stream, tickMs: 20 });
    p.start('slow boot', 1, 1);
    await new Promise((r) => setTimeout(r, 110));
    const during = chunks.length;
    assert.ok(during >= 3, `repainted ${during} times`);
    p.done('error', 'agent timeout');
    const after = chunks.length;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(chunks.length, after, 'timer cleared');
    assert.match(chunks[after - 1], /⚠ slow boot {2}run 1\/1 {2}error in 00:00 — agent timeout\n$/);
  });

  it('ends an unknown run with its own icon and word, never as a pass', () => {
    const { chunks, stream } = sink(true, 200);
    now = 0;
    const p = new Progress({ stream, now: clock, tickMs: 0 });
    p.start('pmem-ha/cut-mid-save', 2, 2);
    now = 9_000;
    p.done('unknown', 'torn-save-recovered: the fault did not bite');
    assert.equal(chunks[chunks.length - 1], '\r\x1b[2K? pmem-ha/cut-mid-save  run 2/2  unknown in 00:09 — torn-save-recovered: the fault did not bite\n');
    const { chunks: plain, stream: s2 } = sink(false);
    now = Date.parse('2025-11-27T10:00:00Z');
    const q = new Progress({ stream: s2, now: clock });
    q.start('s', 1, 1);
    q.done('unknown', 'could not decide');
    assert.equal(plain[1], '2025-11-27T10:00:00.000Z s  run 1/1 done unknown in 00:00 — could not decide\n');
    assert.ok(!plain.join('').includes('pass'));
  });

  it('cuts long lines to the terminal width and redacts secrets', () => {
    registerSecret('hunter2-s3-secret');
    const { chunks, stream } = sink(true, 40);
    const p = new Progress({ stream, now: () => 0, tickMs: 0 });
    p.start('scenario', 1, 1);
    p.step('upload with key hunter2-s3-secret to a very long bucket name indeed');
    const line = chunks[1].replace('\r\x1b[2K', '');
    assert.ok([...line].length <= 39, line);
    assert.ok(line.startsWith('▶ 00:00'), 'elapsed survives the cut');
    const { chunks: plain, stream: s2 } = sink(false);
    const q = new Progress({ stream: s2, now: () => 0 });
    q.start('s', 1, 1);
    q.step('key hunter2-s3-secret');
    assert.ok(!plain.join('').includes('hunter2-s3-secret'));
    assert.match(plain[1], /step key \*\*\*/);
  });
});
