// Stream mirroring between regions (src/redis/mirror.ts, docs/multi-region.md) on real
// redis-servers: each region is a redis-server with hotpath replicas on its stream
// (ingest.redis_streams). Events posted in region A reach region B's replicas through the
// mirror A -> B and the other way through B -> A, with no loop (each stream holds what was
// posted to its region plus what the other region mirrored, counted); a mirror process
// killed with SIGKILL while its XADDs wait on B, then restarted, claims (XAUTOCLAIM) what
// it left pending and loses nothing; with B's Redis killed while copies are under way the
// lag grows, and once B is back the mirror catches up. Bad options are refused with
// HP_ERR_CONFIG_INVALID naming them.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

import { mirrorOptions } from '../../src/cli/mirror.js';
import { loadConfigText } from '../../src/config/load.js';
import { describeLayout, layoutCrc } from '../../src/durability/layout.js';
import { HotpathError } from '../../src/errors.js';
import { decodeBatch } from '../../src/redis/codec.js';
import { MIRROR_DEFAULTS, StreamMirror } from '../../src/redis/mirror.js';
import { metric, postJson, ROOT, until } from '../support/inference-server.js';
import { freePort, type RedisProcess, RUN_REDIS } from '../support/redis.js';
import { T0 } from '../support/counts.js';
import { converge, Fleet, type Replica } from '../support/replicas.js';

const KEY = '{hp}:events';
const CLI = join(ROOT, 'src/cli/main.ts');
const yaml = (url: string, replica: string) => `
server: { workers: 1 }
store: { max_future: 1d }
streams:
  tx:
    keys: { user: user_id }
    time_field: ts
    allowed_lateness: 1d
    fields: { amount: number }
entities:
  user:
    memory: 16MiB
    shards: 4
    features:
      n_1d:   { agg: count, window: 1d, tile: 1h }
      sum_1d: { agg: sum, field: amount, window: 1d, tile: 1h }
ingest:
  redis_streams:
    url: ${url}
    key: "${KEY}"
    replica: ${replica}
    block: 200ms
    claim_min_idle: 300ms
    claim_interval: 100ms
    lag_interval: 100ms
    ack_timeout: 500ms
`;
const LAYOUT = layoutCrc(describeLayout(loadConfigText(yaml('redis://x:1', 'x'))));

const fleet = new Fleet();
const mirrors: StreamMirror[] = [];
const procs: ChildProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all(mirrors.splice(0).map((m) => m.close()));
  await fleet.close();
});

const replica = (url: string, name: string) => fleet.replica(name, yaml(url, name));
const redis = () => fleet.redis();
const client = (url: string) => fleet.client(url);

function mirror(from: RedisProcess, to: RedisProcess, region: string, toRegion: string, lines: string[] = []): StreamMirror {
  const m = new StreamMirror({ ...MIRROR_DEFAULTS, from: from.url, to: to.url, key: KEY, region, toRegion, blockMs: 200, claimMinIdleMs: 300, lagIntervalMs: 50, log: (l) => lines.push(l) });
  mirrors.push(m);
  m.start();
  return m;
}

/** `hotpath mirror` in a child process; resolves once it prints its first line, with its metrics URL. */
async function mirrorProcess(args: string[]): Promise<{ p: ChildProcess; metrics: string; stderr: () => string }> {
  const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'mirror', ...args], { cwd: ROOT });
  procs.push(p);
  let out = '';
  let err = '';
  p.stderr!.on('data', (d) => (err += d));
  const metrics = await new Promise<string>((resolve, reject) => {
    p.stdout!.on('data', (d) => {
      out += d;
      const m = /metrics on (http:\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    p.once('exit', (code) => reject(new Error(`hotpath mirror exited with ${code}: ${err}`)));
  });
  return { p, metrics, stderr: () => err };
}

type Ev = { user_id: string; ts: number; amount: number };
let seq = 0;
const make = (n: number): Ev[] => Array.from({ length: n }, () => ({ user_id: `u${seq % 13}`, ts: T0 + (seq % 3600) * 1000, amount: seq++ }));

async function post(r: Replica, events: Ev[]): Promise<void> {
  const a = await postJson(r.base, '/v1/events', events);
  expect(a.status).toBe(200);
  expect(a.body).toMatchObject({ accepted: events.length, shared: true });
}

/** Every entry of a stream: its batch id, its `m` (or undefined), its events' amounts. */
async function entries(c: Redis): Promise<{ id: string; m: string | undefined; amounts: number[] }[]> {
  const out: { id: string; m: string | undefined; amounts: number[] }[] = [];
  for (const [, kv] of (await c.xrangeBuffer(KEY, '-', '+')) as [Buffer, Buffer[]][]) {
    const f = new Map<string, Buffer>();
    for (let i = 0; i + 1 < kv.length; i += 2) f.set(kv[i].toString(), kv[i + 1]);
    const b = decodeBatch(f.get('d')!, LAYOUT);
    const amounts: number[] = [];
    for (let e = 0; e < b.ts.length; e++) amounts.push(b.values[e]); // one field per event: amount
    out.push({ id: f.get('i')!.toString(), m: f.get('m')?.toString(), amounts });
  }
  return out;
}

describe.skipIf(!RUN_REDIS)('mirroring between regions', () => {
  it('events posted in either region reach the replicas of both, through mirrors both ways, with no loop', async () => {
    const [ra, rb] = [await redis(), await redis()];
    const a1 = await replica(ra.url, 'a1');
    const a2 = await replica(ra.url, 'a2');
    const b1 = await replica(rb.url, 'b1');
    const ab = mirror(ra, rb, 'a', 'b');
    const ba = mirror(rb, ra, 'b', 'a');
    const inA: Ev[] = [];
    const inB: Ev[] = [];
    let postsA = 0;
    let postsB = 0;
    for (let i = 0; i < 40; i++) {
      const ev = make(1 + (i % 7));
      if (i % 3 === 2) {
        await post(b1, ev);
        inB.push(...ev);
        postsB++;
      } else {
        await post(i % 2 ? a1 : a2, ev);
        inA.push(...ev);
        postsA++;
      }
    }
    const all = [...inA, ...inB];
    await converge([a1, a2, b1], all);
    // one entry per request in its region, one mirrored entry in the other; no more later
    await new Promise((r) => setTimeout(r, 600));
    const [sa, sb] = [await entries(client(ra.url)), await entries(client(rb.url))];
    expect(sa.length).toBe(postsA + postsB);
    expect(sb.length).toBe(postsA + postsB);
    expect(sa.filter((e) => e.m === 'b').length).toBe(postsB);
    expect(sa.filter((e) => e.m === undefined).length).toBe(postsA);
    expect(sb.filter((e) => e.m === 'a').length).toBe(postsA);
    expect(sb.filter((e) => e.m === undefined).length).toBe(postsB);
    // the same batches, by id, on both sides; every event once
    expect(new Set(sa.map((e) => e.id))).toEqual(new Set(sb.map((e) => e.id)));
    expect(sb.flatMap((e) => e.amounts).sort((x, y) => x - y)).toEqual(all.map((e) => e.amount).sort((x, y) => x - y));
    expect(ab.stats).toMatchObject({ mirrored: postsA, skipped: postsB, failuresFrom: 0, failuresTo: 0 });
    expect(ba.stats).toMatchObject({ mirrored: postsB, skipped: postsA, failuresFrom: 0, failuresTo: 0 });
    await until(() => ab.lag.entries === 0 && ba.lag.entries === 0, 3000);
    // B's replica applied A's batches as they are (the extra field m changes nothing)
    const tb = await (await fetch(`${b1.base}/metrics`)).text();
    expect(metric(tb, 'hotpath_redis_log_batches_total', 'outcome="applied"')).toBe(postsA);
    expect(metric(tb, 'hotpath_redis_log_batches_total', 'outcome="failed"')).toBe(0);
  });

  it('a mirror killed with SIGKILL while its XADDs wait on B, then restarted, claims its pending entries and loses nothing', async () => {
    const [ra, rb] = [await redis(), await redis()];
    const a1 = await replica(ra.url, 'a1');
    const b1 = await replica(rb.url, 'b1');
    const args = ['--from', ra.url, '--to', rb.url, '--key', KEY, '--region', 'a', '--to-region', 'b', '--metrics-port', '0', '--claim-min-idle', '300ms', '--lag-interval', '50ms'];
    const first = await mirrorProcess(args);
    const events: Ev[] = [];
    for (let i = 0; i < 10; i++) {
      const ev = make(3);
      await post(a1, ev);
      events.push(...ev);
    }
    await converge([a1, b1], events);
    // B stops taking writes: the mirror reads the next entries (pending on A) and its
    // XADDs wait; then it dies
    rb.cli('CLIENT', 'PAUSE', '3000', 'WRITE');
    for (let i = 0; i < 10; i++) {
      const ev = make(3);
      await post(a1, ev);
      events.push(...ev);
    }
    const ca = client(ra.url);
    const pending = async () => ((await ca.call('XPENDING', KEY, 'mirror:b')) as [number])[0];
    await until(async () => (await pending()) > 0, 5000);
    await new Promise((r) => setTimeout(r, 100));
    const left = await pending(); // read, its XADDs blocked on B: no more reads until they reply
    first.p.kill('SIGKILL');
    await new Promise((r) => first.p.once('exit', r));
    rb.cli('CLIENT', 'UNPAUSE');
    for (let i = 0; i < 5; i++) {
      const ev = make(3);
      await post(a1, ev);
      events.push(...ev);
    }
    const second = await mirrorProcess(args);
    await converge([a1, b1], events);
    const text = await (await fetch(second.metrics)).text();
    expect(metric(text, 'hotpath_mirror_claimed_total', 'from_region="a",to_region="b"')).toBe(left);
    expect(second.stderr()).toContain(`claimed ${left} entries`);
    // every batch of A is on B, each event applied once on b1 (duplicates are skipped by id)
    const [sa, sb] = [await entries(ca), await entries(client(rb.url))];
    expect(new Set(sb.map((e) => e.id))).toEqual(new Set(sa.map((e) => e.id)));
    await until(async () => metric(await (await fetch(second.metrics)).text(), 'hotpath_mirror_lag_entries', 'from_region="a",to_region="b"') === 0, 3000);
    expect(await pending()).toBe(0);
  });

  it("with B's Redis down the lag grows; once B is back the mirror catches up", async () => {
    const [ra, rb] = [await redis(), await redis()];
    const a1 = await replica(ra.url, 'a1');
    const b1 = await replica(rb.url, 'b1');
    const lines: string[] = [];
    const ab = mirror(ra, rb, 'a', 'b', lines);
    const events: Ev[] = [];
    for (let i = 0; i < 5; i++) {
      const ev = make(2);
      await post(a1, ev);
      events.push(...ev);
    }
    await converge([a1, b1], events);
    // B killed while posts (and so copies) are under way
    const burst = (async () => {
      for (let i = 0; i < 20; i++) {
        const ev = make(2);
        await post(a1, ev);
        events.push(...ev);
      }
    })();
    await new Promise((r) => setTimeout(r, 5));
    await rb.kill('SIGKILL');
    await burst;
    const copiedBefore = ab.stats.mirrored;
    await until(() => ab.lag.entries === 25 - copiedBefore && ab.lag.ms > 0, 3000);
    expect(ab.connectedTo).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(ab.stats.mirrored).toBe(copiedBefore);
    expect(lines.some((l) => l.includes("region b's Redis (--to)"))).toBe(true);
    await rb.restart(); // its AOF: the stream and b1's group are back
    await converge([a1, b1], events);
    await until(() => ab.lag.entries === 0 && ab.lag.ms === 0, 3000);
    // every batch of A on B (one copied before the kill whose reply was lost may be there twice)
    const [sa, sb] = [await entries(client(ra.url)), await entries(client(rb.url))];
    expect(sa.length).toBe(25);
    expect(new Set(sb.map((e) => e.id))).toEqual(new Set(sa.map((e) => e.id)));
  });

  it('refuses bad options, naming them', async () => {
    const ok = ['--from', 'redis://127.0.0.1:1', '--to', 'redis://127.0.0.1:2', '--region', 'a', '--to-region', 'b'];
    const refused = (extra: string[], without: string[] = []): HotpathError => {
      const args = [...ok.filter((x, i) => !without.includes(x) && !without.includes(ok[i - 1])), ...extra];
      try {
        mirrorOptions(args, () => undefined);
      } catch (err) {
        expect(err).toBeInstanceOf(HotpathError);
        return err as HotpathError;
      }
      throw new Error(`accepted: ${args.join(' ')}`);
    };
    const cases: [string[], string[], string, RegExp][] = [
      [[], ['--from'], '--from', /is required/],
      [[], ['--to-region'], '--to-region', /is required/],
      [['--to', 'http://x:1'], ['--to'], '--to', /redis:\/\/ or rediss:\/\//],
      [['--from', 'not a url'], ['--from'], '--from', /not a URL/],
      [['--to', 'redis://127.0.0.1:1'], ['--to'], '--to', /same Redis/],
      [['--to-region', 'a'], ['--to-region'], '--to-region', /must differ/],
      [['--region', 'a b'], ['--region'], '--region', /not a region name/],
      [['--batch', '0'], [], '--batch', /integer 1\.\.100000/],
      [['--batch', '1.5'], [], '--batch', /integer/],
      [['--metrics-port', '70000'], [], '--metrics-port', /0\.\.65535/],
      [['--max-len', '10'], [], '--max-len', /1000/],
      [['--claim-min-idle', 'soon'], [], '--claim-min-idle', /not a duration/],
      [['--lag-interval', '1ms'], [], '--lag-interval', /at least 10 ms/],
    ];
    for (const [extra, without, option, why] of cases) {
      const e = refused(extra, without);
      expect(e.code).toBe('HP_ERR_CONFIG_INVALID');
      expect(e.message).toContain(`hotpath mirror: ${option}:`);
      expect(e.message).toMatch(why);
    }
    expect(mirrorOptions(ok, () => undefined)?.options).toMatchObject({ key: '{hotpath}:events', batch: 512, claimMinIdleMs: 5000 });
    // the command: exit 2 and the code on stderr; an unknown option is named too
    for (const [args, text] of [[[...ok, '--batch', 'x'], 'HP_ERR_CONFIG_INVALID: hotpath mirror: --batch:'], [[...ok, '--bogus'], "'--bogus'"]] as const) {
      const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'mirror', ...args], { cwd: ROOT });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      const code = await new Promise((r) => p.once('exit', r));
      expect(code).toBe(2);
      expect(err).toContain(text);
    }
    // --metrics-port taken: refused naming it
    const port = await freePort();
    const holder = (await import('node:net')).createServer().listen(port, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    try {
      const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'mirror', ...ok, '--metrics-port', String(port)], { cwd: ROOT });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      expect(await new Promise((r) => p.once('exit', r))).toBe(2);
      expect(err).toContain('--metrics-port: cannot listen');
    } finally {
      holder.close();
    }
  });
});
