// Idempotent ingest (streams.<name>.dedup, docs/ingest.md#idempotent-ingest) on real
// servers: an event sent again within the horizon (in the same request, a later request, a
// WebSocket frame) is dropped and counted, the answer says how many were; an event without
// its id is refused by name, and binary frames of such a stream are refused; a server
// SIGKILLed under load and restarted on its data directory drops the client's retries of
// what it had acknowledged (the ids survive in the log's folder) and applies the rest once;
// two replicas sharing a Redis stream drop an event posted to both.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { spawnTracked, waitReady } from '../../src/bench/harness.js';
import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { decodeServerFrame, encodeEvents } from '../../src/server/ws-protocol.js';
import { type Counts, countsYaml, expectedCounts, readCounts, T0 } from '../support/counts.js';
import { expectConfigRefused, metric, metricsText, postJson, ROOT, until } from '../support/inference-server.js';
import { freePort, RedisProcess, RUN_REDIS } from '../support/redis.js';

const CONFIG = (extra = '') => `${countsYaml('\n    dedup: { field: event_id, horizon: 10m }')}${extra}`;

type Ev = { event_id: string; user_id: string; ts: number; amount: number };
const ev = (i: number, user = `u${i % 7}`): Ev => ({ event_id: `e${i}`, user_id: user, ts: T0 + i, amount: (i % 5) + 1 });

const servers: Server[] = [];
const dirs: string[] = [];
const redises: RedisProcess[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const r of redises.splice(0)) await r.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(yaml: string): Promise<{ server: Server; base: string; lines: string[] }> {
  const lines: string[] = [];
  const server = await startServer({ config: loadConfigText(yaml), port: 0, host: '127.0.0.1', log: (l) => lines.push(l) });
  servers.push(server);
  return { server, base: `http://127.0.0.1:${server.port}`, lines };
}

const read = (base: string, users: string[]): Promise<Counts> => readCounts(base, users);

async function expectOnce(base: string, events: Ev[]): Promise<void> {
  const want = expectedCounts(events);
  const got = await read(base, [...want.keys()]);
  for (const [u, w] of want) expect(got.get(u), u).toEqual(w);
}

describe('idempotent ingest: streams.<name>.dedup', () => {
  it('drops an event sent again, within a request and across requests and frames, and says how many', async () => {
    const { base } = await start(CONFIG());
    const first = [ev(1), ev(2), ev(3), ev(2)]; // e2 twice in one request
    const a = await postJson(base, '/v1/events', first);
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ accepted: 3, late: 0, duplicates: 1 });
    const b = await postJson(base, '/v1/events', [ev(3), ev(4), ev(1)]); // a retry that overlaps
    expect(b.body).toEqual({ accepted: 1, late: 0, duplicates: 2 });
    const c = await postJson(base, '/v1/events', [ev(1)]); // all of it seen: nothing applied
    expect(c.body).toEqual({ accepted: 0, late: 0, duplicates: 1 });
    // integer ids are ids too ("5" and 5 are the same id, as for entity keys)
    const d = await postJson(base, '/v1/events', [{ ...ev(5), event_id: 5 }, { ...ev(5), event_id: '5' }]);
    expect(d.body).toEqual({ accepted: 1, late: 0, duplicates: 1 });
    // NDJSON and a WebSocket JSON frame go through the same window
    const nd = await fetch(`${base}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: [ev(4), ev(6)].map((e) => JSON.stringify(e)).join('\n') });
    expect(await nd.json()).toEqual({ accepted: 1, late: 0, duplicates: 1 });
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
    sockets.push(ws);
    await new Promise((r) => ws.once('open', r));
    const answer = new Promise<Record<string, unknown>>((r) => ws.once('message', (m) => r(JSON.parse(m.toString()))));
    ws.send(JSON.stringify({ id: 7, op: 'events', events: [ev(6), ev(7)] }));
    expect(await answer).toMatchObject({ id: 7, ok: true, accepted: 1, duplicates: 1 });

    await expectOnce(base, [1, 2, 3, 4, 5, 6, 7].map((i) => ev(i)));
    const text = await metricsText(base);
    expect(metric(text, 'hotpath_events_duplicate_total', 'stream="tx",source="http"')).toBe(6);
    expect(metric(text, 'hotpath_events_duplicate_total', 'stream="tx",source="ws"')).toBe(1);
  });

  it('refuses an event without its id (by name) and binary frames of the stream; nothing of the request is applied', async () => {
    const { base } = await start(CONFIG());
    const { event_id: _, ...noId } = ev(2);
    const a = await postJson(base, '/v1/events', [ev(1), noId]);
    expect(a.status).toBe(400);
    expect(a.body.error.code).toBe('HP_ERR_EVENT_INVALID');
    expect(a.body.error.message).toContain("event 1: missing event id field 'event_id'");
    const b = await postJson(base, '/v1/events', [{ ...ev(1), event_id: '' }]);
    expect(b.body.error.code).toBe('HP_ERR_ID_INVALID');
    // the refused request applied nothing, and its good event's id was not kept: it is accepted now
    expect((await postJson(base, '/v1/events', [ev(1)])).body).toEqual({ accepted: 1, late: 0, duplicates: 0 });

    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
    sockets.push(ws);
    await new Promise((r) => ws.once('open', r));
    const answer = new Promise<Buffer>((r) => ws.once('message', (m) => r(m as Buffer)));
    ws.send(encodeEvents(3, 'tx', [{ name: 'user_id', type: 'string' }, { name: 'ts', type: 'number' }, { name: 'amount', type: 'number' }], [['u1', T0, 1]]));
    const f = decodeServerFrame(new Uint8Array(await answer));
    expect(f).toMatchObject({ op: 'error', code: 'HP_ERR_EVENT_INVALID' });
    expect((f as { message: string }).message).toContain('binary frames carry no event id');
    await expectOnce(base, [ev(1)]);
  });

  it('config: a bad dedup section names the field', () => {
    const bad = (dedup: string, path: string, why: RegExp) => expectConfigRefused(() => loadConfigText(CONFIG().replace('dedup: { field: event_id, horizon: 10m }', dedup)), path, why);
    bad('dedup: { horizon: 10m }', '/streams/tx/dedup', /field/);
    bad('dedup: { field: event_id, horizon: 100ms }', '/streams/tx/dedup/horizon', /between 1s and 7d/);
    bad('dedup: { field: ts }', '/streams/tx/dedup/field', /time field/);
    bad('dedup: { field: event_id, max_ids: 0 }', '/streams/tx/dedup/max_ids', />= 1|minimum|must be/);
    bad('dedup: { field: event_id, size: 3 }', '/streams/tx/dedup', /size/);
  });

  it('a server SIGKILLed under load and restarted on its data directory drops the retries of what it acknowledged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-dedup-'));
    dirs.push(dir);
    const cfgPath = join(dir, 'hotpath.yaml');
    writeFileSync(cfgPath, CONFIG('durability: { fsync: always, snapshot_interval: 0 }'));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const launch = async () => {
      const p = spawnTracked('hotpath dedup', process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', cfgPath, '--port', String(port), '--data-dir', join(dir, 'data')], { cwd: ROOT });
      await waitReady(`${base}/readyz`, { proc: p, ok200: true, timeoutMs: 60_000 });
      return p;
    };
    let proc = await launch();
    // Clients send batches of new events; every batch is sent until it is acknowledged,
    // as a client does after a timeout or a refused connection.
    let next = 0;
    let stop = false;
    const sent: Ev[] = [];
    let retried = 0;
    let dropped = 0;
    const client = async () => {
      while (!stop) {
        const batch = Array.from({ length: 5 }, () => ev(next++, `k${next % 13}`));
        sent.push(...batch);
        for (let attempt = 0; ; attempt++) {
          const r = await fetch(`${base}/v1/events`, { method: 'POST', body: JSON.stringify(batch) }).then((x) => (x.ok ? x.json() : undefined)).catch(() => undefined);
          if (r) {
            dropped += (r as { duplicates: number }).duplicates;
            if (attempt > 0) retried++;
            break;
          }
          await new Promise((res) => setTimeout(res, 30));
        }
      }
    };
    const loops = [client(), client()];
    try {
      for (let k = 0; k < 2; k++) {
        await new Promise((r) => setTimeout(r, 500));
        proc.child.kill('SIGKILL');
        await new Promise((r) => proc.child.once('exit', r));
        proc = await launch();
      }
      await new Promise((r) => setTimeout(r, 300));
      stop = true;
      await Promise.all(loops);
      // every event sent is in the state exactly once: the batches the dead process had
      // made durable were dropped when retried, the others applied by the retry
      await expectOnce(base, sent);
      console.log(`dedup across 2 SIGKILLs: ${sent.length} events, ${retried} batches retried, ${dropped} retried events dropped as already applied`);
    } finally {
      stop = true;
      await Promise.all(loops);
      await proc.stop();
    }
  }, 120_000);

  it.skipIf(!RUN_REDIS)('two replicas sharing a Redis stream drop an event posted to both', async () => {
    const rd = await RedisProcess.start();
    redises.push(rd);
    const shared = (name: string) => `ingest:\n  redis_streams:\n    url: ${rd.url}\n    key: "{dd}:events"\n    replica: ${name}\n    block: 200ms\n    ack_timeout: 500ms\n`;
    const a = await start(CONFIG(shared('a')));
    const b = await start(CONFIG(shared('b')));
    const first = [ev(1), ev(2), ev(3)];
    expect((await postJson(a.base, '/v1/events', first)).body).toEqual({ accepted: 3, late: 0, duplicates: 0, shared: true });
    // b applied them from the stream, ids included: the client's retry to b is dropped there
    await until(async () => (await read(b.base, ['u1'])).get('u1')?.n === 1);
    expect((await postJson(b.base, '/v1/events', [ev(2), ev(4)])).body).toEqual({ accepted: 1, late: 0, duplicates: 1, shared: true });
    // and e4, posted to b, reaches a once; a retry of it to a is dropped too
    await until(async () => (await read(a.base, ['u4'])).get('u4')?.n === 1);
    // (nothing of it was appended: an answer whose events were all dropped has no `shared`)
    expect((await postJson(a.base, '/v1/events', [ev(4)])).body).toEqual({ accepted: 0, late: 0, duplicates: 1 });
    const all = [1, 2, 3, 4].map((i) => ev(i));
    await new Promise((r) => setTimeout(r, 300));
    await expectOnce(a.base, all);
    await expectOnce(b.base, all);
  }, 30_000);
});
