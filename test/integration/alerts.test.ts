// Alerts end to end: a real server on port 0 with alert rules and four webhooks pointing at
// a real node:http receiver this test runs (one that answers, one that is down, one slower
// than its timeout, one that never answers with a queue of 2). Alerts are raised through
// the hub the server exposes (as detectors will, through ctx.alerts) and must reach
// GET /v1/alerts, a WebSocket subscriber and the webhooks; the failing webhooks retry, time
// out, drop and count, and the server keeps answering reads meanwhile. With auth on,
// GET /v1/alerts and the subscription need alerts:read, and a subscriber whose key is
// removed is unsubscribed.
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import type { Alert } from '../../src/alerts/hub.js';
import type { Server } from '../../src/server/app.js';
import { metric, metricsText, postJson, STORE_YAML, startWith, until } from '../support/inference-server.js';
import { ask, call, KEY_SCOPES, openWs, type Secured, startSecured, writeKeys } from '../support/security.js';

interface Hit {
  path: string;
  body: Alert;
  headers: IncomingMessage['headers'];
  at: number;
}

/** The webhook receiver: /ok answers 204, /slow answers after 400 ms, /hang never. */
class Receiver {
  readonly hits: Hit[] = [];
  readonly #hanging: ServerResponse[] = [];
  readonly http: HttpServer;
  port = 0;

  constructor() {
    this.http = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.hits.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')), headers: req.headers, at: performance.now() });
        if (req.url === '/ok') res.writeHead(204).end();
        else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 400).unref();
        else this.#hanging.push(res);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', r));
    this.port = (this.http.address() as AddressInfo).port;
    return this;
  }

  on(path: string): Hit[] {
    return this.hits.filter((h) => h.path === path);
  }

  async close(): Promise<void> {
    for (const r of this.#hanging) r.destroy();
    this.http.closeAllConnections();
    await new Promise((r) => this.http.close(r));
  }
}

/** A port nothing listens on: connections to it are refused. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const alertsYaml = (port: number, dead: number) => `
alerts:
  keep: 100
  rules:
    - { name: fraud_high, source: anomaly.fraud, above: 0.9, clear: 0.5, per_entity: true, severity: critical }
    - { name: drift, source: "drift.*", cooldown: 1m }
  webhooks:
    - { name: ok, url: "http://127.0.0.1:${port}/ok", timeout: 2s, retries: 0, headers: { X-Team: fraud-ops } }
    - { name: down, url: "http://127.0.0.1:${dead}/hook", timeout: 1s, retries: 2, backoff: 100ms }
    - { name: slow, url: "http://127.0.0.1:${port}/slow", timeout: 100ms, retries: 1, backoff: 20ms }
    - { name: tiny, url: "http://127.0.0.1:${port}/hang", timeout: 1h, retries: 0, queue: 2 }
`;

/** A WebSocket that collects every JSON message it gets. */
async function subscriber(base: string, auth?: string): Promise<{ ws: WebSocket; got: any[] }> {
  const ws = await openWs(base, { auth });
  if (typeof ws === 'number') throw new Error(`upgrade refused: ${ws}`);
  const got: any[] = [await ask(ws, JSON.stringify({ id: 's1', op: 'subscribe', topic: 'alerts' }))];
  ws.on('message', (d) => got.push(JSON.parse(d.toString())));
  return { ws, got };
}

describe('alerts on a real server', () => {
  let rx: Receiver;
  let server: Server;
  let base: string;
  /** when the first test raised its first alert */
  let raisedAt = 0;

  beforeAll(async () => {
    rx = await new Receiver().start();
    ({ server, base } = await startWith(process.cwd(), `server: { workers: 1 }\n${STORE_YAML}\n${alertsYaml(rx.port, await deadPort())}`));
  });
  afterAll(async () => {
    await server?.close();
    await rx?.close();
  });

  it('reaches GET /v1/alerts, a WebSocket subscriber and the webhook, as the same JSON', async () => {
    const sub = await subscriber(base);
    expect(sub.got[0]).toEqual({ id: 's1', ok: true, op: 'subscribe', topic: 'alerts' });
    expect((await fetch(`${base}/metrics`).then((r) => r.text())).match(/^hotpath_alert_subscribers 1$/m)).not.toBeNull();

    server.alerts.observe('anomaly.fraud', 0.3, 'u1'); // in range: nothing
    raisedAt = performance.now();
    server.alerts.observe('anomaly.fraud', 0.97, 'u1');
    server.alerts.observe('anomaly.fraud', 0.2, 'u1');
    server.alerts.raise({ source: 'drift.user.amount', value: 0.31, message: 'PSI 0.31 on user.amount' });
    server.alerts.raise({ source: 'drift.user.amount', value: 0.4 }); // within the drift rule's cooldown

    const page = (await (await fetch(`${base}/v1/alerts`)).json()) as { alerts: Alert[]; next: number; missed: number };
    expect(page.alerts.map((a) => `${a.rule}/${a.state}`)).toEqual(['fraud_high/firing', 'fraud_high/resolved', 'drift/event']);
    expect(page.alerts[0]).toMatchObject({ source: 'anomaly.fraud', entity: 'u1', severity: 'critical', value: 0.97, threshold: 0.9 });
    expect(page.alerts[1]).toMatchObject({ value: 0.2, threshold: 0.5 });
    expect(page.alerts[2]).toMatchObject({ severity: 'warning', value: 0.31, threshold: null, message: 'PSI 0.31 on user.amount' });
    expect(page.next).toBe(page.alerts[2].id);
    expect(page.alerts[1].id).toBe(page.alerts[0].id + 1);

    const after = (await (await fetch(`${base}/v1/alerts?since=${page.alerts[0].id}&limit=1`)).json()) as { alerts: Alert[]; next: number };
    expect(after.alerts.map((a) => a.id)).toEqual([page.alerts[1].id]);
    expect(after.next).toBe(page.alerts[1].id);

    await until(() => sub.got.length === 4);
    expect(sub.got.slice(1)).toEqual(page.alerts.map((alert) => ({ topic: 'alerts', alert })));
    await until(() => rx.on('/ok').length === 3);
    expect(rx.on('/ok').map((h) => h.body)).toEqual(page.alerts);
    expect(rx.on('/ok')[0].headers).toMatchObject({ 'content-type': 'application/json', 'x-team': 'fraud-ops' });

    // Unsubscribed: nothing more arrives.
    expect(await ask(sub.ws, JSON.stringify({ id: 's2', op: 'unsubscribe', topic: 'alerts' }))).toEqual({ id: 's2', ok: true, op: 'unsubscribe', topic: 'alerts' });
    server.alerts.raise({ source: 'learner.fraud.reset' });
    await until(() => rx.on('/ok').length === 4);
    expect(sub.got).toHaveLength(5); // the unsubscribe answer only
    expect(await ask(sub.ws, JSON.stringify({ id: 3, op: 'subscribe', topic: 'news' }))).toMatchObject({ id: 3, ok: false, error: { code: 'HP_ERR_WS_FRAME_INVALID' } });
    sub.ws.close();

    const m = await metricsText(base);
    expect(metric(m, 'hotpath_alerts_total', 'rule="fraud_high",state="firing"')).toBe(1);
    expect(metric(m, 'hotpath_alerts_total', 'rule="drift",state="event"')).toBe(1);
    expect(metric(m, 'hotpath_alerts_total', 'rule="",state="event"')).toBe(1);
    expect(metric(m, 'hotpath_alerts_suppressed_total', 'rule="drift"')).toBe(1);
    expect(metric(m, 'hotpath_alert_webhook_deliveries_total', 'webhook="ok",outcome="delivered"')).toBe(4);
  });

  it('refuses a since or limit that is not an integer', async () => {
    for (const q of ['since=abc', 'since=-1', 'since=1.5', 'limit=0', 'limit=x', 'limit=100000']) {
      const r = await fetch(`${base}/v1/alerts?${q}`);
      expect(r.status, q).toBe(400);
      expect(((await r.json()) as any).error.code, q).toBe('HP_ERR_QUERY_INVALID');
    }
  });

  it('retries a webhook that is down with backoff, then counts a failure', async () => {
    const down = server.alerts.webhooks.find((w) => w.def.name === 'down')!;
    // Every alert so far (4) had its chain: 1 attempt + 2 retries, refused each time.
    await until(() => down.stats.failed === 4, 10_000);
    // One at a time, each waiting at least half of 100 ms then of 200 ms (the jitter) between its attempts.
    expect(performance.now() - raisedAt).toBeGreaterThanOrEqual(4 * (50 + 100));
    expect(down.stats).toMatchObject({ delivered: 0, failed: 4, retries: 8, dropped: 0 });
    const m = await metricsText(base);
    expect(metric(m, 'hotpath_alert_webhook_deliveries_total', 'webhook="down",outcome="failed"')).toBe(4);
    expect(metric(m, 'hotpath_alert_webhook_retries_total', 'webhook="down"')).toBe(8);
  });

  it('times out a slow webhook and retries it: the receiver sees each alert twice', async () => {
    const slow = server.alerts.webhooks.find((w) => w.def.name === 'slow')!;
    await until(() => slow.stats.failed === 4, 10_000);
    expect(slow.stats).toMatchObject({ delivered: 0, failed: 4, retries: 4 });
    const ids = rx.on('/slow').map((h) => h.body.id);
    expect(ids).toHaveLength(8);
    expect(new Set(ids).size).toBe(4); // the same alert (same id) on both attempts
    // One alert at a time, each: a 100 ms timeout, a backoff of 10..20 ms, a 100 ms timeout.
    expect(performance.now() - raisedAt).toBeGreaterThanOrEqual(4 * 210);
  });

  it('drops and counts alerts past a full queue, and keeps answering reads and events meanwhile', async () => {
    const tiny = server.alerts.webhooks.find((w) => w.def.name === 'tiny')!;
    // The first alert hangs in flight; two wait; every later one pushes the oldest out.
    expect(rx.on('/hang')).toHaveLength(1);
    expect(tiny.depth).toBe(2);
    const before = tiny.stats.dropped;
    expect(before).toBe(1); // 4 alerts: 1 in flight, 2 queued, 1 dropped
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) server.alerts.observe('anomaly.fraud', 0.99, `e${i}`); // 50 firings
    expect(performance.now() - t0).toBeLessThan(200);
    expect(tiny.stats.dropped).toBe(before + 50);
    expect(tiny.depth).toBe(2);
    const m = await metricsText(base);
    expect(metric(m, 'hotpath_alert_webhook_deliveries_total', 'webhook="tiny",outcome="dropped"')).toBe(before + 50);
    expect(metric(m, 'hotpath_alert_webhook_queue_depth', 'webhook="tiny"')).toBe(2);

    // A hanging webhook, a down one and a slow one (now retrying 50 more alerts) hold up nothing.
    const ev = await postJson(base, '/v1/events?stream=tx', { user_id: 'u9', merchant_id: 'm1', amount: 5, country: 'FR', ts: Date.now() });
    expect(ev.status).toBe(200);
    for (let i = 0; i < 20; i++) {
      const s = performance.now();
      const r = await fetch(`${base}/v1/features/user/u9`);
      expect(r.status).toBe(200);
      expect(((await r.json()) as any).features.txn_count_1h).toBe(1);
      expect(performance.now() - s).toBeLessThan(250);
    }
  });
});

describe('alerts at shutdown', () => {
  it('lets the webhook queues drain for alerts.drain_timeout, then drops what is left', async () => {
    const rx = await new Receiver().start();
    const yaml = `server: { workers: 1 }\n${STORE_YAML}
alerts:
  drain_timeout: 300ms
  webhooks:
    - { name: ok, url: "http://127.0.0.1:${rx.port}/ok" }
    - { name: hang, url: "http://127.0.0.1:${rx.port}/hang", timeout: 1h }
`;
    const { server } = await startWith(process.cwd(), yaml);
    try {
      for (let i = 0; i < 3; i++) server.alerts.raise({ source: 'learner.reset', value: i });
      const t0 = performance.now();
      await server.shutdown();
      const ms = performance.now() - t0;
      expect(rx.on('/ok').map((h) => h.body.value)).toEqual([0, 1, 2]);
      const [ok, hang] = server.alerts.webhooks;
      expect(ok.stats).toMatchObject({ delivered: 3, failed: 0, dropped: 0 });
      expect(hang.stats).toMatchObject({ delivered: 0, failed: 1, dropped: 2 }); // in flight at the deadline; still queued
      expect(ms).toBeGreaterThanOrEqual(290);
      expect(ms).toBeLessThan(5000);
    } finally {
      await server.close();
      await rx.close();
    }
  });
});

describe('alerts with auth on', () => {
  let s: Secured | undefined;
  afterEach(async () => {
    await s?.server.close();
    s = undefined;
  });

  it('needs alerts:read for GET /v1/alerts and the subscription; a removed key is unsubscribed', async () => {
    s = await startSecured();
    const { keys, base } = s;
    expect((await call(base, 'GET', '/v1/alerts')).code).toBe('HP_ERR_AUTH_REQUIRED');
    expect((await call(base, 'GET', '/v1/alerts', keys.features)).code).toBe('HP_ERR_AUTH_FORBIDDEN');
    expect((await call(base, 'GET', '/v1/alerts', keys.alerts)).status).toBe(200);
    expect((await call(base, 'GET', '/v1/alerts', keys.admin)).status).toBe(200);

    const ev = await openWs(base, { auth: keys.events });
    if (typeof ev === 'number') throw new Error(`upgrade refused: ${ev}`);
    expect((await ask(ev, JSON.stringify({ id: 1, op: 'subscribe', topic: 'alerts' }))).error.code).toBe('HP_ERR_AUTH_FORBIDDEN');
    ev.close();

    const sub = await subscriber(base, keys.alerts); // alerts:read alone may open the socket
    expect(sub.got[0]).toMatchObject({ ok: true });
    s.server.alerts.raise({ source: 'drift.x' });
    await until(() => sub.got.length === 2);
    expect(sub.got[1].alert).toMatchObject({ source: 'drift.x', state: 'event' });

    const kept = { admin: keys.admin };
    writeKeys(s.dir, kept, { admin: KEY_SCOPES.admin });
    await s.server.reloadCredentials();
    s.server.alerts.raise({ source: 'drift.y' });
    await until(() => sub.got.length === 3);
    expect(sub.got[2]).toMatchObject({ id: null, ok: false, topic: 'alerts', error: { code: 'HP_ERR_AUTH_INVALID' } });
    s.server.alerts.raise({ source: 'drift.z' });
    await new Promise((r) => setTimeout(r, 100));
    expect(sub.got).toHaveLength(3);
    sub.ws.close();
  }, 60_000);
});
