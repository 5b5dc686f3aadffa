#!/usr/bin/env node
// Baseline for bench:pmem-save: read the whole region and upload it as ONE plain PUT — no
// chunking, no checksums, no zero skipping, no manifest. Runs in the guest like the agent:
//   node plain-upload.js --dev /dev/pmem0 --endpoint URL --bucket B --key K
// Credentials from FTH_S3_ACCESS_KEY_ID / FTH_S3_SECRET_ACCESS_KEY. Prints one JSON line with
// the bytes and the ms of read and PUT, measured here (guest clock), without Node's start-up.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { makeS3Store } from './store.js';

const { values: o } = parseArgs({ options: { dev: { type: 'string' }, endpoint: { type: 'string' }, bucket: { type: 'string' }, key: { type: 'string' } } });
if (!o.dev || !o.endpoint || !o.bucket || !o.key) {
  console.error('usage: plain-upload.js --dev D --endpoint URL --bucket B --key K');
  process.exit(2);
}
const accessKeyId = process.env.FTH_S3_ACCESS_KEY_ID;
const secretAccessKey = process.env.FTH_S3_SECRET_ACCESS_KEY;
if (!accessKeyId || !secretAccessKey) {
  console.error('set FTH_S3_ACCESS_KEY_ID and FTH_S3_SECRET_ACCESS_KEY');
  process.exit(2);
}
const store = makeS3Store({ endpoint: o.endpoint, region: process.env.FTH_S3_REGION ?? 'us-east-1', accessKeyId, secretAccessKey, bucket: o.bucket });
const t0 = performance.now();
const body = await readFile(o.dev);
const t1 = performance.now();
await store.put(o.key, body);
const t2 = performance.now();
console.log(JSON.stringify({ bytes: body.length, readMs: t1 - t0, putMs: t2 - t1, totalMs: t2 - t0 }));
