// One end of a ring for test/unit/ring.test.ts, run in a worker thread (started through
// test/support/ts-worker.mjs). role 'produce' writes `count` records whose bytes are a
// function of their sequence number (see ringRecord below) and notify()s the consumer;
// role 'consume' reads them with wait() and checks order, length and checksum of each.
import { parentPort, workerData } from 'node:worker_threads';

import { Ring } from '../../src/runtime/ring.js';

export interface RingPeerData {
  role: 'produce' | 'consume';
  sab: SharedArrayBuffer;
  count: number;
  /** producer: notify() after every n-th publish (and when the ring is full, and at the end) */
  notifyEvery: number;
}

export interface ConsumeResult {
  received: number;
  errors: string[];
  maxLen: number;
  wraps: number;
  /** offset of the last record read: a smaller next one means the ring wrapped */
  lastOff: number;
}

export const newConsumeResult = (): ConsumeResult => ({ received: 0, errors: [], maxLen: 0, wraps: 0, lastOff: -1 });

/** Reads every record waiting in the ring, checking each against its sequence number. */
export function consumeWaiting(ring: Ring, r: ConsumeResult): void {
  for (let off = ring.peek(); off >= 0; off = ring.peek()) {
    const len = ring.peekedLength;
    if (off < r.lastOff) r.wraps++;
    r.lastOff = off;
    const bad = checkRingRecord(ring.bytes, ring.view, off, len, r.received, ring.maxPayload);
    if (bad && r.errors.length < 5) r.errors.push(bad);
    r.maxLen = Math.max(r.maxLen, len);
    r.received++;
    ring.release();
  }
}

/** xorshift32 step; never returns 0 for a non-zero input. */
function next(s: number): number {
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return s >>> 0;
}

/** The payload length of record `seq`: mostly short, some up to 2 KiB, every 101st at the maximum. */
export function ringRecordLength(seq: number, maxPayload: number): number {
  if (seq % 101 === 100) return maxPayload;
  const h = next((seq * 2654435761 + 1) >>> 0);
  return h % 7 === 0 ? 8 + (h % Math.min(maxPayload - 7, 2048)) : 8 + (h % 120);
}

/**
 * Writes record `seq` of length len at bytes[off..]: u32 seq, u32 FNV-1a of the rest, then
 * pseudo-random bytes seeded by seq.
 */
export function writeRingRecord(bytes: Uint8Array, view: DataView, off: number, len: number, seq: number): void {
  let s = (seq ^ 0x9e3779b9) >>> 0 || 1;
  let h = 0x811c9dc5;
  for (let i = 8; i < len; i++) {
    s = next(s);
    const b = s & 0xff;
    bytes[off + i] = b;
    h = Math.imul(h ^ b, 0x01000193);
  }
  view.setUint32(off, seq, true);
  view.setUint32(off + 4, h >>> 0, true);
}

/** Checks record bytes[off..off+len] against seq; returns '' or what is wrong. */
export function checkRingRecord(bytes: Uint8Array, view: DataView, off: number, len: number, seq: number, maxPayload: number): string {
  const want = ringRecordLength(seq, maxPayload);
  if (len !== want) return `record ${seq}: length ${len}, expected ${want}`;
  const got = view.getUint32(off, true);
  if (got !== seq) return `record ${seq}: sequence number ${got}`;
  let h = 0x811c9dc5;
  for (let i = 8; i < len; i++) h = Math.imul(h ^ bytes[off + i], 0x01000193);
  if (h >>> 0 !== view.getUint32(off + 4, true)) return `record ${seq}: checksum mismatch`;
  return '';
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function produce(d: RingPeerData): void {
  const ring = new Ring(d.sab);
  for (let seq = 0; seq < d.count; seq++) {
    const len = ringRecordLength(seq, ring.maxPayload);
    let off = ring.reserve(len);
    for (let spins = 0; off < 0; spins++) {
      // Full: make sure the consumer is awake, then retry (sleep a little now and then).
      ring.notify();
      if (spins % 64 === 63) Atomics.wait(sleeper, 0, 0, 0.1);
      off = ring.reserve(len);
    }
    writeRingRecord(ring.bytes, ring.view, off, len, seq);
    ring.publish();
    if (seq % d.notifyEvery === 0) ring.notify();
  }
  ring.notify();
  parentPort!.postMessage({ produced: d.count });
}

function consume(d: RingPeerData): void {
  const ring = new Ring(d.sab);
  const r = newConsumeResult();
  while (r.received < d.count) {
    consumeWaiting(ring, r);
    if (r.received < d.count) ring.wait(Infinity); // a lost wake-up hangs here (the test times out)
  }
  // Nothing beyond the last record.
  if (ring.peek() >= 0) r.errors.push('a record after the last one');
  parentPort!.postMessage(r);
}

// The test imports the helpers above too: only run a role inside the worker.
const data = workerData as RingPeerData | null;
if (data?.role === 'produce') produce(data);
else if (data?.role === 'consume') consume(data);
