// Durability on a real server with a data directory: acknowledged events survive a
// restart (log replay, snapshot + log, graceful shutdown), a snapshot taken under ingest is
// a consistent cut, a torn log tail is cut with a log line, another feature layout is
// refused by name (and --discard-state begins empty), old log segments go once a snapshot
// covers them, readiness is false while the log is replayed, and a full disk refuses
// ingest with a code while reads keep serving and nothing acknowledged is lost.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { encodeEvents } from '../../src/server/ws-protocol.js';
import { decodeServerFrame } from '../../src/server/ws-protocol.js';
import { FRAUD_V1, FRAUD_V2, getJson, makeRepo, metric, oneModelYaml, postJson } from '../support/inference-server.js';

const CONFIG = (extra = '') => `
server: { workers: 1 }
durability: { fsync: always, snapshot_interval: 0 ${extra} }
streams:
  tx:
    keys: { user: user_id, merchant: merchant_id }
    time_field: ts
    allowed_lateness: 1h
    fields: { amount: number, country: category }
entities:
  user:
    memory: 8MiB
    shards: 4
    features:
      n_1d:     { agg: count, window: 1d, tile: 1h }
      sum_1d:   { agg: sum, field: amount, window: 1d, tile: 1h }
      last:     { agg: last, field: amount }
      last_3:   { agg: last_n, field: amount, n: 3 }
      places:   { agg: distinct, field: country, window: 1d, tile: 1h }
  merchant:
    memory: 8MiB
    shards: 4
    features:
      n_1d:     { agg: count, window: 1d, tile: 1h }
`;

let server: Server | undefined;
const dirs: string[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await server?.close();
  server = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'hotpath-data-'));
  dirs.push(d);
  return d;
}

async function start(dir: string, extra = '', log: (l: string) => void = () => {}, opts: { discardState?: boolean; configText?: string } = {}) {
  server = await startServer({ config: loadConfigText(opts.configText ?? CONFIG(extra)), port: 0, host: '127.0.0.1', log, dataDir: dir, discardState: opts.discardState });
  return `http://127.0.0.1:${server.port}`;
}

const event = (user: string, amount: number, ts = Date.now()) => ({ user_id: user, merchant_id: `m${amount % 3}`, amount, country: `c${amount % 5}`, ts });

async function features(base: string, users: string[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const u of users) {
    const r = await getJson(base, `/v1/features/user/${u}?features=n_1d,sum_1d,last,last_3,places`);
    out.push((r.body as { features: unknown }).features);
  }
  return out;
}

function openWs(base: string): Promise<WebSocket> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Sends a binary EVENTS frame and waits for its answer. */
function wsEvents(ws: WebSocket, id: number, rows: (number | string)[][]): Promise<ReturnType<typeof decodeServerFrame>> {
  const frame = encodeEvents(id, 'tx', [
    { name: 'user_id', type: 'string' }, { name: 'merchant_id', type: 'string' }, { name: 'amount', type: 'number' }, { name: 'country', type: 'string' }, { name: 'ts', type: 'number' },
  ], rows);
  return new Promise((resolve) => {
    ws.once('message', (d) => resolve(decodeServerFrame(new Uint8Array(d as Buffer))));
    ws.send(frame);
  });
}

describe('durability', () => {
  it('replays the log after a stop without a snapshot, then restores a snapshot after a graceful one', async () => {
    const dir = dataDir();
    let base = await start(dir);
    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    const now = Date.now();
    for (let i = 0; i < 60; i++) expect((await postJson(base, '/v1/events', event(users[i % 20], i, now - 1000 * i))).body).toEqual({ accepted: 1, late: 0 });
    const ws = await openWs(base);
    const rows = Array.from({ length: 40 }, (_, i) => [users[(i * 7) % 20], `m${i % 3}`, 100 + i, `c${i % 4}`, now - 500 * i]);
    expect(await wsEvents(ws, 7, rows)).toMatchObject({ op: 'events_result', id: 7, accepted: 40, late: 0 });
    const before = await features(base, users);
    await server!.close(); // no snapshot: the log alone
    server = undefined;

    const lines: string[] = [];
    base = await start(dir, '', (l) => lines.push(l));
    expect(server!.recovery).toMatchObject({ snapshotSeq: 0, replay: { records: 61, events: 100, droppedRecords: 0 } });
    expect(await features(base, users)).toEqual(before);
    expect(lines.some((l) => /replayed 61 log records \(100 events\)/.test(l))).toBe(true);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(metric(text, 'hotpath_recovery_replayed_events')).toBe(100);

    // More events, then a graceful stop: a last snapshot, and the next start replays nothing.
    await postJson(base, '/v1/events', [event('u1', 1000, now), event('u2', 2000, now)]);
    const after = await features(base, users);
    const report = await server!.shutdown();
    expect(report).toMatchObject({ drained: true, abandoned: 0, snapshotSeq: 62 });
    server = undefined;
    base = await start(dir);
    expect(server!.recovery).toMatchObject({ snapshotSeq: 62, replay: { records: 0 } });
    expect(await features(base, users)).toEqual(after);
  });

  it('a snapshot taken while events stream in is the cut: restored, plus the log after it, equals what was acknowledged', async () => {
    const dir = dataDir();
    let base = await start(dir);
    const users = Array.from({ length: 50 }, (_, i) => `w${i}`);
    const now = Date.now();
    let i = 0;
    const sendSome = async (n: number) => {
      const batch = Array.from({ length: n }, () => (i++, event(users[i % 50], i, now - (i % 3600) * 10)));
      expect((await postJson(base, '/v1/events', batch)).status).toBe(200);
    };
    await sendSome(500);
    // Snapshots race the posts: every one must stand for exactly the batches before it.
    const snaps: Promise<Response>[] = [];
    for (let k = 0; k < 20; k++) {
      if (k % 5 === 0) snaps.push(fetch(`${base}/v1/admin/snapshot`, { method: 'POST' }));
      await sendSome(50);
    }
    const answers = await Promise.all(snaps);
    expect(answers.every((a) => a.status === 200 || a.status === 409)).toBe(true);
    expect(answers.some((a) => a.status === 200)).toBe(true);
    await sendSome(100);
    const before = await features(base, users);
    await server!.close();
    server = undefined;
    base = await start(dir);
    expect(server!.recovery!.snapshotSeq).toBeGreaterThan(0);
    expect(server!.recovery!.replay.records).toBeGreaterThan(0);
    expect(await features(base, users)).toEqual(before);
  });

  it('cuts a torn log tail at start and says how many records and bytes it dropped', async () => {
    const dir = dataDir();
    let base = await start(dir, ', segment_bytes: 1MiB');
    const now = Date.now();
    for (let k = 0; k < 10; k++) await postJson(base, '/v1/events', event('t1', k, now));
    await server!.close();
    server = undefined;
    const seg = join(dir, 'wal', readdirSync(join(dir, 'wal')).sort().at(-1)!);
    // A record cut short, as a crash mid-write leaves it: the first 40 bytes of a copy of
    // the last record (one event: 16 header + 24 batch header + 8 x (2 keys, ts, 2 fields)).
    const bytes = readFileSync(seg);
    let end = bytes.length;
    while (end > 32 && bytes[end - 1] === 0) end--;
    end = Math.ceil(end / 8) * 8;
    const recordBytes = 80;
    writeFileSync(seg, Buffer.concat([bytes.subarray(0, end), bytes.subarray(end - recordBytes, end - recordBytes + 40)]));
    const lines: string[] = [];
    base = await start(dir, ', segment_bytes: 1MiB', (l) => lines.push(l));
    const cut = lines.find((l) => /the log is cut there/.test(l));
    expect(cut).toMatch(/a torn record at byte \d+; the log is cut there: 1 record\(s\), 40 bytes dropped/);
    expect(server!.recovery!.replay.records).toBe(10);
    expect(((await getJson(base, '/v1/features/user/t1?features=n_1d')).body as { features: { n_1d: number } }).features.n_1d).toBe(10);
    // The cut is made on disk: the next start finds a clean log.
    await server!.close();
    server = undefined;
    expect(statSync(seg).size).toBe(end);
    const again: string[] = [];
    await start(dir, ', segment_bytes: 1MiB', (l) => again.push(l));
    expect(again.some((l) => /cut there/.test(l))).toBe(false);
  });

  it('refuses state made with another feature layout, naming the feature, and --discard-state begins empty', async () => {
    const dir = dataDir();
    let base = await start(dir);
    await postJson(base, '/v1/events', event('x', 5));
    await server!.shutdown();
    server = undefined;
    const changed = CONFIG().replace('sum_1d:   { agg: sum, field: amount, window: 1d, tile: 1h }', 'sum_1d:   { agg: sum, field: amount, window: 2d, tile: 1h }');
    await expect(start(dir, '', () => {}, { configText: changed })).rejects.toMatchObject({
      code: 'HP_ERR_STATE_LAYOUT',
      message: expect.stringMatching(/\/entities\/user\/features\/sum_1d: .*window_ms 86400000.* then; .*window_ms 172800000.* now.*--discard-state/),
    });
    const lines: string[] = [];
    base = await start(dir, '', (l) => lines.push(l), { configText: changed, discardState: true });
    expect((await getJson(base, '/v1/features/user/x')).body).toMatchObject({ found: false });
    const moved = lines.find((l) => /--discard-state: the old state is in/.test(l))!;
    expect(moved).toBeDefined();
    const aside = readdirSync(dir).find((n) => n.startsWith('discarded-'))!;
    expect(existsSync(join(dir, aside, 'snapshots'))).toBe(true);
  });

  it('deletes log segments once the oldest kept snapshot covers them', async () => {
    const dir = dataDir();
    const base = await start(dir, ', segment_bytes: 1MiB, keep_snapshots: 1');
    const now = Date.now();
    const big = Array.from({ length: 2000 }, (_, k) => event(`s${k % 100}`, k, now));
    for (let k = 0; k < 30; k++) expect((await postJson(base, '/v1/events', big)).status).toBe(200); // 80 KB of log per post
    const segs = () => readdirSync(join(dir, 'wal')).length;
    expect(segs()).toBeGreaterThan(1);
    const snap = await postJson(base, '/v1/admin/snapshot', {});
    expect(snap.status).toBe(200);
    expect(snap.body).toMatchObject({ seq: 30 });
    expect(segs()).toBe(1); // only the segment being written
    expect(readdirSync(join(dir, 'snapshots'))).toEqual(['snap-00000000000000000030']);
  });

  it('is not ready while it replays its log, and live all along', async () => {
    const dir = dataDir();
    let base = await start(dir);
    const now = Date.now();
    const batch = Array.from({ length: 5000 }, (_, k) => event(`r${k % 1000}`, k, now));
    for (let k = 0; k < 40; k++) await postJson(base, '/v1/events', batch);
    await server!.close();
    server = undefined;
    // Poll a fixed port (a free one, found by binding port 0) while the next start replays 200k events.
    const probe = createServer();
    const port = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as AddressInfo).port)));
    await new Promise((r) => probe.close(r));
    base = `http://127.0.0.1:${port}`;
    const seen = { ready503: 0, live200: 0, read503: 0 };
    let polling = true;
    const poll = (async () => {
      while (polling) {
        try {
          if ((await fetch(`${base}/readyz`)).status === 503) seen.ready503++;
          if ((await fetch(`${base}/healthz`)).status === 200) seen.live200++;
          if ((await fetch(`${base}/v1/features/user/r1`)).status === 503) seen.read503++;
        } catch {
          /* not listening yet */
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    server = await startServer({ config: loadConfigText(CONFIG()), port, host: '127.0.0.1', log: () => {}, dataDir: dir });
    polling = false;
    await poll;
    expect(server.recovery!.replay.events).toBe(200_000);
    expect(seen.ready503).toBeGreaterThan(0);
    expect(seen.live200).toBeGreaterThan(0);
    expect(seen.read503).toBeGreaterThan(0);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });

  it('restarts serving the model version it served (a `latest` model rolled back stays rolled back)', async () => {
    const dir = dataDir();
    const repo = makeRepo({ fraud: { 1: FRAUD_V1, 2: FRAUD_V2 } });
    dirs.push(repo);
    const yaml = oneModelYaml('fraud');
    const boot = async () => {
      server = await startServer({ config: loadConfigText(yaml, { baseDir: repo }), port: 0, host: '127.0.0.1', log: () => {}, dataDir: dir });
      return `http://127.0.0.1:${server.port}`;
    };
    let base = await boot();
    expect(server!.models.get('fraud').current!.version).toBe(2);
    expect((await postJson(base, '/v2/repository/models/fraud/load', { parameters: { version: 1 } })).status).toBe(200);
    await server!.shutdown();
    server = undefined;
    base = await boot();
    expect(server!.models.get('fraud').current!.version).toBe(1);
    // Once that version is gone from the repository, the start loads the latest.
    await server!.shutdown();
    server = undefined;
    rmSync(join(repo, 'fraud', '1'), { recursive: true });
    await boot();
    expect(server!.models.get('fraud').current!.version).toBe(2);
  });

  it('drains in-flight requests at shutdown and refuses new ones', async () => {
    const dir = dataDir();
    const base = await start(dir);
    const ws = await openWs(base);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const acks = Array.from({ length: 20 }, (_, k) => postJson(base, '/v1/events', event(`d${k}`, k)));
    const down = server!.shutdown();
    const results = await Promise.allSettled(acks);
    // Each post either made it in before the drain (200) or was refused as the server stopped.
    for (const r of results) if (r.status === 'fulfilled') expect([200, 503]).toContain(r.status === 'fulfilled' ? r.value.status : 0);
    const report = await down;
    expect(report.drained).toBe(true);
    expect(await closed).toBe(1001);
    server = undefined;
  });
});

describe('a full disk under the log', () => {
  it('refuses ingest with HP_ERR_WAL_UNAVAILABLE, keeps serving reads, loses nothing acknowledged, and takes events again when space returns', async (t) => {
    const dir = dataDir();
    const mnt = join(dir, 'small');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      if (process.env.HOTPATH_CI === '1') throw new Error('CI must be able to mount a tmpfs (run as root)');
      t.skip(); // needs root to mount a small tmpfs
      return;
    }
    try {
      let base = await start(mnt, ', segment_bytes: 1MiB');
      const now = Date.now();
      let acked = 0;
      let refused = 0;
      let other = 0;
      let headers: Headers | undefined;
      for (let k = 0; k < 80; k++) {
        const batch = Array.from({ length: 1000 }, (_, j) => event(`f${j % 10}`, k * 1000 + j, now)); // 40 KB of log
        const r = await fetch(`${base}/v1/events`, { method: 'POST', body: JSON.stringify(batch) });
        const body = (await r.json()) as { error?: { code: string } };
        if (r.status === 200) acked += 1000;
        else if (r.status === 503 && body.error?.code === 'HP_ERR_WAL_UNAVAILABLE') {
          refused++;
          headers = r.headers;
        } else other++;
      }
      expect(other).toBe(0);
      expect(refused).toBeGreaterThan(0);
      expect(headers?.get('retry-after')).toBe('1');
      // Reads keep serving, and show exactly the acknowledged events.
      const count = async () => {
        let n = 0;
        for (let j = 0; j < 10; j++) n += ((await getJson(base, `/v1/features/user/f${j}?features=n_1d`)).body as { features: { n_1d: number } }).features.n_1d;
        return n;
      };
      expect(await count()).toBe(acked);
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(metric(text, 'hotpath_wal_writable')).toBe(0);
      expect(metric(text, 'hotpath_wal_refused_total')).toBeGreaterThan(0);
      // Space comes back: the log writes again (it retries about once a second).
      execFileSync('mount', ['-o', 'remount,size=16m', mnt]);
      await new Promise((r) => setTimeout(r, 1100));
      const again = await fetch(`${base}/v1/events`, { method: 'POST', body: JSON.stringify([event('f0', 1, now)]) });
      expect(again.status).toBe(200);
      acked += 1;
      await server!.close();
      server = undefined;
      base = await start(mnt, ', segment_bytes: 1MiB');
      expect(await count()).toBe(acked);
      await server!.close();
      server = undefined;
    } finally {
      execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
    }
  });
});
