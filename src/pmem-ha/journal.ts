// The standby's restore journal, kept in its own persistent memory (default /dev/pmem1, a small
// metadata NVDIMM; a file in tests) so that a power cut during a restore is seen at next boot.
//
// Layout: two 4 KiB slots at offsets 0 and 4096. A record goes to slot (seq % 2), so a write torn
// by a power cut can only damage the newer slot; the older one still says where we were.
// Slot bytes: "FTHAJRN1" | u32le payload length | sha256(payload) (32 bytes) | payload (JSON) | zero padding.
// Each write is the whole slot through an O_DSYNC descriptor, followed by fdatasync.

import { open, type FileHandle } from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import { createHash } from 'node:crypto';
import { regionSizeOf } from './chunks.js';

export const SLOT_SIZE = 4096;
const MAGIC = Buffer.from('FTHAJRN1', 'ascii');
const HEADER = MAGIC.length + 4 + 32;

export type JournalState = 'idle' | 'restoring' | 'done';

export interface JournalRecord {
  seq: number;
  state: JournalState;
  /** Target of the current (restoring) or last (done) restore. */
  generation: string | null;
  manifestSha256: string | null;
  /** Generation the data region fully holds; null while restoring (the region is mixed then). */
  heldGeneration: string | null;
  updatedAt: number;
}

export type JournalRead =
  | { kind: 'blank'; problems: string[] }
  | { kind: 'ok'; record: JournalRecord; problems: string[] }
  | { kind: 'corrupt'; problems: string[] };

type SlotRead = { kind: 'blank' } | { kind: 'ok'; record: JournalRecord } | { kind: 'corrupt'; why: string };

function decodeSlot(buf: Buffer): SlotRead {
  if (buf.every((b) => b === 0)) return { kind: 'blank' };
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) return { kind: 'corrupt', why: 'bad magic' };
  const len = buf.readUInt32LE(MAGIC.length);
  if (len === 0 || len > SLOT_SIZE - HEADER) return { kind: 'corrupt', why: `bad length ${len}` };
  const payload = buf.subarray(HEADER, HEADER + len);
  const sum = buf.subarray(MAGIC.length + 4, HEADER);
  if (!createHash('sha256').update(payload).digest().equals(sum)) return { kind: 'corrupt', why: 'checksum mismatch' };
  try {
    const r = JSON.parse(payload.toString('utf8')) as JournalRecord;
    if (!Number.isSafeInteger(r.seq) || !['idle', 'restoring', 'done'].includes(r.state)) return { kind: 'corrupt', why: 'invalid fields' };
    return { kind: 'ok', record: r };
  } catch {
    return { kind: 'corrupt', why: 'payload is not JSON' };
  }
}

export function encodeSlot(record: JournalRecord): Buffer {
  const payload = Buffer.from(JSON.stringify(record), 'utf8');
  if (payload.length > SLOT_SIZE - HEADER) throw new Error('journal record too large');
  const buf = Buffer.alloc(SLOT_SIZE);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(payload.length, MAGIC.length);
  createHash('sha256').update(payload).digest().copy(buf, MAGIC.length + 4);
  payload.copy(buf, HEADER);
  return buf;
}

export class Journal {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private lastSeq: number,
  ) {}

  /** Opens the device; it must hold at least two slots. Does not read or write anything yet. */
  static async open(path: string): Promise<Journal> {
    const size = await regionSizeOf(path);
    if (size < 2 * SLOT_SIZE) throw new Error(`journal device ${path} is ${size} bytes; it needs at least ${2 * SLOT_SIZE}`);
    const fh = await open(path, fsc.O_RDWR | fsc.O_DSYNC);
    return new Journal(path, fh, 0);
  }

  /**
   * Newest valid record. 'corrupt' only when no slot is valid and at least one is damaged: a
   * single damaged slot next to a valid one is a torn last write, reported in `problems`.
   */
  async read(): Promise<JournalRead> {
    const slots: SlotRead[] = [];
    for (let i = 0; i < 2; i++) {
      const buf = Buffer.alloc(SLOT_SIZE);
      await this.fh.read(buf, 0, SLOT_SIZE, i * SLOT_SIZE);
      slots.push(decodeSlot(buf));
    }
    const problems = slots.flatMap((s, i) => (s.kind === 'corrupt' ? [`journal slot ${i}: ${s.why}`] : []));
    const valid = slots.flatMap((s) => (s.kind === 'ok' ? [s.record] : []));
    if (valid.length > 0) {
      const record = valid.reduce((a, b) => (b.seq > a.seq ? b : a));
      this.lastSeq = Math.max(this.lastSeq, ...valid.map((r) => r.seq));
      return { kind: 'ok', record, problems };
    }
    return problems.length ? { kind: 'corrupt', problems } : { kind: 'blank', problems };
  }

  /** Persist a new record (next seq, alternate slot); returns it once it is durable. */
  async write(rec: Omit<JournalRecord, 'seq' | 'updatedAt'>): Promise<JournalRecord> {
    const record: JournalRecord = { seq: this.lastSeq + 1, ...rec, updatedAt: Date.now() };
    const buf = encodeSlot(record);
    await this.fh.write(buf, 0, SLOT_SIZE, (record.seq % 2) * SLOT_SIZE);
    await this.fh.datasync();
    this.lastSeq = record.seq;
    return record;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}
