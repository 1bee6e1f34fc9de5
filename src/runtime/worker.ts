// An inference worker thread: its loop only. The executor (executor.ts) drains the request
// ring into each model's batcher and runs what is due; this thread sleeps in between.
//
// It sleeps in Atomics.wait on the request ring, with a timeout equal to the nearest batch
// window's end. Control messages (load, unload, faults for tests) arrive on a MessagePort;
// the main thread follows each with a CONTROL record on the ring, so they are read in order
// with the requests (receiveMessageOnPort) and wake the worker like any record.
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';

import { Executor } from './executor.js';
import { nowMs } from './records.js';
import { Ring } from './ring.js';
import type { ControlMessage, WorkerData, WorkerReply } from './worker-protocol.js';

const data = workerData as WorkerData;
const requests = new Ring(data.requestRing);
const responses = new Ring(data.responseRing);
const control = data.controlPort as MessagePort;
/** A word nobody notifies: Atomics.wait on it is a plain sleep. */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
let stopping = false;

function reply(msg: WorkerReply): void {
  parentPort!.postMessage(msg);
}

async function handleControl(): Promise<void> {
  const got = receiveMessageOnPort(control);
  if (!got) return;
  const msg = got.message as ControlMessage;
  switch (msg.type) {
    case 'load':
      try {
        await executor.load(msg);
        reply({ type: 'ack', token: msg.token, ok: true });
      } catch (err) {
        // The code crosses as a string: the pool keeps it when it is one of src/errors.ts.
        const e = err as { code?: string; message?: string };
        reply({ type: 'ack', token: msg.token, ok: false, error: { code: e.code ?? 'HP_ERR_MODEL_LOAD_FAILED', message: e.message ?? String(err) } });
      }
      break;
    case 'unload':
      await executor.unload(msg.slot);
      reply({ type: 'ack', token: msg.token, ok: true }); // after this, no counter of the slot moves
      break;
    case 'fault':
      executor.fault(msg);
      break;
    case 'stop':
      stopping = true;
      break;
  }
}

const executor = new Executor({
  requests,
  responses,
  counters: new Float64Array(data.counters),
  storeId: data.storeId,
  onControl: handleControl,
  deviceLost: (slot, why) => reply({ type: 'device-lost', slot, why }),
  // The main thread drains responses continuously; a full response ring is a brief stall.
  makeRoom() {
    responses.notify();
    Atomics.wait(SLEEPER, 0, 0, 0.2);
  },
});

async function main(): Promise<void> {
  reply({ type: 'ready' });
  while (!stopping) {
    await executor.drain();
    const step = await executor.step(nowMs());
    executor.flush();
    if (step.ran || stopping) continue;
    // Sleep until a request comes or the oldest batch window closes. Atomics.wait honours
    // sub-millisecond timeouts but wakes about 90 us late (timer slack), so a window runs
    // that much longer than max_queue_delay_us. Polling the ring instead kept windows exact
    // but spent a third of a core: on a 2-core box the main thread and the load generator
    // need it more (A/B, 6 alternating rounds of wrk: 50.2k -> 53.9k predicts/s).
    // While a window is open, a request that cannot fill a batch need not wake the worker:
    // the ring lets that many arrivals pass (each request is at least one row, so a batch
    // of multi-row requests may wait for its window instead).
    // With nothing queued the sleep has no timeout, and lets the arrivals that would fill a
    // batch pass too: the main thread wakes this worker at the last of them, or once it has
    // written what its event-loop turn brought (ring.ts, idle sleeps). Woken at the first
    // request, the worker would only open its window and sleep again.
    const left = step.nextDue - nowMs();
    if (left <= 0) continue;
    if (left === Infinity) requests.wait(Infinity, executor.idleBudget(), true);
    else requests.wait(left, Number.isFinite(step.budget) ? Math.max(1, step.budget) : 0);
  }
  await executor.releaseAll();
  control.close();
}

void main();
