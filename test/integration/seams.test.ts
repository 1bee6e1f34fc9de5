// The platform's seams on a real server: every ingest source reaches the taps (in order,
// replayable, a failing tap never fails the ingest), the route policy sees each request
// before its body, and a WebSocket client that stops reading is closed instead of growing
// the server's memory.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { loadConfigText } from '../../src/config/load.js';
import type { AppliedBatch } from '../../src/ingest/ingestor.js';
import { HotpathError } from '../../src/errors.js';
import { createStore, type Server, startServer } from '../../src/server/app.js';
import type { RoutePolicy } from '../../src/server/routes/route.js';
import { scopeFor } from '../../src/server/routes/route.js';
import { encodeEvents } from '../../src/server/ws-protocol.js';
import { metric } from '../support/inference-server.js';

const configText = readFileSync(fileURLToPath(new URL('../fixtures/server.yaml', import.meta.url)), 'utf8');
let server: Server | undefined;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await server?.close();
  server = undefined;
});

async function start(extraServer = '', policy?: RoutePolicy, log: (l: string) => void = () => {}): Promise<string> {
  const text = extraServer ? configText.replace('server:\n', `server:\n${extraServer}`) : configText;
  server = await startServer({ config: loadConfigText(text), port: 0, log, policy });
  return `http://127.0.0.1:${server.port}`;
}

function open(base: string): Promise<WebSocket> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const next = (ws: WebSocket) => new Promise<Buffer>((resolve) => ws.once('message', (d) => resolve(d as Buffer)));
const metrics = async (base: string) => (await fetch(`${base}/metrics`)).text();

/** A tap's copy of a batch (the batch itself lives only during the call). */
function copy(b: AppliedBatch): AppliedBatch {
  return b.kind === 'columns'
    ? { ...b, keys: b.keys.map((k) => (k instanceof BigUint64Array ? k.slice() : [...k])), ts: b.ts.slice(), values: b.values.slice() }
    : { ...b, bytes: b.bytes.slice(), plan: b.plan.slice() };
}

describe('ingest taps', () => {
  it('see every source\'s applied batch, in order, and a copy replays to the same features', async () => {
    const base = await start();
    const seen: AppliedBatch[] = [];
    const order: string[] = [];
    server!.ingest.addTap({ name: 'first', onBatch: (b) => (seen.push(copy(b)), order.push('first')) });
    server!.ingest.addTap({ name: 'second', onBatch: () => order.push('second') });
    const t = Date.now();
    const ev = (user: string, amount: number) => ({ stream: 'tx', user_id: user, merchant_id: 'm1', amount, country: 'FR', ts: t });
    expect((await fetch(`${base}/v1/events`, { method: 'POST', body: JSON.stringify([ev('a', 1), ev('b', 2)]) })).status).toBe(200);
    await fetch(`${base}/v1/events?stream=tx`, { method: 'POST', body: `${JSON.stringify({ ...ev('a', 3), stream: undefined })}\n`, headers: { 'content-type': 'application/x-ndjson' } });
    const ws = await open(base);
    ws.send(JSON.stringify({ id: 1, op: 'events', stream: 'tx', events: [ev('c', 4)] }));
    await next(ws);
    const cols = [{ name: 'user_id', type: 'string' }, { name: 'merchant_id', type: 'string' }, { name: 'amount', type: 'number' }, { name: 'country', type: 'string' }, { name: 'ts', type: 'number' }] as const;
    ws.send(encodeEvents(2, 'tx', [...cols], [['a', 'm1', 5, 'FR', t], ['d', 'm2', 6, 'DE', t]]));
    await next(ws);

    expect(seen.map((b) => [b.source, b.kind, b.stream.name, b.accepted])).toEqual([
      ['http', 'columns', 'tx', 2],
      ['http', 'columns', 'tx', 1],
      ['ws', 'columns', 'tx', 1],
      ['ws', 'rows', 'tx', 2],
    ]);
    expect(order).toEqual(['first', 'second', 'first', 'second', 'first', 'second', 'first', 'second']);

    // Replay the copies into a fresh store of the same layout: the same features.
    const replica = createStore(loadConfigText(configText));
    for (const b of seen) {
      if (b.kind === 'columns') replica.ingest(b.stream.index, b.keys, b.ts, b.values, b.nowMs);
      else replica.ingestRows(b.stream.index, b.bytes, b.rowsAt, b.count, b.plan, b.nowMs);
    }
    for (const id of ['a', 'b', 'c', 'd']) {
      const live = await (await fetch(`${base}/v1/features/user/${id}?features=n_1h,sum_1h&at=${t}`)).json();
      const out = new Float64Array(replica.layout(0).width);
      replica.read(0, id, t, out);
      expect(live.features.n_1h, id).toBeGreaterThan(0);
      expect([live.features.n_1h, live.features.sum_1h], id).toEqual([out[replica.layout(0).offsets[0]], out[replica.layout(0).offsets[1]]]);
    }
  });

  it('count and log a tap that throws, and never fail the ingest', async () => {
    const lines: string[] = [];
    const base = await start('', undefined, (l) => lines.push(l));
    let after = 0;
    server!.ingest.addTap({ name: 'broken', onBatch: () => { throw new Error('disk full'); } });
    const remove = server!.ingest.addTap({ name: 'after', onBatch: () => after++ });
    const body = JSON.stringify({ stream: 'tx', user_id: 'x', merchant_id: 'm', amount: 1, country: 'FR', ts: Date.now() });
    for (let i = 0; i < 3; i++) expect(await (await fetch(`${base}/v1/events`, { method: 'POST', body })).json()).toEqual({ accepted: 1, late: 0 });
    expect(after).toBe(3);
    expect(metric(await metrics(base), 'hotpath_ingest_tap_errors_total', 'tap="broken"')).toBe(3);
    expect(lines.filter((l) => l.includes("ingest tap 'broken' failed: disk full"))).toHaveLength(1); // then rate-limited
    remove();
    await fetch(`${base}/v1/events`, { method: 'POST', body });
    expect(after).toBe(3);
  });
});

describe('route policy', () => {
  it('sees the route and its resolved scope before the body, and its refusal is the answer', async () => {
    const asked: string[] = [];
    const policy: RoutePolicy = {
      admit(route, _req, params) {
        const scope = scopeFor(route, params);
        asked.push(scope);
        if (scope === 'admin') throw new HotpathError('HP_ERR_ROUTE_NOT_FOUND', 'admin routes are not exposed here');
      },
    };
    const base = await start('', policy);
    const load = await fetch(`${base}/v2/repository/models/any/load`, { method: 'POST', body: '{}' });
    expect(load.status).toBe(404);
    expect(await load.json()).toEqual({ error: 'admin routes are not exposed here' }); // KServe's shape
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect((await fetch(`${base}/v1/predict/fraud`, { method: 'POST', body: '{}' })).status).toBe(404); // no such model: the route ran
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(asked).toEqual(['admin', 'admin', 'predict:fraud', 'open']);
  });
});

describe('WebSocket backpressure', () => {
  it('closes a client that sends but does not read, once its unsent answers pass the limit', async () => {
    const base = await start('  ws_max_buffered_bytes: 64KiB\n');
    const ws = await open(base);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    // Stop reading: answers pile up in the kernel's buffers, then in uWS's.
    (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const id = 'x'.repeat(60_000); // every answer echoes the id: 60 KB each
    for (let i = 0; i < 600; i++) ws.send(JSON.stringify({ id, op: 'dance' }));
    const deadline = Date.now() + 20_000;
    let closes = 0;
    while (Date.now() < deadline && (closes = metric(await metrics(base), 'hotpath_ws_slow_closes_total')) === 0) await new Promise((r) => setTimeout(r, 50));
    expect(closes).toBe(1);
    // The server dropped the socket; the client learns it once it reads again.
    (ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect([1006, 1008]).toContain(await closed);
    const m = await metrics(base);
    expect(metric(m, 'hotpath_ws_backpressured_connections')).toBe(0);
    // A reading client on the same server is served as usual.
    const ok = await open(base);
    ok.send(JSON.stringify({ id: 7, op: 'dance' }));
    expect(JSON.parse((await next(ok)).toString())).toMatchObject({ id: 7, ok: false, error: { code: 'HP_ERR_WS_FRAME_INVALID' } });
  }, 30_000);
});
