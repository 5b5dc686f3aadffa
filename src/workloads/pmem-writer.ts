#!/usr/bin/env node
// A PMEM region's application, for scenarios that save while something writes: one process that
// keeps writing seeded random 4 KiB blocks at random offsets of a device, each write O_DSYNC (on
// the device when write() returns, so a power cut loses nothing it reported written). It writes
// its pid to --pidfile first, so a quiescer can SIGSTOP it: being one process with one write in
// flight at most, it is stopped between two writes.
//   node pmem-writer.js --dev /dev/nvdimm0 --pidfile /run/writer.pid --span 16777216 --seed 7
// Prints one line per 100 writes (count, last offset) on stdout.
import { constants, openSync, writeFileSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mulberry32 } from '../shared/prng.js';

const { values: o } = parseArgs({ options: { dev: { type: 'string' }, pidfile: { type: 'string' }, span: { type: 'string', default: String(16 * 2 ** 20) }, seed: { type: 'string', default: '1' } } });
const span = Number(o.span);
if (!o.dev || !o.pidfile || !Number.isSafeInteger(span) || span < 4096) {
  console.error('usage: pmem-writer.js --dev DEV --pidfile FILE [--span BYTES (≥ 4096)] [--seed N]');
  process.exit(2);
}
const BLOCK = 4096;
const rnd = mulberry32(Number(o.seed) >>> 0);
const fd = openSync(o.dev, constants.O_WRONLY | constants.O_DSYNC);
writeFileSync(o.pidfile, `${process.pid}\n`);
const buf = Buffer.alloc(BLOCK);
let n = 0;
// A synchronous loop: no signal handler could run, so SIGTERM/SIGKILL end it the default way.
for (;;) {
  for (let i = 0; i < BLOCK; i += 4) buf.writeUInt32LE(rnd(), i);
  const off = (rnd() % Math.floor(span / BLOCK)) * BLOCK;
  writeSync(fd, buf, 0, BLOCK, off);
  if (++n % 100 === 0) process.stdout.write(`${n} writes, last at ${off}\n`);
}
