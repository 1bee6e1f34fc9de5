// The load generator behind `hotpath bench`: N keep-alive connections, each with one
// request in flight, in one of two modes.
//   closed loop: each connection sends its next request as soon as the last one answers
//     (maximum throughput; latency is per request, from its send).
//   open loop: requests are due at a constant rate, at t0 + i / rate, whatever the server
//     does. Latency is measured from the time a request was due, not from when a free
//     connection could send it, so a stalled server's queueing counts (coordinated
//     omission corrected, as wrk2 does).
// Latencies of 2xx answers go into an HDR histogram (microseconds); non-2xx answers and
// errors are counted by status and class, never mixed into the latencies.
import * as hdr from 'hdr-histogram-js';

import { Connection, type ErrorClass, type OneInFlight, type Reply } from './http-client.js';
import { WsConnection } from './ws-client.js';

export interface LoadOptions {
  url: string;
  /** pre-encoded requests, sent in turn */
  requests: Buffer[];
  connections: number;
  durationMs: number;
  warmupMs: number;
  /** requests per second in total (open loop); undefined: closed loop */
  rate?: number;
  timeoutMs: number;
  /** a WebSocket path (e.g. /v1/ws): requests are client frames sent over it */
  ws?: string;
  /** HTTP: count answers given by a fallback ("fallback":true) and errors with Retry-After (the fault bench) */
  classify?: boolean;
  onProgress?: (p: { elapsedMs: number; completed: number; errors: number }) => void;
}

export interface LoadResult {
  mode: 'open' | 'closed';
  target: string;
  rate?: number;
  connections: number;
  durationS: number;
  /** answers counted (after warm-up): 2xx and non-2xx */
  answered: number;
  /** answers including the warm-up (for costs measured over the whole run) */
  answeredTotal: number;
  ok: number;
  /** open loop: requests due in the measured window (answered or not) */
  scheduled?: number;
  /** with classify: 2xx answers that came from a fallback */
  fallbacks?: number;
  /** with classify: non-2xx answers that carried Retry-After */
  retryAfter?: number;
  /** answered requests per second over the measured window */
  throughput: number;
  byStatus: Record<string, number>;
  errors: Record<ErrorClass, number>;
  /** microseconds, 2xx answers only */
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /**
   * open loop: microseconds from each request's due time to its send, 2xx answers only.
   * Part of the latency: the wait for a free connection (the server is slow to answer the
   * ones in flight) or for the generator itself.
   */
  sendLagUs?: { p50: number; p99: number; max: number };
    /** open loop: false when the generator or the server could not keep the rate */
  reachedRate: boolean;
  notes: string[];
  histogram: hdr.Histogram;
}

const nowUs = (): number => performance.now() * 1000;
/** An open-loop connection unused for longer than this is replaced, not reused (uWS closes them after 10 s idle). */
const KEEP_ALIVE_US = 4_000_000;

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const u = new URL(o.url);
  const host = u.hostname;
  const port = Number(u.port || 80);
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  const byStatus: Record<string, number> = {};
  const errors: Record<ErrorClass, number> = { connect: 0, reset: 0, timeout: 0, protocol: 0 };
  let answered = 0;
  let answeredTotal = 0;
  let ok = 0;
  let fallbacks = 0;
  let retryAfter = 0;
  let scheduled = 0;
  let next = 0; // index of the next request body
  const start = nowUs();
  const measureFrom = start + o.warmupMs * 1000;
  const end = measureFrom + o.durationMs * 1000;
  const interval = o.rate ? 1e6 / o.rate : 0;
  let due = 0; // open loop: index of the next scheduled request
  const backlog: number[] = []; // open loop: due times of requests waiting for a connection
  const notes: string[] = [];

  const lag = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 2 });
  const record = (sentAt: number, r: Reply | ErrorClass, sendLag = 0): void => {
    const t = nowUs();
    if (typeof r !== 'string') answeredTotal++;
    if (sentAt < measureFrom) return; // warm-up
    if (typeof r === 'string') {
      errors[r]++;
      return;
    }
    answered++;
    byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    if (r.retryAfter) retryAfter++;
    if (r.status >= 200 && r.status < 300) {
      ok++;
      if (r.fallback) fallbacks++;
      hist.recordValue(Math.max(1, Math.round(t - sentAt)));
      if (interval > 0) lag.recordValue(Math.max(1, Math.round(sendLag)));
    }
  };

  const live = new Set<OneInFlight>();
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const c of live) c.sweep(now);
  }, Math.min(100, Math.max(5, o.timeoutMs / 10)));
  const open = async (): Promise<OneInFlight | null> => {
    for (;;) {
      if (nowUs() >= end) return null;
      const c = o.ws === undefined ? new Connection(host, port, o.timeoutMs, o.classify) : new WsConnection(host, port, o.timeoutMs, o.ws);
      let timer: NodeJS.Timeout | undefined;
      try {
        // A server that accepts and never answers (the upgrade, say) must not hold the run.
        await Promise.race([c.ready(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('connect timeout')), Math.min(o.timeoutMs, Math.max(1, (end - nowUs()) / 1000)))))]);
        clearTimeout(timer);
        live.add(c);
        return c;
      } catch {
        clearTimeout(timer);
        if (nowUs() >= measureFrom) errors.connect++;
        c.close();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  /** Closed loop: one connection sends its next request as soon as the last one answers. */
  const closedLoop = async (): Promise<void> => {
    let c = await open();
    while (c && nowUs() < end) {
      const sentAt = nowUs();
      const r = await c.request(o.requests[next++ % o.requests.length]);
      record(sentAt, r);
      if (typeof r === 'string' || c.closed) {
        c.close();
        live.delete(c);
        c = await open();
      }
    }
    if (c) {
      c.close();
      live.delete(c);
    }
  };

  /**
   * Open loop: one dispatcher sends every request that has fallen due on a free connection.
   * It runs after each answer and from a 1 ms interval, and never spins while requests are
   * in flight: their answers wake it (at 25k req/s, every ~40 us). Only with nothing in
   * flight and the next request under 1.5 ms away does it block the thread (Atomics.wait,
   * nothing to miss) and then poll the last ~150 us. A spinning generator on a small box
   * takes a core from the server it measures.
   */
  const openLoop = async (): Promise<void> => {
    const free: (OneInFlight)[] = [];
    let inFlight = 0;
    let connecting = 0;
    let immediate = false;
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    const sleeper = new Int32Array(new SharedArrayBuffer(4));

    const connectOne = (): void => {
      connecting++;
      void open().then((c) => {
        connecting--;
        if (c) free.push(c);
        dispatch();
      });
    };
    const send = (c: OneInFlight, dueAt: number): void => {
      inFlight++;
      const sendLag = nowUs() - dueAt;
      void c.request(o.requests[next++ % o.requests.length]).then((r) => {
        inFlight--;
        record(dueAt, r, sendLag);
        if (typeof r === 'string' || c.closed) {
          c.close();
          live.delete(c);
          if (nowUs() < end) connectOne();
        } else free.push(c);
        dispatch();
      });
    };
    const dispatch = (): void => {
      const now = nowUs();
      if (now >= end) {
        clearInterval(guard);
        if (inFlight === 0 && connecting === 0) finish();
        return;
      }
      for (let t = start + due * interval; t <= now && t < end; t = start + due * interval) {
        backlog.push(t);
        due++;
        if (t >= measureFrom) scheduled++;
      }
      while (backlog.length > 0 && free.length > 0) {
        const c = free.pop()!;
        // A keep-alive connection that sat unused: the server may have closed it, or be about
        // to (uWS closes those idle for 10 s, many in one sweep; a request sent then meets a
        // reset that is no failure of the request). Like HTTP clients with a keep-alive
        // timeout shorter than the server's, give up one unused for 4 s; replace it.
        if (c.closed || now - c.idleSince * 1000 > KEEP_ALIVE_US) {
          c.close();
          live.delete(c);
          connectOne();
          continue;
        }
        send(c, backlog.shift()!);
      }
      // With requests in flight, their answers wake the dispatcher; otherwise the guard does,
      // every millisecond, until the next request is under 1.5 ms away: then block for most
      // of the gap and poll the rest.
      if (immediate || inFlight > 0 || backlog.length > 0) return;
      const gap = start + due * interval - nowUs();
      if (gap > 1500) return;
      if (gap > 300) Atomics.wait(sleeper, 0, 0, (gap - 150) / 1000);
      immediate = true;
      setImmediate(() => ((immediate = false), dispatch()));
    };
    const guard = setInterval(dispatch, 1);
    for (let i = 0; i < o.connections; i++) connectOne();
    await finished;
    for (const c of free) {
      c.close();
      live.delete(c);
    }
  };

  const progress = o.onProgress
    ? setInterval(() => o.onProgress!({ elapsedMs: (nowUs() - start) / 1000, completed: answered, errors: Object.values(errors).reduce((a, b) => a + b, 0) }), 1000)
    : undefined;
  if (interval === 0) await Promise.all(Array.from({ length: o.connections }, closedLoop));
  else await openLoop();
  if (progress) clearInterval(progress);
  clearInterval(sweeper);

  const durationS = Math.max(1e-9, (Math.min(nowUs(), end) - measureFrom) / 1e6);
  const throughput = answered / durationS;
  let reachedRate = true;
  if (o.rate) {
    const late = backlog.length;
    if (throughput < o.rate * 0.95 || late > o.rate * 0.05) {
      reachedRate = false;
      notes.push(`could not keep ${o.rate} req/s: answered ${Math.round(throughput)} req/s, ${late} requests still waiting for a connection at the end (add --connections, or the server is saturated)`);
    }
  }
  const lagP99 = lag.totalCount ? lag.getValueAtPercentile(99) : 0;
  if (o.rate && lagP99 > 1000)
    notes.push(`1 % of requests waited more than ${(lagP99 / 1000).toFixed(1)} ms to be sent (for a free connection, or for the generator): that wait is in the latencies; more --connections separates the two`);
    if (answered === 0 && errors.connect > 0) notes.push(`no answer: the target refused or did not accept connections (${errors.connect} attempts)`);
  const pct = (p: number): number => (hist.totalCount ? hist.getValueAtPercentile(p) : NaN);
  return {
    mode: o.rate ? 'open' : 'closed',
    target: o.url,
    rate: o.rate,
    connections: o.connections,
    durationS,
    answered,
    answeredTotal,
    ok,
    scheduled: interval > 0 ? scheduled : undefined,
    fallbacks: o.classify ? fallbacks : undefined,
    retryAfter: o.classify ? retryAfter : undefined,
    throughput,
    byStatus,
    errors,
    latencyUs: { p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: hist.totalCount ? hist.maxValue : NaN, mean: hist.totalCount ? hist.mean : NaN },
    reachedRate,
    sendLagUs: interval > 0 && lag.totalCount ? { p50: lag.getValueAtPercentile(50), p99: lagP99, max: lag.maxValue } : undefined,
    notes,
    histogram: hist,
  };
}
