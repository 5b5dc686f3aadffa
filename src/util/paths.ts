import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The ftharness checkout (the folder with our package.json), from source or from dist/. */
export function projectRoot(): string {
  if (root) return root;
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(d, 'package.json');
    if (existsSync(pj) && JSON.parse(readFileSync(pj, 'utf8')).name === 'ftharness') return (root = d);
    const up = dirname(d);
    if (up === d) throw new Error('cannot find the ftharness project root above ' + fileURLToPath(import.meta.url));
    d = up;
  }
}
