#!/usr/bin/env node
// Baseline for bench:pmem-save: read the whole region and upload it as ONE plain PUT — no
// chunking, no checksums, no zero skipping, no manifest. Runs in the guest like the agent:
//   node plain-upload.js --dev /dev/pmem0 --endpoint URL --bucket B --key K
// Credentials as the agent takes them (credentials.ts). Prints one JSON line with
// the bytes and the ms of read and PUT, measured here (guest clock), without Node's start-up.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { makeS3Store } from './store.js';
import { credentialsFromEnv } from './credentials.js';

const { values: o } = parseArgs({ options: { dev: { type: 'string' }, endpoint: { type: 'string' }, bucket: { type: 'string' }, key: { type: 'string' } } });
if (!o.dev || !o.endpoint || !o.bucket || !o.key) {
  console.error('usage: plain-upload.js --dev D --endpoint URL --bucket B --key K');
  process.exit(2);
}
const c = credentialsFromEnv();
if (typeof c === 'string') {
  console.error(c);
  process.exit(2);
}
const store = makeS3Store({ endpoint: o.endpoint, region: c.region, accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, bucket: o.bucket });
const t0 = performance.now();
const body = await readFile(o.dev);
const t1 = performance.now();
await store.put(o.key, body);
const t2 = performance.now();
console.log(JSON.stringify({ bytes: body.length, readMs: t1 - t0, putMs: t2 - t1, totalMs: t2 - t0 }));
