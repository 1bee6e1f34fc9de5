// The rows of the fault table (bench/faults.ts runs them): each a Fault, what it does to a
// fresh server (bench/fault-server.ts) and when. Adding a row: a Fault in FAULTS. `server`
// changes the config's server keys, `config` the rest (`cleanup` undoes what it set up);
// `prepare` runs before any load; `inject` starts the fault when the measured window opens
// (through POST /v1/debug/fault, the admin API, files in s.repo, or anything else) and may
// return what ends it, with notes; `requests` replaces the predict load; `verify` checks
// what must hold afterwards and returns notes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { encodeRequest } from '../src/bench/http-client.js';
import { buildRequests } from '../src/bench/scenarios.js';
import { startSlowClients } from '../src/bench/slow-clients.js';
import type { FaultServer } from './fault-server.js';
import { OPTS } from './measure.js';

export interface Fault {
  key: string;
  name: string;
  /** what is done, for the table */
  how: string;
  /** server config keys over the fault settings (null removes one) */
  server?: Record<string, unknown>;
  /** changes the rest of the config (parsed hotpath.yaml) */
  config?: (c: Record<string, any>) => void;
  /** runs once the server is up, before any load (e.g. makes a model heavy for the whole row) */
  prepare?: (s: FaultServer) => Promise<void>;
  /** runs once the server has stopped (e.g. unmounts what `config` mounted) */
  cleanup?: () => void;
  /** the model the predict load asks (default fraud: fallback fraud_rules, then the constant 0) */
  model?: string;
  /** the load runs at twice the capacity measured on this server (closed loop) first */
  overload?: boolean;
  /** the requests of the load (default: predicts of `model`) */
  requests?: (host: string) => Buffer[];
  /** starts the fault as the window opens; may return what ends it (called after the window) */
  inject?: (s: FaultServer, windowMs: number) => Promise<(() => Promise<string[]>) | void>;
  /** after the window: what held and what did not */
  verify?: (s: FaultServer) => Promise<string[]>;
  /** the row cannot run yet: why */
  pending?: string;
}

export const every = (ms: number, fn: () => Promise<void>) => {
  let busy = false;
  const t = setInterval(() => {
    if (busy) return;
    busy = true;
    void fn().finally(() => (busy = false));
  }, ms);
  return () => clearInterval(t);
};

const stall = (model: string) => async (s: FaultServer, windowMs: number) => {
  const r = await s.post('/v1/debug/fault', { fault: 'stall', model, ms: windowMs, for_ms: windowMs });
  if (r.status !== 200) throw new Error(`stall: ${r.status} ${JSON.stringify(r.body)}`);
};

/**
 * A model-bound server: fraud and fraud_bare run batches of at most 8 rows, each made 2 ms
 * longer (a sleep: the CPU stays free for the front end, as with a model on an accelerator
 * or a remote one), so the worker, not the main thread, sets the capacity (about 4k/s).
 */
const HEAVY: Pick<Fault, 'config' | 'prepare'> = {
  config(c) {
    for (const m of ['fraud', 'fraud_bare']) c.models[m].batching = { max_batch: 8, max_queue_delay_us: 100 };
  },
  async prepare(s) {
    for (const model of ['fraud', 'fraud_bare']) {
      const r = await s.post('/v1/debug/fault', { fault: 'stall', model, ms: 2 });
      if (r.status !== 200) throw new Error(`heavy model: ${r.status} ${JSON.stringify(r.body)}`);
    }
  },
};
const HEAVY_HOW = 'batches of at most 8 rows made 2 ms longer each, about 4k/s';

/**
 * The write-ahead log on a 3 MiB tmpfs (1 MiB segments, reserved when opened), filled
 * before the load until ingest is refused; in the window ingest goes on beside the measured
 * load of feature reads and predicts. Ingest must be refused with 503
 * HP_ERR_WAL_UNAVAILABLE and Retry-After, reads keep serving, and every acknowledged event
 * is there: in the reads, and after a restart on the same data directory (with room again).
 * Needs root (mount); without it the row says so.
 */
const WAL_USERS = 10;
const wal = { mnt: '', acked: 0, answers: {} as Record<string, number> };
const walCount = async (s: FaultServer): Promise<number> => {
  let n = 0;
  for (let j = 0; j < WAL_USERS; j++) n += (await s.get(`/v1/features/user/wal-${j}?features=txn_count_1h`)).body.features.txn_count_1h as number;
  return n;
};
const WAL_BATCH = 1000;
/** A batch of 1,000 events of the WAL users, at the current time. */
const walBody = (): string =>
  JSON.stringify(Array.from({ length: WAL_BATCH }, (_, j) => ({ user_id: `wal-${j % WAL_USERS}`, merchant_id: 'merchant-1', amount: 1 + (j % 50), country: 'FR', channel: 'web', ts: Date.now() })));
/** Posts one batch; counts what it got. Returns the status. */
async function walBatch(s: FaultServer, batch = walBody()): Promise<number> {
  const r = await fetch(`${s.url}/v1/events`, { method: 'POST', body: batch, headers: { 'content-type': 'application/json' } });
  const body = (await r.json()) as { error?: { code: string } };
  if (r.status === 200) wal.acked += WAL_BATCH;
  const key = `${r.status}${body.error ? ` ${body.error.code}` : ''}${r.status !== 200 && r.headers.get('retry-after') ? ' (Retry-After)' : ''}`;
  wal.answers[key] = (wal.answers[key] ?? 0) + 1;
  return r.status;
}
const WAL_DISK_FULL: Fault = {
  key: 'wal-disk-full',
  name: 'full disk under the WAL',
  how: 'the log on a 3 MiB tmpfs (1 MiB segments, reserved when opened), filled by 1,000-event batches before the load until ingest is refused; in the window 20 batches a second go on, beside the measured load of feature reads and predicts; afterwards the disk grows, the server restarts on its data directory, and the acknowledged events are counted',
  config(c) {
    wal.mnt = mkdtempSync(join(tmpdir(), 'hotpath-wal-'));
    wal.acked = 0;
    wal.answers = {};
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', wal.mnt], { stdio: 'ignore' });
    } catch {
      rmSync(wal.mnt, { recursive: true, force: true });
      throw new Error('mounting a 3 MiB tmpfs for the log needs root');
    }
    c.durability = { data_dir: wal.mnt, segment_bytes: '1MiB', snapshot_interval: 0 };
  },
  cleanup() {
    try {
      execFileSync('umount', ['-l', wal.mnt], { stdio: 'ignore' });
    } catch {
      // not mounted (config failed before)
    }
    rmSync(wal.mnt, { recursive: true, force: true });
  },
  async prepare(s) {
    for (let k = 0; k < 1000 && (await walBatch(s)) === 200; k++);
    if (!Object.keys(wal.answers).some((a) => a.startsWith('503'))) throw new Error('the log disk never filled');
  },
  requests: (host) => {
    const reads = buildRequests('features', { ...OPTS, host });
    return buildRequests('predict', { ...OPTS, host }).flatMap((p, i) => [p, reads[i % reads.length]]);
  },
  async inject(s) {
    const filled = { ...wal.answers };
    const body = walBody(); // one body for the window: encoding 1,000 events each time would make the generator late
    const stop = every(50, async () => void (await walBatch(s, body)));
    return async () => {
      stop();
      await new Promise((r) => setTimeout(r, 100)); // the batch in flight
      const seen = await walCount(s);
      execFileSync('mount', ['-o', 'remount,size=64m', wal.mnt]);
      await s.restart();
      const after = await walCount(s);
      const inWindow = Object.entries(wal.answers).map(([a, n]) => [a, n - (filled[a] ?? 0)] as const).filter(([, n]) => n > 0);
      const fine = seen === wal.acked && after === wal.acked && Object.keys(wal.answers).every((a) => a === '200' || a === '503 HP_ERR_WAL_UNAVAILABLE (Retry-After)');
      const list = (xs: (readonly [string, number])[]) => xs.map(([a, n]) => `${n} × ${a}`).join(', ');
      return [
        `ingest batches before the window: ${list(Object.entries(filled))}; in the window: ${list(inWindow)}`,
        `events acknowledged ${wal.acked}; counted by reads ${seen}; after growing the disk and a restart on the data directory ${after}: ${fine ? 'nothing acknowledged lost, every refusal coded' : '**not as it should be**'}`,
      ];
    };
  },
};

export const FAULTS: Fault[] = [
  { key: 'none', name: 'no fault (baseline)', how: 'the same load with nothing injected: the p99 this box and generator give in this run' },
  { key: 'stall', name: 'stalled model', how: 'fraud hangs for the window (its batch blocks the worker; the fallback fraud_rules runs on the same worker)', inject: stall('fraud') },
  {
    key: 'throw',
    name: 'throwing model',
    how: 'every batch of fraud throws for the window',
    async inject(s, windowMs) {
      await s.post('/v1/debug/fault', { fault: 'fail', model: 'fraud', count: 1e9, for_ms: windowMs });
    },
  },
  {
    key: 'crash',
    name: 'worker killed mid-load',
    how: 'the inference worker ends its thread in the middle of a batch, every 2.5 s of the window',
    async inject(s) {
      const before = await s.metrics();
      await s.post('/v1/debug/fault', { fault: 'crash' });
      const stop = every(2500, async () => void (await s.post('/v1/debug/fault', { fault: 'crash' })));
      return async () => {
        stop();
        const restarts = (await s.metrics()).get('hotpath_worker_restarts_total')! - (before.get('hotpath_worker_restarts_total') ?? 0);
        return [`${restarts} worker restarts`];
      };
    },
  },
  {
    key: 'full-ring',
    name: 'full ring and wait queue, no budget',
    how: 'fraud hangs as above on a server with a 4 KiB ring, a wait queue of 16 and no queue-delay budget: the length bound alone',
    server: { ring_bytes: 4096, wait_queue: 16, queue_delay_budget: null },
    inject: stall('fraud'),
  },
  {
    key: 'slow-clients',
    name: 'slow clients',
    how: '50 clients pipeline a feature read every 20 ms each and never read the answers; 50 send predicts a byte every 50 ms',
    async inject(s) {
      const u = new URL(s.url);
      const rss0 = s.rssKiB();
      const clients = startSlowClients({
        host: u.hostname, port: Number(u.port), request: encodeRequest('GET', u.host, '/v1/features/user/user-1'), nonReaders: 50, everyMs: 20,
        trickle: buildRequests('predict', { ...OPTS, host: u.host })[0], tricklers: 50, trickleMs: 50,
      });
      return async () => {
        const r = clients.stop();
        return [`non-readers wrote ${r.sent} requests, tricklers ${r.trickled} bytes; the server closed ${r.closedByServer} of their connections; server RSS ${Math.round(rss0 / 1024)} -> ${Math.round(s.rssKiB() / 1024)} MiB`];
      };
    },
  },
  {
    ...HEAVY,
    key: 'overload-model',
    name: 'overload 2×, model-bound, with fallback',
    how: `open loop at twice the capacity measured first (closed loop, answers by the model itself) on a heavy fraud (${HEAVY_HOW})`,
    overload: true,
  },
  { ...HEAVY, key: 'overload-model-bare', name: 'overload 2×, model-bound, no fallback', how: 'the same on fraud_bare (heavy fraud without fallback or breaker): a shed is a 503', overload: true, model: 'fraud_bare' },
  {
    key: 'overload-front',
    name: 'overload 2×, front-end-bound, no fallback',
    how: 'the same on the plain fraud_bare: the main thread (HTTP, parsing), not the model, is the bottleneck',
    overload: true,
    model: 'fraud_bare',
  },
  {
    key: 'corrupt-reload',
    name: 'corrupt model version at reload',
    how: 'every 500 ms a new version of fraud is written (truncated, or not ONNX) and POST /v2/repository/models/fraud/load asked',
    async inject(s) {
      const served = (await s.get('/v2/models/fraud')).body.versions as string[];
      const statuses: Record<string, number> = {};
      let next = 100;
      const stop = every(500, async () => {
        const v = next++;
        mkdirSync(join(s.repo, 'fraud', String(v)), { recursive: true });
        const good = readFileSync(join(s.repo, 'fraud', served[0], 'model.onnx'));
        writeFileSync(join(s.repo, 'fraud', String(v), 'model.onnx'), v % 2 ? good.subarray(0, good.length >> 1) : Buffer.from('not an onnx model'));
        const r = await s.post('/v2/repository/models/fraud/load', {});
        // KServe words errors as {"error": "..."}: the status, and the message without the path.
        const k = `${r.status}${r.status === 200 ? '' : ` (${String(r.body?.error ?? '').replace(/\/\S+\/model\.onnx: /, '').slice(0, 60)})`}`;
        statuses[k] = (statuses[k] ?? 0) + 1;
      });
      return async () => {
        stop();
        const now = (await s.get('/v2/models/fraud')).body.versions as string[];
        return [`loads answered: ${Object.entries(statuses).map(([k, n]) => `${n} × ${k}`).join(', ')}; versions served before ${served.join(',')}, after ${now.join(',')}`];
      };
    },
  },
  WAL_DISK_FULL,
];

