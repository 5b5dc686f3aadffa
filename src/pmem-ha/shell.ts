// One long-lived /bin/sh that runs short commands for the agent. Under TCG a child_process spawn
// from Node costs 80-125 ms (the fork of a large process); the shell forks itself for each
// command, which is several times cheaper. For a few commands on a save's critical path
// (era.ts), not for general use: commands run one at a time, in order.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

export class CommandShell {
  private readonly sh: ChildProcessWithoutNullStreams;
  private out = '';
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private waiting?: { marker: string; resolve: (r: { code: number; out: string }) => void; reject: (e: Error) => void };
  private dead?: Error;

  /** `errDir`: where each command's stderr goes (a tmpfs directory the caller owns). */
  constructor(private readonly errDir: string, env: NodeJS.ProcessEnv) {
    this.sh = spawn('/bin/sh', [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.sh.stdout.setEncoding('utf8');
    this.sh.stdout.on('data', (d: string) => {
      this.out += d;
      const w = this.waiting;
      if (!w) return;
      const at = this.out.indexOf(w.marker);
      const end = at < 0 ? -1 : this.out.indexOf('\n', at + w.marker.length);
      if (end < 0) return;
      const code = Number(this.out.slice(at + w.marker.length, end).trim());
      const out = this.out.slice(0, at);
      this.out = this.out.slice(end + 1);
      this.waiting = undefined;
      w.resolve({ code, out });
    });
    const fail = (e: Error) => {
      this.dead ??= e;
      this.waiting?.reject(e);
      this.waiting = undefined;
    };
    this.sh.on('error', fail);
    this.sh.on('exit', (code, sig) => fail(new Error(`helper shell exited (${sig ?? code})`)));
    this.sh.stdin.on('error', () => undefined); // a write after its exit: reported through `dead`
  }

  /** Run argv; resolves with its stdout, rejects with the first line of its stderr. */
  run(argv: string[]): Promise<string> {
    const next = this.queue.then(() => this.runNow(argv));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runNow(argv: string[]): Promise<string> {
    if (this.dead) throw this.dead;
    const n = ++this.seq;
    const err = join(this.errDir, `err.${n % 4}`);
    const marker = `\n@@fth-done ${n} `;
    const done = new Promise<{ code: number; out: string }>((resolve, reject) => (this.waiting = { marker, resolve, reject }));
    this.sh.stdin.write(`${argv.map(quote).join(' ')} </dev/null 2>${quote(err)}; printf '\\n@@fth-done ${n} %d\\n' $?\n`);
    const { code, out } = await done;
    if (code !== 0) {
      const why = (await readFile(err, 'utf8').catch(() => '')).trim().split('\n')[0];
      throw new Error(`${argv.join(' ')}: ${why || `exit ${code}`}`);
    }
    // the marker starts with a newline of its own: the command's output keeps its last one
    return out;
  }

  close(): void {
    this.sh.stdin.end();
    this.sh.kill();
  }
}
