// A filesystem writer on the PMEM (issue 16): it creates, appends to and renames files in a
// directory, makes every operation durable (fsync of the file, then of the directory), and only
// then appends a record of it to a log on the harness's control share. Every record is a promise
// the filesystem must keep after a failover: the checker (src/pmem-ha/plugin/fs-checker.ts)
// replays the log and looks for each file on the standby's filesystem, read on the host.
//   node fs-writer.js --dir /mnt/pmem/data --log /run/fthctl/fs-writer.jsonl --seed N [--pidfile F] [--ops N]
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, fsyncSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** One durable operation; `sha256` is the whole file's content after it. */
export type DurableRecord =
  | { op: 'create'; seq: number; name: string; sha256: string; size: number }
  | { op: 'append'; seq: number; name: string; sha256: string; size: number }
  | { op: 'rename'; seq: number; from: string; to: string };

/** What the filesystem must hold after the records: name → sha256, and names that must be gone. */
export function expectedState(records: DurableRecord[]): { files: Map<string, string>; gone: Set<string> } {
  const files = new Map<string, string>();
  const gone = new Set<string>();
  for (const r of records) {
    if (r.op === 'rename') {
      const h = files.get(r.from);
      if (h !== undefined) files.set(r.to, h);
      files.delete(r.from);
      gone.add(r.from);
      gone.delete(r.to);
    } else {
      files.set(r.name, r.sha256);
      gone.delete(r.name);
    }
  }
  return { files, gone };
}

function arg(name: string, def?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : def;
  if (v === undefined) { process.stderr.write(`fs-writer: --${name} is required\n`); process.exit(2); }
  return v;
}

function bytesFor(seed: string, seq: number, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let off = 0, k = 0; off < len; k++) off += createHash('sha256').update(`${seed}:${seq}:${k}`).digest().copy(out, off);
  return out;
}

function fsyncPath(p: string) {
  const fd = openSync(p, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

function main() {
  const dir = arg('dir');
  const log = arg('log');
  const seed = arg('seed', '0');
  const maxOps = Number(arg('ops', '1000000'));
  const pidfile = process.argv.includes('--pidfile') ? arg('pidfile') : undefined;
  if (pidfile) writeFileSync(pidfile, `${process.pid}\n`);
  const contents = new Map<string, Buffer>();
  const names: string[] = [];
  const record = (r: DurableRecord) => appendFileSync(log, `${JSON.stringify(r)}\n`);
  for (let seq = 1; seq <= maxOps; seq++) {
    if (seq % 5 === 0 && names.length > 0) {
      const from = names[seq % names.length];
      const to = `r${seq}-${from}`;
      renameSync(join(dir, from), join(dir, to));
      fsyncPath(dir);
      contents.set(to, contents.get(from)!);
      contents.delete(from);
      names[names.indexOf(from)] = to;
      record({ op: 'rename', seq, from, to });
    } else if (seq % 3 === 0 && names.length > 0) {
      const name = names[(seq * 7) % names.length];
      const more = bytesFor(seed, seq, 512 + (seq % 8) * 512);
      const fd = openSync(join(dir, name), 'a');
      try { writeSync(fd, more); fsyncSync(fd); } finally { closeSync(fd); }
      const all = Buffer.concat([contents.get(name)!, more]);
      contents.set(name, all);
      record({ op: 'append', seq, name, sha256: createHash('sha256').update(all).digest('hex'), size: all.length });
    } else {
      // Written under a temporary name and renamed into place: the name appears with its content.
      const name = `f${seq}`;
      const data = bytesFor(seed, seq, 1024 + (seq % 16) * 1024);
      const tmp = join(dir, `.${name}.tmp`);
      const fd = openSync(tmp, 'w');
      try { writeSync(fd, data); fsyncSync(fd); } finally { closeSync(fd); }
      renameSync(tmp, join(dir, name));
      fsyncPath(dir);
      contents.set(name, data);
      names.push(name);
      record({ op: 'create', seq, name, sha256: createHash('sha256').update(data).digest('hex'), size: data.length });
    }
    if (seq % 25 === 0) process.stdout.write(`${seq} ops durable\n`);
  }
}

if (process.argv[1]?.endsWith('fs-writer.js')) main();
