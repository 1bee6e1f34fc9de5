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

import { Connection, type ErrorClass } from './http-client.js';
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
  /** answered requests per second over the measured window */
  throughput: number;
  byStatus: Record<string, number>;
  errors: Record<ErrorClass, number>;
  /** microseconds, 2xx answers only */
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  /** open loop: false when the generator or the server could not keep the rate */
  reachedRate: boolean;
  notes: string[];
  histogram: hdr.Histogram;
}

const nowUs = (): number => performance.now() * 1000;

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
  let next = 0; // index of the next request body
  const start = nowUs();
  const measureFrom = start + o.warmupMs * 1000;
  const end = measureFrom + o.durationMs * 1000;
  const interval = o.rate ? 1e6 / o.rate : 0;
  let due = 0; // open loop: index of the next scheduled request
  const backlog: number[] = []; // open loop: due times of requests waiting for a connection
  const notes: string[] = [];

  const record = (sentAt: number, r: { status: number } | ErrorClass): void => {
    const t = nowUs();
    if (typeof r !== 'string') answeredTotal++;
    if (sentAt < measureFrom) return; // warm-up
    if (typeof r === 'string') {
      errors[r]++;
      return;
    }
    answered++;
    byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    if (r.status >= 200 && r.status < 300) {
      ok++;
      hist.recordValue(Math.max(1, Math.round(t - sentAt)));
    }
  };

  const live = new Set<Connection | WsConnection>();
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const c of live) c.sweep(now);
  }, Math.min(100, Math.max(5, o.timeoutMs / 10)));
  const open = async (): Promise<Connection | WsConnection | null> => {
    for (;;) {
      if (nowUs() >= end) return null;
      const c = o.ws === undefined ? new Connection(host, port, o.timeoutMs) : new WsConnection(host, port, o.timeoutMs, o.ws);
      try {
        await c.ready();
        live.add(c);
        return c;
      } catch {
        if (nowUs() >= measureFrom) errors.connect++;
        c.close();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  /** One connection's loop: take work (closed: at once; open: the next due request). */
  const worker = async (): Promise<void> => {
    let c = await open();
    while (c && nowUs() < end) {
      let sentAt: number;
      if (interval === 0) sentAt = nowUs();
      else {
        // The earliest request due and not yet sent: from the backlog, or the schedule.
        let dueAt = backlog.length > 0 ? backlog.shift()! : start + due++ * interval;
        if (dueAt >= end) break;
        for (let now = nowUs(); dueAt > now; now = nowUs()) {
          const wait = dueAt - now;
          // Timers are coarse (1 ms); the last stretch is waited with setImmediate.
          await new Promise((r) => (wait > 1500 ? setTimeout(r, (wait - 1000) / 1000) : setImmediate(r)));
        }
        sentAt = dueAt;
        // Requests that fell due while this one waited go to the backlog for any connection.
        for (let t = start + due * interval; t <= nowUs() && t < end; t = start + due * interval) {
          backlog.push(t);
          due++;
        }
      }
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

  const progress = o.onProgress
    ? setInterval(() => o.onProgress!({ elapsedMs: (nowUs() - start) / 1000, completed: answered, errors: Object.values(errors).reduce((a, b) => a + b, 0) }), 1000)
    : undefined;
  await Promise.all(Array.from({ length: o.connections }, worker));
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
    throughput,
    byStatus,
    errors,
    latencyUs: { p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: hist.totalCount ? hist.maxValue : NaN, mean: hist.totalCount ? hist.mean : NaN },
    reachedRate,
    notes,
    histogram: hist,
  };
}
