// The fault table (issue 11, production hardening): for each fault a fresh server
// (bench/fault-server.ts: the shipped config with a 5 ms queue-delay budget and the
// fault-injection route on), the standard data, a steady open-loop predict load below
// capacity (--fault-rate, 2,000/s), and the fault for the measured window (--duration).
// Per fault: the share of requests answered (2xx, a fallback's answer included; a 503 is
// not answered), the p99 of the answered ones from their due time, what the server
// answered, its sheds and fallback reasons from /metrics, and /readyz during the window.
// Goal per fault: >= 99.9 % answered and p99 <= 10 ms.
//
// Adding a row: a Fault below. `server` changes the config's server keys, `config` the
// rest; `inject` starts the fault when the window opens (through POST /v1/debug/fault, the
// admin API, files in s.repo, or anything else) and may return what ends it; `requests`
// replaces the predict load (e.g. feature reads too); `verify` checks what must hold
// afterwards and returns notes (the full-disk row: "nothing acknowledged is lost").
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { encodeRequest } from '../src/bench/http-client.js';
import { kilo, mdTable, msOf, pct, ratioOf } from '../src/bench/harness.js';
import { type LoadResult, runLoad } from '../src/bench/loadgen.js';
import { buildRequests } from '../src/bench/scenarios.js';
import { startSlowClients } from '../src/bench/slow-clients.js';
import { median, strip } from '../src/bench/stats.js';
import type { Context, Section } from './context.js';
import { BUDGET, delta, type FaultServer, startFaultServer } from './fault-server.js';
import { OPTS } from './measure.js';

const PORT = 18530;
/** seconds of steady load before the fault (not measured) */
const BEFORE_MS = 2000;
const CONNECTIONS = 512;
/** a request not answered in this long counts as not answered */
const TIMEOUT_MS = 2000;

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

const every = (ms: number, fn: () => Promise<void>) => {
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
/** Posts one 1,000-event batch; counts what it got. Returns the status. */
async function walBatch(s: FaultServer): Promise<number> {
  const now = Date.now();
  const batch = Array.from({ length: 1000 }, (_, j) => ({ user_id: `wal-${j % WAL_USERS}`, merchant_id: 'merchant-1', amount: 1 + (j % 50), country: 'FR', channel: 'web', ts: now }));
  const r = await fetch(`${s.url}/v1/events`, { method: 'POST', body: JSON.stringify(batch), headers: { 'content-type': 'application/json' } });
  const body = (await r.json()) as { error?: { code: string } };
  if (r.status === 200) wal.acked += batch.length;
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
    const stop = every(50, async () => void (await walBatch(s)));
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

export interface FaultResult {
  key: string;
  round?: number;
  name: string;
  how: string;
  pending?: string;
  rate?: number;
  capacity?: number;
  r?: LoadResult;
  answered?: number;
  p99Us?: number;
  pass?: boolean;
  ready?: number;
  sheds?: Record<string, number>;
  fallbackReasons?: Record<string, number>;
  notes: string[];
}

/** Polls /readyz while the window runs: the share of polls answered 200. */
function pollReady(s: FaultServer): () => number {
  let ok = 0;
  let all = 0;
  const stop = every(100, async () => {
    try {
      all++;
      if ((await fetch(`${s.url}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200) ok++;
    } catch {
      // not answered: not ready
    }
  });
  return () => {
    stop();
    return all ? ok / all : NaN;
  };
}

/**
 * Warms a fresh server up (its first answers are slow: code not compiled yet), then waits
 * until no circuit breaker is open: on a busy box the warm-up alone can trip one (the demo's
 * opens on 20 answers slower than 25 ms), and a row must start from a closed breaker.
 */
async function settle(s: FaultServer, requests: Buffer[]): Promise<void> {
  await runLoad({ url: s.url, requests, connections: 16, durationMs: 1000, warmupMs: 0, timeoutMs: TIMEOUT_MS });
  const until = Date.now() + 15_000;
  for (;;) {
    const open = [...(await s.metrics())].filter(([k, v]) => k.startsWith('hotpath_circuit_state{') && v !== 0);
    if (open.length === 0) return;
    if (Date.now() > until) throw new Error(`circuit breakers still open after the warm-up: ${open.map(([k]) => k).join(', ')}`);
    // Half-open probes need requests to pass.
    await runLoad({ url: s.url, requests, connections: 4, durationMs: 200, warmupMs: 0, timeoutMs: TIMEOUT_MS });
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runFault(ctx: Context, f: Fault, rate: number): Promise<FaultResult> {
  const out: FaultResult = { key: f.key, name: f.name, how: f.how, notes: [] };
  if (f.pending) return { ...out, pending: f.pending };
  let s: FaultServer;
  try {
    s = await startFaultServer(ctx, PORT, f.server, f.config);
  } catch (err) {
    if (f.config) f.cleanup?.();
    throw err;
  }
  try {
    const host = new URL(s.url).host;
    const model = f.model ?? 'fraud';
    const requests = f.requests?.(host) ?? buildRequests('predict', { ...OPTS, model, host });
    await settle(s, requests);
    await f.prepare?.(s);
    if (f.overload) {
      // Capacity: what the model itself answers per second, closed loop (sheds and fallbacks are not capacity).
      const cap = await runLoad({ url: s.url, requests, connections: 64, durationMs: 3000, warmupMs: 1000, timeoutMs: TIMEOUT_MS, classify: true });
      out.capacity = (cap.ok - (cap.fallbacks ?? 0)) / cap.durationS;
      rate = Math.round(2 * out.capacity);
    }
    out.rate = rate;
    // The fault starts when the measured window opens (after BEFORE_MS of the load).
    const window = ctx.durationMs;
    const w: { m0: Map<string, number>; end?: (() => Promise<string[]>) | void; ready: () => number } = { m0: new Map(), ready: () => NaN };
    const opened = new Promise<void>((resolve, reject) => {
      setTimeout(() => {
        void (async () => {
          w.m0 = await s.metrics();
          w.ready = pollReady(s);
          w.end = await f.inject?.(s, window);
        })().then(resolve, reject);
      }, BEFORE_MS);
    });
    const r = await runLoad({ url: s.url, requests, connections: CONNECTIONS, rate, durationMs: window, warmupMs: BEFORE_MS, timeoutMs: TIMEOUT_MS, classify: true });
    await opened;
    const readyShare = w.ready();
    const m0 = w.m0;
    const m1 = await s.metrics(); // before the fault's end, which may restart the server
    if (w.end) out.notes.push(...(await w.end()));
    if (f.verify) out.notes.push(...(await f.verify(s)));
    const by = (prefix: string, labelName: string) =>
      Object.fromEntries([...delta(m0, m1, prefix)].map(([k, v]) => [new RegExp(`${labelName}="(\\w+)"`).exec(k)?.[1] ?? k, v]));
    out.sheds = by('hotpath_shed_requests_total', 'cause');
    out.fallbackReasons = by(`hotpath_model_fallbacks_total{model="${model}"`, 'reason');
    out.r = r;
    out.answered = r.ok / Math.max(1, r.scheduled ?? r.answered);
    out.p99Us = r.latencyUs.p99;
    out.ready = readyShare;
    out.pass = out.answered >= 0.999 && out.p99Us <= 10_000;
    out.notes.push(...r.notes);
  } finally {
    await s.stop();
    f.cleanup?.();
  }
  return out;
}

const num = (n: number | undefined) => (n === undefined ? '-' : n >= 10_000 ? kilo(n) : String(n));
const counts = (o: Record<string, number>) => (Object.keys(o).length ? Object.entries(o).map(([k, v]) => `${k} ${num(v)}`).join(', ') : '-');
const sum = (into: Record<string, number>, add: Record<string, number> | undefined) => {
  for (const [k, v] of Object.entries(add ?? {})) into[k] = (into[k] ?? 0) + v;
};
const share = (x: number) => `${(x * 100).toFixed(x >= 0.99 && x < 1 ? 3 : 1)} %`;

/** One row of the table: a fault's rounds, medians and sums. */
function row(runs: FaultResult[], base: FaultResult[] | undefined): string[] {
  const x = runs[0];
  const ok = runs.filter((y) => y.r);
  if (x.pending) return [x.name, '-', `pending: ${x.pending}`, '-', '-', '-', '-', '-', '-', '-'];
  if (ok.length === 0) return [x.name, '-', 'failed (notes)', '-', '-', '**miss**', '-', '-', '-', '-'];
  const answers = { primary: 0, fallback: 0, s503: 0, retry: 0, other: 0, none: 0 };
  const sheds: Record<string, number> = {};
  const reasons: Record<string, number> = {};
  for (const y of ok) {
    const r = y.r!;
    const n503 = r.byStatus['503'] ?? 0;
    answers.primary += r.ok - (r.fallbacks ?? 0);
    answers.fallback += r.fallbacks ?? 0;
    answers.s503 += n503;
    answers.retry += r.retryAfter ?? 0;
    answers.other += r.answered - r.ok - n503;
    answers.none += (r.scheduled ?? r.answered) - r.answered;
    sum(sheds, y.sheds);
    sum(reasons, y.fallbackReasons);
  }
  const answered = median(ok.map((y) => y.answered!));
  const p99 = median(ok.map((y) => y.p99Us!));
  // Each round's p99 over the no-fault row's of the same round.
  const ratios = base && x.key !== 'none' ? ok.map((y) => y.p99Us! / (base.find((b) => b.round === y.round)?.p99Us ?? NaN)).filter((v) => !Number.isNaN(v)) : [];
  const capacity = ok.some((y) => y.capacity) ? median(ok.map((y) => y.capacity!)) : undefined;
  return [
    x.name,
    `${kilo(median(ok.map((y) => y.rate!)))}/s${capacity ? ` (capacity ${kilo(capacity)}/s)` : ''}`,
    share(answered),
    `${msOf(p99)}${ok.length > 1 ? ` (${ok.map((y) => (y.p99Us! / 1000).toFixed(1)).join(', ')})` : ''}`,
    ratios.length ? ratioOf(median(ratios), 1) : '-',
    answered >= 0.999 && p99 <= 10_000 ? 'pass' : '**miss**',
    `${num(answers.primary)} / ${num(answers.fallback)} / ${num(answers.s503)} (${num(answers.retry)}) / ${num(answers.other)} / ${num(answers.none)}`,
    counts(sheds),
    counts(reasons),
    ok.some((y) => !Number.isNaN(y.ready!)) ? pct(median(ok.map((y) => y.ready!).filter((v) => !Number.isNaN(v)))) : '-',
  ];
}

export async function runFaults(ctx: Context): Promise<Section> {
  const unknown = ctx.faults?.filter((k) => !FAULTS.some((f) => f.key === k)) ?? [];
  if (unknown.length) throw new Error(`--faults: no fault ${unknown.join(', ')} (there are ${FAULTS.map((f) => f.key).join(', ')})`);
  const faults = FAULTS.filter((x) => !ctx.faults || ctx.faults.includes(x.key));
  // Rounds of every row in turn, so that the box's noise spreads over the rows.
  const byKey = new Map<string, FaultResult[]>(faults.map((f) => [f.key, []]));
  for (let round = 1; round <= ctx.rounds; round++) {
    for (const f of faults) {
      if (f.pending && round > 1) continue;
      console.error(`-- ${f.key}, round ${round}`);
      let x: FaultResult;
      try {
        x = await runFault(ctx, f, ctx.faultRate);
      } catch (err) {
        // One row that cannot run does not lose the others.
        x = { key: f.key, name: f.name, how: f.how, notes: [`failed: ${(err as Error).message}`] };
      }
      byKey.get(f.key)!.push({ ...x, round });
    }
  }
  const base = byKey.get('none');
  const head = ['fault', 'load', 'answered', 'p99 (answered; rounds)', 'p99 / no fault', 'goal', 'answers: primary / fallback / 503 (with Retry-After) / other / none', 'sheds', 'fallback reasons', '/readyz 200'];
  const rows = faults.map((f) => row(byKey.get(f.key)!, base));
  const notes = faults.flatMap((f) => byKey.get(f.key)!.flatMap((x) => (x.notes.length ? [`- ${x.name}, round ${x.round}: ${x.notes.join('; ')}`] : [])));
  const md = [
    `Each fault on a fresh server (this checkout; the shipped hotpath.yaml with \`server.queue_delay_budget: ${BUDGET}\` and \`server.fault_injection: true\`, models copied to a temporary repository, plus \`fraud_bare\` = fraud without fallback or breaker), loaded with the standard data. Open-loop predicts at ${kilo(ctx.faultRate)}/s over ${CONNECTIONS} connections (overload rows: twice the closed-loop capacity measured first, 64 connections, 3 s), ${BEFORE_MS / 1000} s before the fault, then the fault for the measured window of ${ctx.durationMs / 1000} s. A request unanswered after ${TIMEOUT_MS / 1000} s counts as not answered. ${ctx.rounds} round(s): every row in turn, then again.`,
    '',
    'Before its load, each server is warmed up (1 s closed loop) until no circuit breaker is open. Answered: 2xx answers (a fallback answer included) over the requests due in the window, median of the rounds. p99: of the answered ones, from their due time (coordinated omission corrected), median of the rounds (each round in brackets, ms); "p99 / no fault": the median of each round\'s p99 over the no-fault row\'s of the same round (the part of the tail that is this box and this generator). Answers, sheds and fallback reasons: summed over the rounds; sheds and fallback reasons from /metrics over the window. Goal: >= 99.9 % answered and p99 <= 10 ms.',
    '',
    mdTable(head, rows),
    '',
    ...faults.map((f) => `- **${f.name}**: ${f.how}.`),
    '',
    ...(notes.length ? ['Notes:', '', ...notes, ''] : []),
  ].join('\n');
  const all = faults.flatMap((f) => byKey.get(f.key)!);
  return {
    key: 'faults',
    title: 'Fault table',
    md,
    json: all.map((x) => ({ ...x, r: x.r ? strip(x.r) : undefined })),
    tables: [{ caption: 'Fault table', head, rows: rows.map((r) => r.map((c) => c.replace(/\*/g, ''))) }],
    plots: faults
      .filter((f) => byKey.get(f.key)!.some((x) => x.r && x.r.ok > 0))
      .map((f) => ({ title: `${f.name}: answered requests during the fault`, series: byKey.get(f.key)!.filter((x) => x.r && x.r.ok > 0).map((x) => ({ label: `round ${x.round}`, histogram: x.r!.histogram })) })),
  };
}
