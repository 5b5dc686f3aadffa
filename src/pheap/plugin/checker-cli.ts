#!/usr/bin/env node
// Host CLI of the independent pheap image checker (checker.ts):
//   node dist/src/pheap/plugin/checker-cli.js --image FILE [--base 0x..] [--min-count TYPE=N]... [--min-root FIELD=N]...
// Prints one JSON object (the report; its last key, message, says what is wrong). Exit 0: the
// image is a consistent heap (and meets the requirements); 1: a violation; 2: bad usage or the
// image cannot be read (no verdict about the heap).
import { readFileSync, realpathSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkPheapImage, type PheapCheckOptions } from './checker.js';

class UsageError extends Error {}

function pairs<T>(list: string[] | undefined, opt: string, value: (s: string) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const item of list ?? []) {
    const m = /^([^=]+)=(\d+)$/.exec(item);
    if (!m) throw new UsageError(`--${opt} must be NAME=N, got ${item}`);
    out[m[1]!] = value(m[2]!);
  }
  return out;
}

export function main(argv: string[]): number {
  let out: Record<string, unknown>;
  let code: number;
  try {
    let values;
    try {
      ({ values } = parseArgs({
        args: argv,
        strict: true,
        options: {
          image: { type: 'string' },
          base: { type: 'string' },
          'min-count': { type: 'string', multiple: true },
          'min-root': { type: 'string', multiple: true },
          'max-violations': { type: 'string' },
        },
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (!values.image) throw new UsageError('--image FILE is required');
    const opts: PheapCheckOptions = {
      minCount: pairs(values['min-count'], 'min-count', Number),
      minRoot: pairs(values['min-root'], 'min-root', BigInt),
    };
    if (values.base !== undefined) {
      if (!/^(0x[0-9a-f]+|\d+)$/i.test(values.base)) throw new UsageError(`--base must be an integer like 0x7f0000000000, got ${values.base}`);
      opts.base = BigInt(values.base);
    }
    if (values['max-violations'] !== undefined) {
      opts.maxViolations = Number(values['max-violations']);
      if (!Number.isInteger(opts.maxViolations) || opts.maxViolations < 0) throw new UsageError('--max-violations must be a non-negative integer');
    }
    let img: Buffer;
    try {
      img = readFileSync(values.image);
    } catch (e) {
      throw new UsageError(`cannot read ${values.image}: ${(e as Error).message}`);
    }
    const rep = checkPheapImage(img, opts);
    out = { image: values.image, ...rep };
    code = rep.ok ? 0 : 1;
  } catch (e) {
    // Bad usage, an unreadable image, or a bug of this checker: no verdict about the heap.
    const err = e as Error;
    out = { checker: 'pheap', ok: false, error: e instanceof UsageError ? 'usage' : err.name, message: err.message };
    code = 2;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  return code;
}

const invokedDirectly = process.argv[1] && import.meta.url === new URL(`file://${realpathSync(process.argv[1])}`).href;
if (invokedDirectly) process.exitCode = main(process.argv.slice(2));
