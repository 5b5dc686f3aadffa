#!/usr/bin/env node
// Entry point for `npx ftharness`: runs the compiled CLI (npm run build / harness/setup.sh).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/harness/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('ftharness is not built yet: run `npm run setup` (or `npm run build`) first');
  process.exit(2);
}
await import(cli.href);
