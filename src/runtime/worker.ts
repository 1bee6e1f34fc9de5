// An inference worker thread. It drains its request ring into per-model queues, forms
// batches as Triton's dynamic batcher does (max batch, max queue delay, preferred sizes,
// deadlines), gathers features from the shared store in one native call per batch, runs
// the model (native kernels or onnxruntime), and writes one response record per request.
//
// It sleeps in Atomics.wait on the request ring, with a timeout equal to the nearest batch
// deadline. Control messages (load, unload, faults for tests) arrive on a MessagePort; the
// main thread follows each with a CONTROL record on the ring, so they are read in order
// with the requests (receiveMessageOnPort) and wake the worker like any record.
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';

import type * as Ort from 'onnxruntime-node';

import { Gather, layerSpecs, NativeModel } from '../native/binding.js';
import { COUNTER, nowMs, OP, REQ, RES, STATUS } from './records.js';
import { Ring } from './ring.js';
import type { ControlMessage, LoadMessage, WorkerData, WorkerReply } from './worker-protocol.js';

const data = workerData as WorkerData;
const requests = new Ring(data.requestRing);
const responses = new Ring(data.responseRing);
const counters = new Float64Array(data.counters);
const control = data.controlPort as MessagePort;

interface Pending {
  id: number;
  op: number;
  deadline: number;
  enqueued: number;
  rows: number;
  /** a copy of the record body (fields, id lengths and bytes, or input rows) */
  body: Uint8Array;
}

interface Slot {
  slot: number;
  name: string;
  inDim: number;
  outDim: number;
  maxBatch: number;
  delayMs: number;
  preferred: number[];
  nKeys: number;
  nFields: number;
  native?: NativeModel;
  session?: Ort.InferenceSession;
  inputName: string;
  outputName: string;
  gather?: Gather;
  queue: Pending[];
  queuedRows: number;
  stallMs: number;
  failNext: number;
  // batch buffers, grown on demand and then reused
  x: Float32Array;
  y: Float32Array;
  fields: Float32Array;
  refs: Uint32Array;
  ids: Uint8Array;
}

/** How many batches of a model the worker takes out of the ring ahead of running them. */
const QUEUED_BATCHES = 2;
const ENCODER = new TextEncoder();
/** A word nobody notifies: Atomics.wait on it is a plain sleep. */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
const slots = new Map<number, Slot>();
/** responses published since the last notify */
let dirty = false;
let ort: typeof Ort | undefined;
let crashNext = false;
let stopping = false;

function reply(msg: WorkerReply): void {
  parentPort!.postMessage(msg);
}

async function load(m: LoadMessage): Promise<void> {
  try {
    const s: Slot = {
      slot: m.slot,
      name: m.name,
      inDim: m.inDim,
      outDim: m.outDim,
      maxBatch: m.maxBatch,
      delayMs: m.maxQueueDelayUs / 1000,
      preferred: m.preferred,
      nKeys: m.gather ? m.gather.tables.length : 0,
      nFields: m.gather ? m.gather.fields : 0,
      inputName: m.inputName,
      outputName: m.outputName,
      queue: [],
      queuedRows: 0,
      stallMs: 0,
      failNext: 0,
      x: new Float32Array(m.maxBatch * m.inDim),
      y: new Float32Array(m.maxBatch * m.outDim),
      fields: new Float32Array(0),
      refs: new Uint32Array(0),
      ids: new Uint8Array(0),
    };
    if (m.gather) s.gather = new Gather(data.storeId, m.gather);
    if (m.runtime === 'native') {
      const plan = m.plan!;
      s.native = new NativeModel({
        inDim: plan.inDim,
        maxBatch: m.maxBatch,
        device: m.device,
        layers: layerSpecs(plan),
      });
    } else {
      ort ??= await import('onnxruntime-node');
      s.session = await ort.InferenceSession.create(m.path, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    }
    slots.set(m.slot, s);
    reply({ type: 'ack', token: m.token, ok: true });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    reply({ type: 'ack', token: m.token, ok: false, error: { code: e.code ?? 'HP_ERR_MODEL_LOAD_FAILED', message: e.message ?? String(err) } });
  }
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
        for (const p of s.queue) respondStatus(p, STATUS.NOT_LOADED, 0, 0, 0);
        await s.session?.release();
      }
      reply({ type: 'ack', token: msg.token, ok: true }); // after this, no counter of the slot moves
      break;
    }
    case 'fault':
      if (msg.kind === 'crash') crashNext = true;
      else {
        const s = slots.get(msg.slot ?? -1);
        if (s && msg.kind === 'stall') s.stallMs = msg.ms ?? 0;
        if (s && msg.kind === 'fail') s.failNext = msg.count ?? 1;
      }
      break;
    case 'stop':
      stopping = true;
      break;
  }
}

/** Copies the waiting records out of the ring into their models' queues, and runs control messages. */
async function drain(): Promise<void> {
  for (;;) {
    const rec = requests.peek();
    if (!rec) return;
    const v = requests.view;
    const op = v.getUint8(rec.off + REQ.OP);
    if (op === OP.CONTROL) {
      requests.release();
      await handleControl();
      continue;
    }
    // Backpressure lives in the ring: a model with QUEUED_BATCHES batches waiting here
    // leaves the rest of the ring unread (in order, so later requests wait too). Its next
    // batch is due at once (queuedRows >= max_batch), so the loop runs it, then drains on.
    const s = slots.get(v.getUint16(rec.off + REQ.SLOT, true));
    if (s && s.queuedRows >= s.maxBatch * QUEUED_BATCHES) return;
    const p: Pending = {
      id: v.getUint32(rec.off + REQ.ID, true),
      op,
      deadline: v.getFloat64(rec.off + REQ.DEADLINE, true),
      enqueued: v.getFloat64(rec.off + REQ.ENQUEUED, true),
      rows: v.getUint32(rec.off + REQ.ROWS, true),
      body: requests.bytes.slice(rec.off + REQ.BODY, rec.off + rec.len),
    };
    requests.release();
    if (!s) respondStatus(p, STATUS.NOT_LOADED, 0, 0, 0);
    else if (op === OP.PREDICT && !s.gather) respondStatus(p, STATUS.ERROR, 0, 0, 0, ENCODER.encode(`model '${s.name}' takes tensors only (no inputs: in the config)`));
    else if (RES.BODY + p.rows * s.outDim * 4 > responses.maxPayload)
      respondStatus(p, STATUS.ERROR, 0, 0, 0, ENCODER.encode(`the answer (${p.rows} x ${s.outDim} values) is larger than a response ring`));
    else {
      s.queue.push(p);
      s.queuedRows += p.rows;
    }
  }
}

/** How many queued rows to run now (0: keep waiting), per Triton's dynamic batcher rules. */
function batchNow(s: Slot, now: number): number {
  if (s.queuedRows === 0) return 0;
  if (s.queuedRows >= s.maxBatch) return s.maxBatch;
  // The largest preferred size the queue can fill runs at once.
  for (let i = s.preferred.length - 1; i >= 0; i--) if (s.queuedRows >= s.preferred[i]) return s.preferred[i];
  if (now - s.queue[0].enqueued >= s.delayMs || s.preferred.length === 0 && s.delayMs === 0) return s.queuedRows;
  return 0;
}

function grow(s: Slot, rows: number): void {
  if (s.x.length < rows * s.inDim) s.x = new Float32Array(rows * s.inDim);
  if (s.y.length < rows * s.outDim) s.y = new Float32Array(rows * s.outDim);
}

async function execute(s: Slot, wantRows: number): Promise<void> {
  const start = nowMs();
  // Take whole requests from the front, up to wantRows (a request larger than that runs alone).
  const batch: Pending[] = [];
  let rows = 0;
  while (s.queue.length > 0) {
    const p = s.queue[0];
    if (rows > 0 && rows + p.rows > wantRows) break;
    s.queue.shift();
    s.queuedRows -= p.rows;
    if (p.deadline < start) {
      respondStatus(p, STATUS.DEADLINE, 0, start - p.enqueued, 0);
      continue;
    }
    batch.push(p);
    rows += p.rows;
  }
  if (batch.length === 0) return;
  if (crashNext) process.exit(70); // injected by tests: die with the batch in flight

  try {
    if (s.failNext > 0) {
      s.failNext--;
      throw new Error('injected model failure');
    }
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
    if (s.stallMs > 0) Atomics.wait(SLEEPER, 0, 0, s.stallMs);
    let y: Float32Array;
    if (s.native) {
      s.native.forward(s.x, rows, s.y);
      y = s.y;
    } else {
      const feeds = { [s.inputName]: new ort!.Tensor('float32', s.x.subarray(0, rows * s.inDim), [rows, s.inDim]) };
      const out = await s.session!.run(feeds);
      y = (out[s.outputName] ?? Object.values(out)[0]).data as Float32Array;
      if (y.length < rows * s.outDim) throw new Error(`model output has ${y.length} values, expected ${rows * s.outDim}`);
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
  // Wake the main thread now: the next batch may take a while.
  dirty = false;
  responses.notify();
}

/** Fills the arenas from the predict requests' bodies and gathers their rows into x. */
function gatherRows(s: Slot, batch: Pending[], n: number, now: number): void {
  if (s.fields.length < n * s.nFields) s.fields = new Float32Array(n * s.nFields * 2);
  if (s.refs.length < n * s.nKeys * 2) s.refs = new Uint32Array(n * s.nKeys * 4);
  let idBytes = 0;
  for (const p of batch) if (p.op === OP.PREDICT) idBytes += p.body.length;
  if (s.ids.length < idBytes) s.ids = new Uint8Array(idBytes * 2);
  let r = 0;
  let at = 0;
  const fieldBytes = s.nFields * 4;
  const lensAt = fieldBytes;
  const bytesAt = lensAt + ((s.nKeys * 2 + 3) & ~3);
  for (const p of batch) {
    if (p.op !== OP.PREDICT) continue;
    const b = p.body;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let f = 0; f < s.nFields; f++) s.fields[r * s.nFields + f] = dv.getFloat32(f * 4, true);
    let src = bytesAt;
    for (let k = 0; k < s.nKeys; k++) {
      const len = dv.getUint16(lensAt + k * 2, true);
      s.ids.set(b.subarray(src, src + len), at);
      s.refs[(r * s.nKeys + k) * 2] = at;
      s.refs[(r * s.nKeys + k) * 2 + 1] = len;
      at += len;
      src += len;
    }
    r++;
  }
  s.gather!.run(s.ids, s.refs, s.fields, n, now, s.x);
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

function writeHeader(off: number, status: number, batchRows: number, id: number, queueUs: number, computeUs: number, rows: number, outDim: number): void {
  const v = responses.view;
  v.setUint8(off + RES.STATUS, status);
  v.setUint16(off + RES.BATCH, Math.min(batchRows, 65535), true);
  v.setUint32(off + RES.ID, id, true);
  v.setFloat32(off + RES.QUEUE_US, queueUs, true);
  v.setFloat32(off + RES.COMPUTE_US, computeUs, true);
  v.setUint32(off + RES.ROWS, rows, true);
  v.setUint32(off + RES.OUT_DIM, outDim, true);
}

function respondRows(s: Slot, p: Pending, y: Float32Array, row: number, batchRows: number, start: number, computeUs: number): void {
  const n = p.rows * s.outDim;
  const off = reserveResponse(RES.BODY + n * 4);
  writeHeader(off, STATUS.OK, batchRows, p.id, (start - p.enqueued) * 1000, computeUs, p.rows, s.outDim);
  dirty = true;
  // One copy: the body is 4-byte aligned (8-aligned records, RES.BODY = 24), and the rings
  // are little-endian, as every supported host.
  const base = row * s.outDim;
  new Float32Array(responses.bytes.buffer, responses.bytes.byteOffset + off + RES.BODY, n).set(y.subarray(base, base + n));
  responses.publish();
}

function respondStatus(p: Pending, status: number, batchRows: number, queueMs: number, computeUs: number, message?: Uint8Array): void {
  const off = reserveResponse(RES.BODY + (message?.length ?? 0));
  writeHeader(off, status, batchRows, p.id, queueMs * 1000, computeUs, 0, 0);
  if (message) responses.bytes.set(message, off + RES.BODY);
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
      const n = batchNow(s, now);
      if (n > 0) {
        await execute(s, n);
        ran = true;
      } else if (s.queue.length > 0) {
        nextDue = Math.min(nextDue, s.queue[0].enqueued + s.delayMs);
        budget = Math.min(budget, (s.preferred[0] ?? s.maxBatch) - s.queuedRows);
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
  for (const s of slots.values()) await s.session?.release();
  control.close();
}

void main();
