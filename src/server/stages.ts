// Where a request's server time goes (docs/api.md, metrics): each route class splits its
// requests' time into stages, observed in hotpath_stage_duration_seconds{route, stage}; the
// whole of every answer (errors too) goes to hotpath_request_duration_seconds{route}, and
// every answer is offered to the slowest-requests list (slow-log.ts, GET /v1/debug/slow).
//
// The stages, by the times a request carries (nowMs(), epoch ms with sub-ms precision):
//   predicts (predict, infer, ws_predict): parse = arrival -> submitted to the inference
//     service (body, checks, the L1 cache, an online-store read-through); queue = submitted
//     -> the worker takes it out of its ring (and the main thread's wait queue before it);
//     batch_wait = out of the ring -> its batch starts (the batcher's window); run = gather +
//     the model (the batch's computeUs); answer = the outcome collected on the main thread
//     -> the answer written. queue + batch_wait is hotpath_model_queue_duration_seconds.
//   feature reads (features, features_batch, feast): parse -> store (the native read, and an
//     online-store read-through) -> answer (JSON + write).
//   events: parse (body and JSON) -> apply (validate, store, WAL buffer, taps) -> durable
//     (the log's group commit, the shared log's reply, then the answer written).
// A request that fails before its stages (a bad body, a refused model) counts in the total
// and may be listed as slow, with no split. The time of a fallback's first trip falls in
// parse: its answer's stages are those of the call that answered.
//
// Cost per request: the route's arrival time and one or two marks (nowMs(), about 30 ns
// each; a GET feature read's two are taken by its native read, calibrated to nowMs()'s
// scale: src/server/features.ts), the end, and 5-7 histogram observations on preallocated
// series: no allocation (bench/stages.ts measures it).
import type client from 'prom-client';

import type { InferResult } from '../runtime/inference.js';
import { FastMetric, type Series } from './metrics.js';
import { MAX_STAGES, SlowLog } from './slow-log.js';

/** Seconds: 5 µs to 1 s, dense below 1 ms, where most stages of a healthy server fall. */
export const STAGE_BUCKETS = [
  0.000005, 0.00001, 0.000015, 0.00002, 0.00003, 0.00004, 0.00005, 0.000075, 0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075, 0.001,
  0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

const PREDICT_STAGES = ['parse', 'queue', 'batch_wait', 'run', 'answer'] as const;
const READ_STAGES = ['parse', 'store', 'answer'] as const;
const EVENT_STAGES = ['parse', 'apply', 'durable'] as const;

/** The route classes (the `route` label): bounded, one per kind of request, not per path. */
export const ROUTE_CLASSES = [
  { name: 'predict', stages: PREDICT_STAGES, names: 'model' },
  { name: 'infer', stages: PREDICT_STAGES, names: 'model' },
  { name: 'ws_predict', stages: PREDICT_STAGES, names: 'model' },
  { name: 'features', stages: READ_STAGES, names: 'entity' },
  { name: 'features_batch', stages: READ_STAGES, names: 'entity' },
  { name: 'feast', stages: READ_STAGES, names: 'entity' },
  { name: 'events', stages: EVENT_STAGES, names: 'stream' },
] as const;

export type RouteClass = (typeof ROUTE_CLASSES)[number]['name'];

export function routeClassIndex(name: RouteClass): number {
  return ROUTE_CLASSES.findIndex((r) => r.name === name);
}

/** A request's times as the route collected them (Call implements it; the WebSocket a pooled one). */
export interface StageMarks {
  /** arrival, nowMs() */
  readonly start: number;
  /** reads and events: the end of parse and of the middle stage (0: not reached) */
  mark1: number;
  mark2: number;
  /** predicts: the inference result that was answered */
  result: InferResult | undefined;
  /** the model, entity or stream named */
  subject: string;
}

export class Stages {
  readonly #stage = new FastMetric('hotpath_stage_duration_seconds', 'Server-side time of a request in each stage, by route class (docs/api.md: predicts parse, queue, batch_wait, run, answer; feature reads parse, store, answer; events parse, apply, durable)', ['route', 'stage'], STAGE_BUCKETS);
  readonly #request = new FastMetric('hotpath_request_duration_seconds', 'Server-side time of a request by route class, from its arrival to its answer written, every status', ['route'], STAGE_BUCKETS);
  /** per route class: its stage series and its total, made on its first request */
  readonly #series: ({ stages: Series[]; total: Series } | undefined)[] = ROUTE_CLASSES.map(() => undefined);
  readonly #split = new Float64Array(MAX_STAGES);
  readonly slow = new SlowLog();

  register(registry: client.Registry): void {
    registry.registerMetric(this.#stage as unknown as client.Metric);
    registry.registerMetric(this.#request as unknown as client.Metric);
  }

  /** The live series the dashboard reads (src/server/dashboard.ts). */
  sources(): { stage: FastMetric; request: FastMetric } {
    return { stage: this.#stage, request: this.#request };
  }

  #of(route: number): { stages: Series[]; total: Series } {
    let s = this.#series[route];
    if (s === undefined) {
      const c = ROUTE_CLASSES[route];
      s = { stages: c.stages.map((st) => this.#stage.series(c.name, st)), total: this.#request.series(c.name) };
      this.#series[route] = s;
    }
    return s;
  }

  /** One answer of a route of class `route`, written at `end` (nowMs()) with HTTP `status`. */
  answered(route: number, m: StageMarks, status: number, end: number): void {
    const s = this.#of(route);
    const split = this.#split;
    this.#request.observe(s.total, (end - m.start) / 1000);
    let n = 0;
    const r = m.result;
    if (r !== undefined) {
      split[0] = r.submittedAt - m.start;
      split[1] = Math.max(0, r.queueUs - r.batchWaitUs) / 1000;
      split[2] = r.batchWaitUs / 1000;
      split[3] = r.computeUs / 1000;
      split[4] = end - r.collectedAt;
      n = 5;
    } else if (m.mark2 > 0) {
      // a feature read's marks are the native read's own, on a clock calibrated to nowMs()'s
      // to within a fraction of a µs (features.ts): never below 0 for that
      split[0] = Math.max(0, m.mark1 - m.start);
      split[1] = m.mark2 - m.mark1;
      split[2] = Math.max(0, end - m.mark2);
      n = 3;
    }
    if (n === 0) split[0] = NaN;
    else if (status < 400) for (let i = 0; i < n; i++) this.#stage.observe(s.stages[i], split[i] / 1000);
    this.slow.offer(route, m.subject, status, m.start, end, split, n);
  }

  /** GET /v1/debug/slow's answer: the `limit` slowest requests of the last minute before `now` (epoch ms). */
  slowest(limit: number, now: number, enabled = true): { stage_timing: boolean; window_s: number; requests: Record<string, unknown>[] } {
    return {
      stage_timing: enabled,
      window_s: 60,
      requests: this.slow.slowest(limit, now).map((e) => {
        const c = ROUTE_CLASSES[e.route];
        let stages: Record<string, number> | null = null;
        if (!Number.isNaN(e.stages[0])) {
          stages = {};
          c.stages.forEach((st, i) => (stages![`${st}_ms`] = round3(e.stages[i])));
        }
        return { route: c.name, [c.names]: e.name, status: e.status, at: Math.round(e.at), total_ms: round3(e.totalMs), stages };
      }),
    };
  }
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;
