// OpenTelemetry spans for a sampled share of HTTP requests (tracing:, off by default).
//
// The decision comes first and costs a header read and a comparison: an incoming
// `traceparent` with its sampled flag decides (parent-based), else Math.random() against
// sample_ratio; nothing is allocated for a request that is not traced. A traced request
// gets a RequestTrace, where the route notes its stages as plain numbers (start and end,
// nowMs()). At answer time the trace id (a new trace's) and the server span's id are
// chosen, for the answer's traceparent, and the trace joins a queue; the spans are made
// from it later, in bursts (every 100 ms at most), with those explicit times and ids: the
// SERVER span (method, route pattern, status, model or entity), and a child per stage
// (receive, parse, feature_store.read, ingest, inference with its own `queue` and `run`
// from the outcome's queueUs/computeUs, answer). Nothing of the SDK runs while a request
// is served, and no context is carried across callbacks. Why bursts: a trace's spans cost
// ~10 µs when the SDK's code runs hot, several times that when one trace in a hundred runs
// it between feature reads (a CPU profile of bench/tracing-ab.ts --profile).
//
// The SDK's BatchSpanProcessor queues ended spans (at most tracing.max_queue; past it new
// spans are dropped, never waited for) and the OTLP/HTTP exporter sends them as JSON on a
// timer: a collector that is down or slow costs failed exports, counted in
// hotpath_trace_spans_total{outcome="failed"} and logged once, never a request.
import { type Attributes, type Context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, TraceState, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, type IdGenerator, RandomIdGenerator, type ReadableSpan, type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type uWS from 'uWebSockets.js';

import type { TracingDef } from '../../config/observe.js';
import type { Answer, InferResult } from '../../runtime/inference.js';
import { nowMs } from '../../runtime/records.js';
import type { Log } from '../http.js';
import { checkTraceparent, PARENT_NONE, PARENT_SAMPLED, PARENT_UNSAMPLED, parentIdOf, TRACESTATE_MAX, traceIdOf } from './traceparent.js';

const SERVER_VERSION = '0.1.0'; // package.json's version, as routes/kserve.ts says it

// Header names as bytes: uWS reads a string key by converting it to UTF-8 at each call, a
// byte key as it is (in a loop over getHeader, 75 ns against 120 ns on the bench machine).
const TRACEPARENT = new Uint8Array(Buffer.from('traceparent'));
const TRACESTATE = new Uint8Array(Buffer.from('tracestate'));

/**
 * One traced request's timings, noted by the routes (plain numbers: ms since the epoch
 * from nowMs()). Made only for a sampled request; the route reads it as `Call.trace`.
 */
export class RequestTrace {
  /** arrival */
  readonly start: number;
  /** the incoming traceparent ('' for a new trace) and tracestate */
  readonly parent: string;
  readonly state: string;
  /** when the body was complete (body routes; 0 otherwise) */
  bodyAt = 0;
  /** stages: names[i] from starts[i] to ends[i] */
  readonly names: string[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  /** the inference call: submitted, answered, and what the outcome said (µs) */
  inferStart = 0;
  inferEnd = 0;
  queueUs = 0;
  computeUs = 0;
  batch = 0;
  fallback = false;
  model = '';
  entity = '';
  /** set at answer time (Tracing.finish): the trace and the server span's ids, and the answer */
  traceId = '';
  spanId = '';
  end = 0;
  answered: Answered | undefined = undefined;

  constructor(start: number, parent: string, state: string) {
    this.start = start;
    this.parent = parent;
    this.state = state;
  }

  /** A stage from `start` to `end` (default: now). */
  stage(name: string, start: number, end = nowMs()): void {
    this.names.push(name);
    this.starts.push(start);
    this.ends.push(end);
  }

  /** The inference call's answer, timed: submit now, outcome when `cb` is called. */
  inference(cb: Answer): Answer {
    this.inferStart = nowMs();
    return (err, out) => {
      this.inferEnd = nowMs();
      if (out !== undefined) this.outcome(out);
      cb(err, out);
    };
  }

  outcome(out: InferResult): void {
    this.queueUs = out.queueUs;
    this.computeUs = out.computeUs;
    this.batch = out.batch;
    this.fallback = out.fallback;
    if (this.model === '') this.model = out.model;
  }
}

/** A request's answer, as the spans describe it. */
export interface Answered {
  method: string;
  route: string;
  status: number;
  /** the error code of an error answer */
  code?: string;
}

/**
 * The ids the SDK gives spans: random, but the next span's (and a new trace's) may be
 * chosen beforehand, as the answer's traceparent names them before the spans are made.
 */
class PlannedIds implements IdGenerator {
  readonly #random = new RandomIdGenerator();
  nextTraceId = '';
  nextSpanId = '';

  generateTraceId(): string {
    const id = this.nextTraceId;
    if (id === '') return this.#random.generateTraceId();
    this.nextTraceId = '';
    return id;
  }

  generateSpanId(): string {
    const id = this.nextSpanId;
    if (id === '') return this.#random.generateSpanId();
    this.nextSpanId = '';
    return id;
  }

  newTraceId(): string {
    return this.#random.generateTraceId();
  }

  newSpanId(): string {
    return this.#random.generateSpanId();
  }
}

/** The exporter with its outcomes counted (and the first failure logged). */
class CountingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #log: Log;
  readonly #endpoint: string;
  exported = 0;
  failed = 0;
  #warned = false;

  constructor(inner: SpanExporter, log: Log, endpoint: string) {
    this.#inner = inner;
    this.#log = log;
    this.#endpoint = endpoint;
  }

  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.#inner.export(spans, (r) => {
      if (r.code === ExportResultCode.SUCCESS) this.exported += spans.length;
      else {
        this.failed += spans.length;
        if (!this.#warned) {
          this.#warned = true;
          this.#log(`tracing: export to ${this.#endpoint} failed (${r.error?.message ?? 'unknown error'}); spans are dropped and counted in hotpath_trace_spans_total{outcome="failed"}, this line is not repeated`);
        }
      }
      done(r);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

export class Tracing {
  readonly def: TracingDef;
  readonly #ratio: number;
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #exporter: CountingExporter;
  readonly #ids = new PlannedIds();
  /** answered traces whose spans are not made yet (at most max_queue) */
  #pending: RequestTrace[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #flushMs: number;
  /** spans made (and ended) */
  ended = 0;
  /** traces dropped before their spans were made: more than max_queue waiting */
  dropped = 0;

  constructor(def: TracingDef, log: Log) {
    this.def = def;
    this.#ratio = def.sampleRatio;
    this.#flushMs = Math.min(100, def.exportIntervalMs);
    const otlp = new OTLPTraceExporter({ url: def.endpoint, headers: def.headers, timeoutMillis: def.exportTimeoutMs });
    this.#exporter = new CountingExporter(otlp, log, def.endpoint);
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: def.serviceName, [ATTR_SERVICE_VERSION]: SERVER_VERSION }),
      // The decision is ours (begin()): every span asked for is recorded.
      sampler: new AlwaysOnSampler(),
      idGenerator: this.#ids,
      spanProcessors: [
        new BatchSpanProcessor(this.#exporter, {
          maxExportBatchSize: def.batchSize, maxQueueSize: def.maxQueue, scheduledDelayMillis: def.exportIntervalMs, exportTimeoutMillis: def.exportTimeoutMs,
        }),
      ],
    });
    this.#tracer = this.#provider.getTracer('hotpath', SERVER_VERSION);
  }

  get exported(): number {
    return this.#exporter.exported;
  }

  get failed(): number {
    return this.#exporter.failed;
  }

  /**
   * The sampling decision for a request, read from its headers inside uWS's callback: a
   * RequestTrace when it is traced, else undefined (after one header read and a compare,
   * or a check of a header that says "not sampled").
   */
  begin(req: uWS.HttpRequest): RequestTrace | undefined {
    const h = req.getHeader(TRACEPARENT);
    const p = h.length === 0 ? PARENT_NONE : checkTraceparent(h);
    if (p === PARENT_UNSAMPLED || (p === PARENT_NONE && !(Math.random() < this.#ratio))) return undefined;
    if (p !== PARENT_SAMPLED) return new RequestTrace(nowMs(), '', '');
    const state = req.getHeader(TRACESTATE);
    return new RequestTrace(nowMs(), h, state.length <= TRACESTATE_MAX ? state : '');
  }

  /**
   * The request is answered: sets t.traceId and t.spanId (the answer's traceparent) and
   * queues the trace; its spans are made within 100 ms.
   */
  finish(t: RequestTrace, a: Answered): void {
    t.end = nowMs();
    t.answered = a;
    t.traceId = t.parent !== '' ? traceIdOf(t.parent) : this.#ids.newTraceId();
    t.spanId = this.#ids.newSpanId();
    if (this.#pending.length >= this.def.maxQueue) {
      this.dropped++;
      return;
    }
    this.#pending.push(t);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#flush, this.#flushMs);
      this.#timer.unref();
    }
  }

  /** Makes the spans of every queued trace. */
  readonly #flush = (): void => {
    this.#timer = undefined;
    const pending = this.#pending;
    this.#pending = [];
    for (const t of pending) this.#spans(t);
  };

  #spans(t: RequestTrace): void {
    const a = t.answered!;
    const end = t.end;
    let parent: Context = ROOT_CONTEXT;
    if (t.parent !== '') {
      parent = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: traceIdOf(t.parent), spanId: parentIdOf(t.parent), traceFlags: 1, isRemote: true,
        ...(t.state !== '' ? { traceState: new TraceState(t.state) } : {}),
      });
    }
    const attributes: Attributes = { [ATTR_HTTP_REQUEST_METHOD]: a.method, [ATTR_HTTP_ROUTE]: a.route, [ATTR_HTTP_RESPONSE_STATUS_CODE]: a.status };
    if (t.model !== '') attributes['hotpath.model'] = t.model;
    if (t.entity !== '') attributes['hotpath.entity'] = t.entity;
    if (a.code !== undefined) attributes[ATTR_ERROR_TYPE] = a.code;
    // the ids the answer's traceparent named
    this.#ids.nextSpanId = t.spanId;
    if (t.parent === '') this.#ids.nextTraceId = t.traceId;
    const server = this.#tracer.startSpan(`${a.method} ${a.route}`, { kind: SpanKind.SERVER, startTime: t.start, attributes }, parent);
    if (a.status >= 500) server.setStatus({ code: SpanStatusCode.ERROR, message: a.code });
    const ctx = trace.setSpan(ROOT_CONTEXT, server);
    let last = t.start;
    const child = (name: string, from: number, to: number, c: Context = ctx) => {
      const s = this.#tracer.startSpan(name, { kind: SpanKind.INTERNAL, startTime: from }, c);
      s.end(to);
      this.ended++;
      if (to > last) last = to;
      return s;
    };
    if (t.bodyAt > 0) child('receive', t.start, t.bodyAt);
    for (let i = 0; i < t.names.length; i++) child(t.names[i], t.starts[i], t.ends[i]);
    if (t.inferStart > 0 && t.inferEnd > 0) {
      const inf = this.#tracer.startSpan('inference', { kind: SpanKind.INTERNAL, startTime: t.inferStart, attributes: { 'hotpath.batch': t.batch, 'hotpath.fallback': t.fallback } }, ctx);
      const ictx = trace.setSpan(ROOT_CONTEXT, inf);
      // queue: from the submit until its batch ran; run: the batch's compute. Measured by the
      // worker (queueUs, computeUs), placed from the submit and kept inside the call.
      if (t.queueUs > 0 || t.computeUs > 0) {
        const ran = Math.min(t.inferStart + t.queueUs / 1000, t.inferEnd);
        child('queue', t.inferStart, ran, ictx);
        child('run', ran, Math.min(ran + t.computeUs / 1000, t.inferEnd), ictx);
      }
      inf.end(t.inferEnd);
      this.ended++;
      if (t.inferEnd > last) last = t.inferEnd;
    }
    if (last > t.start && last < end) child('answer', last, end);
    server.end(end);
    this.ended++;
  }

  /** Makes the queued traces' spans, exports what is queued and stops; waits at most tracing.shutdown_timeout. */
  async shutdown(): Promise<void> {
    clearTimeout(this.#timer);
    this.#flush();
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((r) => {
      timer = setTimeout(r, this.def.shutdownTimeoutMs);
    });
    try {
      await Promise.race([this.#provider.shutdown().catch(() => undefined), limit]);
    } finally {
      clearTimeout(timer);
    }
  }
}
