// Shared fixtures of the pheap tests: real temp files, a small list type, both access paths.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Heap, type Ref } from '../../src/pheap/heap.js';
import { nativeStatus, type AccessKind } from '../../src/pheap/mmap.js';
import type { TypeDef } from '../../src/pheap/registry.js';

export const CLI = fileURLToPath(new URL('../../src/pheap/cli.js', import.meta.url));

export const LIST_TYPES: TypeDef[] = [
  { name: 'node', fields: [{ name: 'next', kind: 'ptr', target: 'node' }, { name: 'v', kind: 'u64' }] },
  { name: 'pair', fields: [{ name: 'a', kind: 'ptr', target: 'node' }, { name: 'b', kind: 'ptr' }, { name: 'tag', kind: 'u32' }, { name: 'w', kind: 'f64' }] },
];

/** Paths to test: file always, mmap when the addon is built. */
export const ACCESS_PATHS: AccessKind[] = nativeStatus().available ? ['file', 'mmap'] : ['file'];

export interface TmpDir {
  dir: string;
  file: (name: string) => string;
  /** a copy of `src` named `name` in the dir (a fresh image per test from a golden one) */
  copy: (src: string, name: string) => string;
  cleanup: () => void;
}

export function tmpDir(): TmpDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pheap-test-'));
  const file = (n: string) => path.join(dir, n);
  return {
    dir,
    file,
    copy: (src, name) => {
      fs.copyFileSync(src, file(name));
      return file(name);
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Overwrites bytes of an image in place (a raw, heap-unaware edit). */
export function patch(file: string, at: number, bytes: Uint8Array): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** Runs the guest CLI as a child process; its one JSON object and exit code. */
export function cli(args: string[], env: Record<string, string> = {}): { code: number | null; out: Record<string, any> } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, out: JSON.parse(r.stdout) as Record<string, any> };
}

/** The error `fn` throws, which must be an instance of `cls`. */
export function thrown<E extends Error>(cls: new (...a: any[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw e;
  }
  throw new Error(`expected ${cls.name}`);
}

/** Builds a list of n nodes (v = 0..n-1, head is the last allocated) under root slot 0. */
export function buildList(heap: Heap, n: number): Ref[] {
  const refs: Ref[] = [];
  let prev = 0;
  heap.durability = 'deferred';
  for (let i = 0; i < n; i++) {
    const p = prev;
    const r = heap.alloc('node', (ref) => {
      heap.setU64(ref, 'v', BigInt(i));
      heap.setPtr(ref, 'next', p);
    });
    refs.push(r);
    prev = r;
  }
  heap.setRoot(0, prev);
  heap.flush();
  heap.durability = 'immediate';
  return refs;
}

/** Values along the list from root slot 0, following pointers through the current base. */
export function readList(heap: Heap): number[] {
  const out: number[] = [];
  for (let r = heap.getRoot(0); r !== 0; r = heap.getPtr(r, 'next')) {
    out.push(Number(heap.getU64(r, 'v')));
    if (out.length > 1e6) throw new Error('cycle');
  }
  return out;
}

export const descending = (n: number): number[] => Array.from({ length: n }, (_, i) => n - 1 - i);
