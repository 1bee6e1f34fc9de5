// Tracing in a running server (tracing:, docs/operations.md "Traces and logs"): a local
// OTLP/HTTP receiver gets the spans; each request's SERVER span is the child of the
// client's traceparent and the parent of its stages; the answer's traceparent names the
// server span; sample_ratio 0 and 1, and an incoming sampled flag, decide; an unreachable
// collector fails nothing; shutdown sends what is queued.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { FRAUD_V1, makeRepo, metric, oneModelYaml, until } from '../support/inference-server.js';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const sampled = (trace = TRACE) => `00-${trace}-${PARENT}-01`;

let repo: string;
let rx: OtlpReceiver | undefined;
let server: Server | undefined;

beforeAll(() => {
  repo = makeRepo({ fraud: { 1: FRAUD_V1 } });
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await rx?.close();
  rx = undefined;
});

async function start(tracing: string, lines: string[] = [], extra = ''): Promise<string> {
  const yaml = `${oneModelYaml('fraud')}\ntracing: ${tracing}\n${extra}`;
  server = await startServer({ config: loadConfigText(yaml, { baseDir: repo }), port: 0, host: '127.0.0.1', log: (l) => lines.push(l) });
  return `http://127.0.0.1:${server.port}`;
}

const on = (ratio: number, interval = '20ms') => `{ enabled: true, sample_ratio: ${ratio}, endpoint: "${rx!.url}", export_interval: ${interval} }`;

/** the answer's traceparent as [trace id, span id] */
function answerParent(r: Response): [string, string] {
  const h = r.headers.get('traceparent');
  expect(h).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  return [h!.slice(3, 35), h!.slice(36, 52)];
}

/** The spans of a trace once the server span and `n` spans in all have arrived. */
async function spansOf(traceId: string, n: number): Promise<ReceivedSpan[]> {
  await until(() => rx!.trace(traceId).length >= n, 5000);
  return rx!.trace(traceId);
}

/** Checks the chain: one SERVER span, under `parent` (or a root), and every other span below it; returns the server span and its children by name. */
function chain(spans: ReceivedSpan[], serverId: string, parent: string) {
  const srv = spans.filter((s) => s.kind === 2);
  expect(srv).toHaveLength(1);
  const root = srv[0];
  expect(root.spanId).toBe(serverId);
  expect(root.parentSpanId).toBe(parent);
  expect(root.service).toBe('hotpath');
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  for (const s of spans) {
    if (s === root) continue;
    // every span's ancestry reaches the server span, and lies within it in time
    let p = byId.get(s.parentSpanId);
    while (p !== undefined && p !== root) p = byId.get(p.parentSpanId);
    expect(p, `${s.name} is not under the server span`).toBe(root);
    expect(s.startNs >= root.startNs && s.endNs <= root.endNs, `${s.name} lies outside the server span`).toBe(true);
    expect(s.endNs >= s.startNs).toBe(true);
  }
  const children = new Map(spans.filter((s) => s.parentSpanId === root.spanId).map((s) => [s.name, s]));
  return { root, children };
}

describe('tracing', () => {
  it('a feature read with a sampled traceparent: server span under the client\'s, its stages under it, the answer names it', async () => {
    rx = await OtlpReceiver.start();
    const base = await start(on(0));
    const r = await fetch(`${base}/v1/features/user/u1`, { headers: { traceparent: sampled(), tracestate: 'vendor=abc' } });
    expect(r.status).toBe(200);
    const [traceId, spanId] = answerParent(r);
    expect(traceId).toBe(TRACE); // the client's trace, continued
    expect(spanId).not.toBe(PARENT);
    expect(r.headers.get('x-request-id')).toBe(TRACE); // no client id: the trace id is the request id
    const { root, children } = chain(await spansOf(TRACE, 4), spanId, PARENT);
    expect(root.name).toBe('GET /v1/features/:entity/:id');
    expect(root.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.route': '/v1/features/:entity/:id', 'http.response.status_code': 200, 'hotpath.entity': 'user' });
    expect(root.traceState).toBe('vendor=abc');
    expect([...children.keys()].sort()).toEqual(['answer', 'feature_store.read', 'parse']);
    // the stages follow each other
    expect(children.get('parse')!.endNs <= children.get('feature_store.read')!.startNs).toBe(true);
    expect(children.get('feature_store.read')!.endNs <= children.get('answer')!.startNs).toBe(true);
    expect(rx.contentTypes[0]).toBe('application/json');
  });

  it('a predict: parse, inference with its queue and run, answer; POST /v1/features and events too', async () => {
    rx = await OtlpReceiver.start();
    const base = await start(on(1));
    const ev = await fetch(`${base}/v1/events`, { method: 'POST', body: JSON.stringify({ user_id: 'u1', merchant_id: 'm1', ts: Date.now(), amount: 5, country: 'FR' }) });
    expect(ev.status).toBe(200);
    const [evTrace, evSpan] = answerParent(ev);
    expect(evTrace).not.toBe(TRACE);
    const e = chain(await spansOf(evTrace, 6), evSpan, ''); // a new trace: the server span is a root
    expect(e.root.name).toBe('POST /v1/events');
    expect([...e.children.keys()].sort()).toEqual(['answer', 'durable', 'ingest', 'parse', 'receive']);

    const p = await fetch(`${base}/v1/predict/fraud`, { method: 'POST', body: JSON.stringify({ entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 10 } }), headers: { traceparent: sampled('0af7651916cd43dd8448eb211c80319c') } });
    expect(p.status).toBe(200);
    const [pTrace, pSpan] = answerParent(p);
    expect(pTrace).toBe('0af7651916cd43dd8448eb211c80319c');
    const spans = await spansOf(pTrace, 7);
    const { root, children } = chain(spans, pSpan, PARENT);
    expect(root.attributes).toMatchObject({ 'http.route': '/v1/predict/:model', 'http.response.status_code': 200, 'hotpath.model': 'fraud' });
    expect([...children.keys()].sort()).toEqual(['answer', 'inference', 'parse', 'receive']);
    const inference = children.get('inference')!;
    expect(inference.attributes['hotpath.batch']).toBeGreaterThanOrEqual(1);
    const under = spans.filter((s) => s.parentSpanId === inference.spanId).map((s) => s.name);
    expect(under).toEqual(expect.arrayContaining(['queue', 'run']));
    const queue = spans.find((s) => s.name === 'queue')!;
    const run = spans.find((s) => s.name === 'run')!;
    expect(queue.endNs).toBe(run.startNs);

    const kf = await fetch(`${base}/v1/features`, { method: 'POST', body: JSON.stringify({ entity: 'user', ids: ['u1', 'u2'] }) });
    const [kTrace, kSpan] = answerParent(kf);
    const k = chain(await spansOf(kTrace, 5), kSpan, '');
    expect([...k.children.keys()].sort()).toEqual(['answer', 'feature_store.read', 'parse', 'receive']);

    // KServe infer: its inference is traced the same way
    const meta = await (await fetch(`${base}/v2/models/fraud`)).json();
    const width = meta.inputs[0].shape[1];
    const ks = await fetch(`${base}/v2/models/fraud/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: meta.inputs[0].name, datatype: 'FP32', shape: [1, width], data: Array.from({ length: width }, () => 0.5) }] }) });
    expect(ks.status).toBe(200);
    const [ksTrace, ksSpan] = answerParent(ks);
    const kk = chain(await spansOf(ksTrace, 5), ksSpan, '');
    expect(kk.root.attributes['http.route']).toBe('/v2/models/:model/infer');
    expect(kk.children.has('inference')).toBe(true);
  });

  it('sample_ratio 0 traces nothing but a sampled parent; 1 traces all but an unsampled parent; a bad header starts a new trace', async () => {
    rx = await OtlpReceiver.start();
    let base = await start(on(0));
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${base}/v1/features/user/u${i}`);
      expect(r.headers.get('traceparent')).toBeNull();
      expect(r.headers.get('x-request-id')).toBeNull(); // nothing to quote: no line, no trace
    }
    const bad = await fetch(`${base}/v1/features/user/u1`, { headers: { traceparent: `00-${TRACE.toUpperCase()}-${PARENT}-01` } });
    expect(bad.headers.get('traceparent')).toBeNull(); // ignored: a new trace, and ratio 0 says no
    const yes = await fetch(`${base}/v1/features/user/u1`, { headers: { traceparent: sampled() } });
    expect(answerParent(yes)[0]).toBe(TRACE);
    await spansOf(TRACE, 4);
    await server!.close();
    server = undefined;
    expect(new Set(rx.spans.map((s) => s.traceId))).toEqual(new Set([TRACE]));

    base = await start(on(1));
    const no = await fetch(`${base}/v1/features/user/u1`, { headers: { traceparent: `00-${TRACE}-${PARENT}-00` } });
    expect(no.status).toBe(200);
    expect(no.headers.get('traceparent')).toBeNull(); // the caller said not sampled: honoured
    const invalid = await fetch(`${base}/v1/features/user/u1`, { headers: { traceparent: `00-${'0'.repeat(32)}-${PARENT}-01` } });
    const [newTrace] = answerParent(invalid); // ratio 1: a new trace
    expect(newTrace).not.toBe('0'.repeat(32));
    const plain = await fetch(`${base}/v1/features/user/u2`);
    answerParent(plain);
    await spansOf(newTrace, 4);
    expect(rx.spans.filter((s) => s.kind === 2 && s.parentSpanId === PARENT && s.traceId === TRACE)).toHaveLength(1); // only the first server's
  });

  it('an error answer is a span with its status and code, and the client\'s x-request-id comes back', async () => {
    rx = await OtlpReceiver.start();
    const base = await start(on(1), [], 'logging: { request_id_header: true }\n');
    const r = await fetch(`${base}/v1/features/nobody/u1`, { headers: { 'x-request-id': 'client-req-7' } });
    expect(r.status).toBe(404);
    expect(r.headers.get('x-request-id')).toBe('client-req-7');
    const [traceId, spanId] = answerParent(r);
    const { root } = chain(await spansOf(traceId, 1), spanId, '');
    expect(root.attributes).toMatchObject({ 'http.response.status_code': 404, 'error.type': 'HP_ERR_ENTITY_UNKNOWN' });
  });

  it('an unreachable collector fails no request: exports fail, are counted and logged once', async () => {
    rx = await OtlpReceiver.start();
    const url = rx.url;
    await rx.close(); // nothing listens there now
    rx = undefined;
    const lines: string[] = [];
    const base = await start(`{ enabled: true, sample_ratio: 1, endpoint: "${url}", export_interval: 20ms, export_timeout: 500ms }`, lines);
    for (let i = 0; i < 30; i++) expect((await fetch(`${base}/v1/features/user/u${i}`)).status).toBe(200);
    await until(async () => metric(await (await fetch(`${base}/metrics`)).text(), 'hotpath_trace_spans_total', 'outcome="failed"') > 0, 5000);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(metric(text, 'hotpath_trace_spans_total', 'outcome="ended"')).toBeGreaterThanOrEqual(30 * 4);
    expect(metric(text, 'hotpath_trace_spans_total', 'outcome="exported"')).toBe(0);
    expect(lines.filter((l) => l.startsWith('tracing: export to'))).toHaveLength(1);
  });

  it('shutdown sends the spans still queued', async () => {
    rx = await OtlpReceiver.start();
    const base = await start(on(1, '10m'));
    const r = await fetch(`${base}/v1/features/user/u1`);
    const [traceId] = answerParent(r);
    await new Promise((ok) => setTimeout(ok, 100));
    expect(rx.trace(traceId)).toHaveLength(0); // ten minutes until the next export
    await server!.shutdown({ drainTimeoutMs: 1000 });
    server = undefined;
    expect(rx.trace(traceId).length).toBeGreaterThanOrEqual(4);
  });

  it('tracing off: no traceparent or x-request-id read or answered, no trace metric', async () => {
    const base = await start('{ enabled: false }');
    const r = await fetch(`${base}/v1/features/user/u1`, { headers: { traceparent: sampled(), 'x-request-id': 'not-read' } });
    expect(r.headers.get('traceparent')).toBeNull();
    expect(r.headers.get('x-request-id')).toBeNull(); // logging.request_id_header is off by default: not read
    expect(await (await fetch(`${base}/metrics`)).text()).not.toContain('hotpath_trace_spans_total');
  });
});
