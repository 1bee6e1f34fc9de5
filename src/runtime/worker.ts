// An inference worker thread: its loop only. Drain the request ring into each model's
// batcher (batcher.ts), run what the batchers say is due (gather features from the shared
// store in one native call per batch, then the model's runner, runners/), and write one
// response record per request (records.ts).
//
// It sleeps in Atomics.wait on the request ring, with a timeout equal to the nearest batch
// window's end. Control messages (load, unload, faults for tests) arrive on a MessagePort;
// the main thread follows each with a CONTROL record on the ring, so they are read in order
// with the requests (receiveMessageOnPort) and wake the worker like any record.
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';

import { Gather } from '../native/binding.js';
import { type Batch, Batcher } from './batcher.js';
import {
  BUSY_SINCE, COUNTER, nowMs, OP, readPredictBody, readRequestHeader, REQ, type RequestHeader, requestOp, requestSlot, responseSize, STATUS, type Status,
  writeResponseHeader, writeResponseValues,
} from './records.js';
import { Ring } from './ring.js';
import { FaultRunner } from './runners/fault.js';
import { createRunner, type Runner } from './runners/runner.js';
import type { ControlMessage, LoadMessage, WorkerData, WorkerReply } from './worker-protocol.js';

const data = workerData as WorkerData;
const requests = new Ring(data.requestRing);
const responses = new Ring(data.responseRing);
const counters = new Float64Array(data.counters);
const control = data.controlPort as MessagePort;

/** A request taken out of the ring; lives until it is answered. */
interface Pending extends RequestHeader {
  /** a copy of the record body (fields, id lengths and bytes, or input rows) */
  body: Uint8Array;
}

interface Slot {
  slot: number;
  name: string;
  inDim: number;
  outDim: number;
  nKeys: number;
  nFields: number;
  runner: Runner;
  gather?: Gather;
  batcher: Batcher<Pending>;
  // batch buffers, grown on demand and then reused
  x: Float32Array;
  y: Float32Array;
  fields: Float32Array;
  refs: Uint32Array;
  ids: Uint8Array;
}

const ENCODER = new TextEncoder();
/** A word nobody notifies: Atomics.wait on it is a plain sleep. */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
const slots = new Map<number, Slot>();
/** responses published since the last notify */
let dirty = false;
let stopping = false;

function reply(msg: WorkerReply): void {
  parentPort!.postMessage(msg);
}

async function load(m: LoadMessage): Promise<void> {
  try {
    const gather = m.gather ? new Gather(data.storeId, m.gather) : undefined;
    const runner = await createRunner(m);
    slots.set(m.slot, {
      slot: m.slot,
      name: m.name,
      inDim: m.inDim,
      outDim: m.outDim,
      nKeys: m.gather ? m.gather.tables.length : 0,
      nFields: m.gather ? m.gather.fields : 0,
      runner,
      gather,
      batcher: new Batcher({ maxBatch: m.maxBatch, maxQueueDelayMs: m.maxQueueDelayUs / 1000, preferred: m.preferred, maxWaitMs: m.maxWaitMs }),
      x: new Float32Array(m.maxBatch * m.inDim),
      y: new Float32Array(m.maxBatch * m.outDim),
      fields: new Float32Array(0),
      refs: new Uint32Array(0),
      ids: new Uint8Array(0),
    });
    reply({ type: 'ack', token: m.token, ok: true });
  } catch (err) {
    // The code crosses as a string: the pool keeps it when it is one of src/errors.ts.
    const e = err as { code?: string; message?: string };
    reply({ type: 'ack', token: m.token, ok: false, error: { code: e.code ?? 'HP_ERR_MODEL_LOAD_FAILED', message: e.message ?? String(err) } });
  }
}

/** The slot's runner as a FaultRunner, installing one around it the first time. */
function faulty(s: Slot): FaultRunner {
  if (!(s.runner instanceof FaultRunner)) s.runner = new FaultRunner(s.runner);
  return s.runner as FaultRunner;
}

async function handleControl(): Promise<void> {
  const got = receiveMessageOnPort(control);
  if (!got) return;
  const msg = got.message as ControlMessage;
  switch (msg.type) {
    case 'load':
      await load(msg);
      break;
    case 'unload': {
      const s = slots.get(msg.slot);
      slots.delete(msg.slot);
      if (s) {
        const left: Pending[] = [];
        s.batcher.clear(left);
        for (const p of left) respondStatus(p, STATUS.NOT_READY, 0, 0, 0);
        await s.runner.release();
      }
      reply({ type: 'ack', token: msg.token, ok: true }); // after this, no counter of the slot moves
      break;
    }
    case 'fault':
      // crash: the next batch of any loaded model ends the thread.
      if (msg.kind === 'crash') for (const s of slots.values()) faulty(s).crashNext = true;
      else {
        const s = slots.get(msg.slot ?? -1);
        if (s && msg.kind === 'stall') {
          faulty(s).stallMs = msg.ms ?? 0;
          faulty(s).stallUntil = msg.until ?? 0;
        }
        if (s && msg.kind === 'device') s.runner.injectDeviceFault?.();
        if (s && msg.kind === 'fail') {
          faulty(s).failNext = msg.count ?? 1;
          faulty(s).failUntil = msg.until ?? 0;
        }
      }
      break;
    case 'stop':
      stopping = true;
      break;
  }
}

/** Copies the waiting records out of the ring into their models' batchers, and runs control messages. */
async function drain(): Promise<void> {
  const v = requests.view;
  for (;;) {
    const off = requests.peek();
    if (off < 0) return;
    const op = requestOp(v, off);
    if (op === OP.CONTROL) {
      requests.release();
      await handleControl();
      continue;
    }
    // Backpressure lives in the ring: a model with QUEUED_BATCHES batches waiting here
    // leaves the rest of the ring unread (in order, so later requests wait too). Its next
    // batch is due at once (queuedRows >= max_batch), so the loop runs it, then drains on.
    const s = slots.get(requestSlot(v, off));
    if (s && !s.batcher.accepting) return;
    const p: Pending = { op: 0, slot: 0, id: 0, deadline: 0, enqueued: 0, rows: 0, body: requests.bytes.slice(off + REQ.BODY, off + requests.peekedLength) };
    readRequestHeader(v, off, p);
    requests.release();
    if (!s) respondStatus(p, STATUS.NOT_READY, 0, 0, 0);
    else if (op === OP.PREDICT && !s.gather) respondStatus(p, STATUS.ERROR, 0, 0, 0, ENCODER.encode(`model '${s.name}' takes tensors only (no inputs: in the config)`));
    else if (responseSize(p.rows * s.outDim) > responses.maxPayload)
      respondStatus(p, STATUS.ERROR, 0, 0, 0, ENCODER.encode(`the answer (${p.rows} x ${s.outDim} values) is larger than a response ring`));
    else s.batcher.enqueue(p);
  }
}

function grow(s: Slot, rows: number): void {
  if (s.x.length < rows * s.inDim) s.x = new Float32Array(rows * s.inDim);
  if (s.y.length < rows * s.outDim) s.y = new Float32Array(rows * s.outDim);
}

async function execute(s: Slot, b: Batch<Pending>): Promise<void> {
  const start = nowMs();
  const batch = b.items;
  const rows = b.rows;
  counters[BUSY_SINCE] = start;
  try {
    grow(s, rows);
    // Predict rows first (one gather call), then ready-made input rows.
    let predictRows = 0;
    for (const p of batch) if (p.op === OP.PREDICT) predictRows++;
    if (predictRows > 0) gatherRows(s, batch, predictRows, start);
    let row = predictRows;
    for (const p of batch) {
      if (p.op !== OP.INFER) continue;
      s.x.set(new Float32Array(p.body.buffer, p.body.byteOffset, p.rows * s.inDim), row * s.inDim);
      row += p.rows;
    }
    const out = s.runner.run(s.x, rows, s.y);
    const y = out instanceof Promise ? await out : out;
    if (s.runner.takeDeviceLoss) {
      const why = s.runner.takeDeviceLoss();
      if (why !== null) reply({ type: 'device-lost', slot: s.slot, why });
    }
    const computeUs = (nowMs() - start) * 1000;
    counters[s.slot * COUNTER.PER_SLOT + COUNTER.EXECUTIONS]++;
    counters[s.slot * COUNTER.PER_SLOT + COUNTER.INFERENCES] += rows;
    row = 0;
    // Same order as the matrix: predict rows, then input rows.
    for (const p of batch) if (p.op === OP.PREDICT) respondRows(s, p, y, row++, rows, start, computeUs);
    for (const p of batch) {
      if (p.op !== OP.INFER) continue;
      respondRows(s, p, y, row, rows, start, computeUs);
      row += p.rows;
    }
  } catch (err) {
    const msg = ENCODER.encode(String((err as Error)?.message ?? err).slice(0, 500));
    for (const p of batch) respondStatus(p, STATUS.ERROR, rows, start - p.enqueued, (nowMs() - start) * 1000, msg);
  }
  counters[BUSY_SINCE] = 0;
  // Wake the main thread now: the next batch may take a while.
  dirty = false;
  responses.notify();
}

/** Decodes the predict requests' bodies into the arenas and gathers their rows into x. */
function gatherRows(s: Slot, batch: Pending[], n: number, now: number): void {
  if (s.fields.length < n * s.nFields) s.fields = new Float32Array(n * s.nFields * 2);
  if (s.refs.length < n * s.nKeys * 2) s.refs = new Uint32Array(n * s.nKeys * 4);
  let idBytes = 0;
  for (const p of batch) if (p.op === OP.PREDICT) idBytes += p.body.length;
  if (s.ids.length < idBytes) s.ids = new Uint8Array(idBytes * 2);
  let r = 0;
  let at = 0;
  for (const p of batch) if (p.op === OP.PREDICT) at = readPredictBody(p.body, s.nFields, s.nKeys, r++, s.fields, s.ids, at, s.refs);
  s.gather!.run(s.ids, s.refs, s.fields, n, now, s.x);
}

/**
 * Publishes how far the slot's requests have started (COUNTER.STARTED): the newest enqueue
 * time among those leaving the batcher now, run or expired. next() takes from the front,
 * so the value only grows.
 */
function markStarted(s: Slot, b: Batch<Pending>): void {
  let t = 0;
  if (b.items.length > 0) t = b.items[b.items.length - 1].enqueued;
  if (b.expired.length > 0) t = Math.max(t, b.expired[b.expired.length - 1].enqueued);
  if (t > 0) counters[s.slot * COUNTER.PER_SLOT + COUNTER.STARTED] = t;
}

function reserveResponse(size: number): number {
  // The main thread drains responses continuously; a full response ring is a brief stall.
  for (;;) {
    const off = responses.reserve(size);
    if (off >= 0) return off;
    responses.notify();
    Atomics.wait(SLEEPER, 0, 0, 0.2);
  }
}

function respondRows(s: Slot, p: Pending, y: Float32Array, row: number, batchRows: number, start: number, computeUs: number): void {
  const n = p.rows * s.outDim;
  const off = reserveResponse(responseSize(n));
  writeResponseHeader(responses.view, off, STATUS.OK, batchRows, p.id, (start - p.enqueued) * 1000, computeUs, p.rows, s.outDim);
  writeResponseValues(responses, off, y, row * s.outDim, n);
  responses.publish();
  dirty = true;
}

function respondStatus(p: Pending, status: Status, batchRows: number, queueMs: number, computeUs: number, message?: Uint8Array): void {
  const off = reserveResponse(responseSize(0) + (message?.length ?? 0));
  writeResponseHeader(responses.view, off, status, batchRows, p.id, queueMs * 1000, computeUs, 0, 0);
  if (message) responses.bytes.set(message, off + responseSize(0));
  responses.publish();
  dirty = true;
}

async function main(): Promise<void> {
  reply({ type: 'ready' });
  while (!stopping) {
    await drain();
    const now = nowMs();
    let ran = false;
    let nextDue = Infinity;
    let budget = Infinity; // requests that could fill a batch before its window closes
    for (const s of slots.values()) {
      const b = s.batcher.next(now);
      markStarted(s, b);
      // Past the deadline, or waited past the queue-delay budget before it could start: shed.
      for (const p of b.expired) respondStatus(p, p.deadline < now ? STATUS.DEADLINE : STATUS.OVERLOADED, 0, now - p.enqueued, 0);
      if (b.items.length > 0) {
        await execute(s, b);
        ran = true;
      } else if (b.waitMs < Infinity) {
        nextDue = Math.min(nextDue, now + b.waitMs);
        budget = Math.min(budget, s.batcher.rowsToFill);
      }
    }
    if (dirty) {
      dirty = false;
      responses.notify();
    }
    if (ran || stopping) continue;
    // Sleep until a request comes or the oldest batch window closes. Atomics.wait honours
    // sub-millisecond timeouts but wakes about 90 us late (timer slack), so a window runs
    // that much longer than max_queue_delay_us. Polling the ring instead kept windows exact
    // but spent a third of a core: on a 2-core box the main thread and the load generator
    // need it more (A/B, 6 alternating rounds of wrk: 50.2k -> 53.9k predicts/s).
    // While a window is open, a request that cannot fill a batch need not wake the worker:
    // the ring lets that many arrivals pass (each request is at least one row, so a batch
    // of multi-row requests may wait for its window instead).
    const left = nextDue - nowMs();
    if (left <= 0) continue;
    requests.wait(left, Number.isFinite(budget) ? Math.max(1, budget) : 0);
  }
  for (const s of slots.values()) await s.runner.release();
  control.close();
}

void main();
