// Bandits on a real server: choose and reward over HTTP (rewards delayed and out of order,
// joined by decision id), every refusal with its code and nothing learned from it, rewards
// carried by JSON events and binary WebSocket frames, a contextual bandit reading its
// context from the feature store, arms added and retired, the state in /v1/bandits and
// /metrics, and a restart with a data directory that keeps it all.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { Rng } from '../../src/bandits/random.js';
import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { decodeServerFrame, encodeEvents } from '../../src/server/ws-protocol.js';
import { getJson, metric, postJson } from '../support/inference-server.js';
import { writeKeys } from '../support/security.js';

const CONFIG = `
server: { workers: 1 }
streams:
  tx:
    keys: { user: user_id }
    fields: { amount: number }
  outcomes:
    keys: { user: user_id }
    fields: { decision_id: number, reward: number }
entities:
  user:
    memory: 8MiB
    features:
      n_1h:    { agg: count, stream: tx, window: 1h }
      mean_1h: { agg: mean, stream: tx, field: amount, window: 1h }
bandits:
  home:
    policy: thompson
    arms: [red, green, blue]
    max_arms: 4
    horizon: 1h
    rewards: { stream: outcomes }
    seed: 7
  promo:
    policy: epsilon_greedy
    arms: [a, b]
    epsilon: 0.2
  price:
    policy: gaussian_thompson
    arms: [low, high]
    reward_range: [0, 500]
  offer:
    policy: linucb
    arms: [small, big]
    alpha: 0.3
    context:
      - { feature: user.n_1h }
      - { feature: user.mean_1h, transform: log1p }
      - { field: hour }
`;

type Decision = { bandit: string; policy: string; decision_id: number; arm: string; p?: number };
type Err = { error: { code: string; message: string } };

let server: Server | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(dataDir?: string): Promise<string> {
  server = await startServer({ config: loadConfigText(CONFIG), port: 0, host: '127.0.0.1', log: () => {}, dataDir });
  return `http://127.0.0.1:${server.port}`;
}

async function choose(base: string, bandit: string, body?: unknown): Promise<Decision> {
  const r = body === undefined ? await (async () => {
    const res = await fetch(`${base}/v1/bandits/${bandit}/choose`, { method: 'POST' });
    return { status: res.status, body: await res.json() };
  })() : await postJson(base, `/v1/bandits/${bandit}/choose`, body);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as Decision;
}

async function reward(base: string, bandit: string, id: unknown, value: unknown) {
  return postJson(base, `/v1/bandits/${bandit}/reward`, { decision_id: id, reward: value });
}

async function state(base: string, bandit: string) {
  const r = await getJson(base, `/v1/bandits/${bandit}`);
  expect(r.status).toBe(200);
  return r.body as { arms: { arm: string; pulls: number; mean_reward: number | null }[]; pending: number; decisions: number; rewards: Record<string, number> };
}

describe('bandits on a real server', () => {
  it('learn delayed rewards joined by decision id and settle on the planted best arm', async () => {
    const base = await start();
    const env = new Rng(3);
    const p: Record<string, number> = { red: 0.2, green: 0.8, blue: 0.4 };
    // rounds of 20 decisions, rewarded after the round in reverse order (delayed, out of order)
    let late = 0;
    for (let round = 0; round < 20; round++) {
      const ds = await Promise.all(Array.from({ length: 20 }, () => choose(base, 'home')));
      for (const d of ds.reverse()) {
        const r = await reward(base, 'home', d.decision_id, env.uniform() < p[d.arm] ? 1 : 0);
        expect(r.status).toBe(200);
        expect(r.body).toEqual({ bandit: 'home', decision_id: d.decision_id, applied: true });
        if (round >= 15 && d.arm === 'green') late++;
      }
    }
    expect(late / 100).toBeGreaterThan(0.8);
    const s = await state(base, 'home');
    expect(s.decisions).toBe(400);
    expect(s.pending).toBe(0);
    expect(s.rewards.applied).toBe(400);
    expect(s.arms.reduce((n, a) => n + a.pulls, 0)).toBe(400);
    const green = s.arms.find((a) => a.arm === 'green')!;
    expect(green.mean_reward!).toBeGreaterThan(0.7);
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(metric(m, 'hotpath_bandit_decisions_total', 'bandit="home",policy="thompson"')).toBe(400);
    expect(metric(m, 'hotpath_bandit_rewards_total', 'bandit="home",outcome="applied"')).toBe(400);
    expect(metric(m, 'hotpath_bandit_arm_pulls_total', 'bandit="home",arm="green"')).toBe(green.pulls);
    expect(metric(m, 'hotpath_bandit_arm_mean_reward', 'bandit="home",arm="green"')).toBeCloseTo(green.mean_reward!, 9);
  });

  it('refuse bad input with codes and learn nothing from it', async () => {
    const base = await start();
    const d = await choose(base, 'home', {});
    const codeOf = (r: { status: number; body: unknown }) => [r.status, (r.body as Err).error.code];
    expect(codeOf(await reward(base, 'home', d.decision_id, 2))).toEqual([400, 'HP_ERR_BANDIT_REWARD_INVALID']);
    expect(codeOf(await reward(base, 'home', d.decision_id, '1'))).toEqual([400, 'HP_ERR_BANDIT_REWARD_INVALID']);
    expect(codeOf(await reward(base, 'home', d.decision_id + 1, 1))).toEqual([404, 'HP_ERR_BANDIT_DECISION_UNKNOWN']);
    expect(codeOf(await reward(base, 'home', 'abc', 1))).toEqual([400, 'HP_ERR_BANDIT_REQUEST_INVALID']);
    expect(codeOf(await reward(base, 'nope', d.decision_id, 1))).toEqual([404, 'HP_ERR_BANDIT_UNKNOWN']);
    expect(codeOf(await postJson(base, '/v1/bandits/home/reward', [1, 2]))).toEqual([400, 'HP_ERR_BANDIT_REQUEST_INVALID']);
    expect(codeOf(await postJson(base, '/v1/bandits/home/reward', '{"decision_id":'))).toEqual([400, 'HP_ERR_BAD_JSON']);
    expect(codeOf(await postJson(base, '/v1/bandits/home/choose', '[]'))).toEqual([400, 'HP_ERR_BANDIT_REQUEST_INVALID']);
    expect(codeOf(await postJson(base, '/v1/bandits/nope/choose', {}))).toEqual([404, 'HP_ERR_BANDIT_UNKNOWN']);
    expect(codeOf(await getJson(base, '/v1/bandits/nope'))).toEqual([404, 'HP_ERR_BANDIT_UNKNOWN']);
    // the decision is still pending: nothing above touched it
    expect((await state(base, 'home')).arms.reduce((n, a) => n + a.pulls, 0)).toBe(0);
    expect((await reward(base, 'home', d.decision_id, 1)).status).toBe(200);
    expect(codeOf(await reward(base, 'home', d.decision_id, 1))).toEqual([409, 'HP_ERR_BANDIT_REWARD_DUPLICATE']);
    const s = await state(base, 'home');
    expect(s.rewards).toMatchObject({ applied: 1, duplicate: 1, unknown: 1, invalid: 2 });
    expect(s.arms.reduce((n, a) => n + a.pulls, 0)).toBe(1);
    // a reward range of [0, 500]
    const g = await choose(base, 'price');
    expect(codeOf(await reward(base, 'price', g.decision_id, 501))).toEqual([400, 'HP_ERR_BANDIT_REWARD_INVALID']);
    expect((await reward(base, 'price', g.decision_id, 320)).status).toBe(200);
    expect((await state(base, 'price')).arms.find((a) => a.arm === g.arm)!.mean_reward).toBe(320);
    // epsilon-greedy answers its propensity
    const e = await choose(base, 'promo');
    expect([0.9, 0.1]).toContain(e.p);
  });

  it('take rewards from JSON events and binary WebSocket frames, each decision once', async () => {
    const base = await start();
    const ds = await Promise.all(Array.from({ length: 6 }, () => choose(base, 'home')));
    const ev = await postJson(base, '/v1/events?stream=outcomes', [
      { user_id: 'u1', decision_id: ds[0].decision_id, reward: 1 },
      { user_id: 'u1', decision_id: ds[1].decision_id, reward: 0 },
      { user_id: 'u1', decision_id: ds[0].decision_id, reward: 1 }, // a duplicate: counted, not learned
      { user_id: 'u1', decision_id: 12345, reward: 1 }, // unknown
      { user_id: 'u1', decision_id: ds[2].decision_id, reward: 7 }, // out of range
    ]);
    expect(ev.status).toBe(200);
    let s = await state(base, 'home');
    expect(s.rewards).toMatchObject({ applied: 2, duplicate: 1, unknown: 1, invalid: 1 });
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    try {
      const frame = encodeEvents(1, 'outcomes', [{ name: 'user_id', type: 'string' }, { name: 'decision_id', type: 'number' }, { name: 'reward', type: 'number' }], [
        ['u2', ds[2].decision_id, 1], ['u2', ds[3].decision_id, 1], ['u2', ds[4].decision_id, 0],
      ]);
      const answer = await new Promise<ReturnType<typeof decodeServerFrame>>((resolve) => {
        ws.once('message', (d) => resolve(decodeServerFrame(new Uint8Array(d as Buffer))));
        ws.send(frame);
      });
      expect(answer).toMatchObject({ op: 'events_result', accepted: 3 });
    } finally {
      ws.terminate();
    }
    s = await state(base, 'home');
    expect(s.rewards.applied).toBe(5);
    expect(s.pending).toBe(1);
    expect(s.arms.reduce((n, a) => n + a.pulls, 0)).toBe(5);
    // by HTTP, a reward the events gave already is a duplicate
    expect(((await reward(base, 'home', ds[3].decision_id, 1)).body as Err).error.code).toBe('HP_ERR_BANDIT_REWARD_DUPLICATE');
  });

  it('read a contextual bandit\'s context from the feature store and learn which arm suits which user', async () => {
    const base = await start();
    // heavy users (many events, large amounts) like `big`, light users `small`
    const events: object[] = [];
    for (let u = 0; u < 20; u++) for (let k = 0; k < (u < 10 ? 30 : 1); k++) events.push({ user_id: `u${u}`, amount: u < 10 ? 500 : 5 });
    expect((await postJson(base, '/v1/events?stream=tx', events)).status).toBe(200);
    const codeOf = async (body: unknown) => ((await postJson(base, '/v1/bandits/offer/choose', body)).body as Err).error.code;
    expect(await codeOf({ fields: { hour: 3 } })).toBe('HP_ERR_BANDIT_REQUEST_INVALID');
    expect(await codeOf({ entities: { user: 'u1' } })).toBe('HP_ERR_BANDIT_REQUEST_INVALID');
    expect(await codeOf({ entities: { user: '' }, fields: { hour: 3 } })).toBe('HP_ERR_ID_INVALID');
    let right = 0;
    for (let t = 0; t < 300; t++) {
      const u = t % 20;
      const d = await choose(base, 'offer', { entities: { user: `u${u}` }, fields: { hour: t % 24 } });
      expect(d.p).toBe(1);
      const good = (u < 10) === (d.arm === 'big');
      if (t >= 240 && good) right++;
      expect((await reward(base, 'offer', d.decision_id, good ? 1 : 0)).status).toBe(200);
    }
    expect(right / 60).toBeGreaterThan(0.9);
    // an unknown user reads zeros (fill), and still gets an arm
    expect(['small', 'big']).toContain((await choose(base, 'offer', { entities: { user: 'nobody' }, fields: { hour: 1 } })).arm);
  });

  it('add and retire arms through the admin route, all or none', async () => {
    const base = await start();
    const d = await choose(base, 'home');
    const arms = (body: unknown) => postJson(base, '/v1/bandits/home/arms', body);
    const codeOf = async (body: unknown) => ((await arms(body)).body as Err).error.code;
    expect(await codeOf({ add: ['x', 'y'] })).toBe('HP_ERR_BANDIT_ARMS_LIMIT'); // max_arms 4
    expect(await codeOf({ retire: ['nope'] })).toBe('HP_ERR_BANDIT_ARM_UNKNOWN');
    expect(await codeOf({ add: ['red'] })).toBe('HP_ERR_BANDIT_ARM_EXISTS');
    expect(await codeOf({ add: 'x' })).toBe('HP_ERR_BANDIT_REQUEST_INVALID');
    expect(await codeOf({ add: ['ok'], drop: ['red'] })).toBe('HP_ERR_BANDIT_REQUEST_INVALID');
    expect(await codeOf({ retire: ['red', 'green', 'blue'] })).toBe('HP_ERR_BANDIT_ARMS_LIMIT');
    expect((await state(base, 'home')).arms.map((a) => a.arm).sort()).toEqual(['blue', 'green', 'red']);
    const r = await arms({ add: ['yellow'], retire: [d.arm] });
    expect(r.status).toBe(200);
    expect((r.body as { arms: string[] }).arms.sort()).toEqual(['blue', 'green', 'red', 'yellow'].filter((a) => a !== d.arm).sort());
    expect(((await reward(base, 'home', d.decision_id, 1)).body as Err).error.code).toBe('HP_ERR_BANDIT_ARM_RETIRED');
    for (let i = 0; i < 30; i++) expect((await choose(base, 'home')).arm).not.toBe(d.arm);
  });

  it('keep posteriors, arms and pending decisions across a restart with a data directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-bandits-'));
    dirs.push(dir);
    let base = await start(dir);
    for (let i = 0; i < 40; i++) {
      const d = await choose(base, 'home');
      await reward(base, 'home', d.decision_id, d.arm === 'blue' ? 1 : 0);
    }
    expect((await postJson(base, '/v1/bandits/home/arms', { add: ['yellow'], retire: ['red'] })).status).toBe(200);
    const pending = await choose(base, 'home');
    const ctx = await choose(base, 'offer', { entities: { user: 'u1' }, fields: { hour: 2 } });
    await reward(base, 'offer', ctx.decision_id, 1);
    const before = await state(base, 'home');
    const offerBefore = await state(base, 'offer');
    await server!.shutdown();
    server = undefined;
    base = await start(dir);
    const after = await state(base, 'home');
    expect(after.arms).toEqual(before.arms);
    expect(after.rewards).toEqual(before.rewards);
    expect(after.decisions).toBe(before.decisions);
    expect(after.pending).toBe(1);
    expect((await state(base, 'offer')).arms).toEqual(offerBefore.arms);
    // the decision made before the restart is rewarded after it, once
    expect((await reward(base, 'home', pending.decision_id, 1)).status).toBe(200);
    expect(((await reward(base, 'home', pending.decision_id, 1)).body as Err).error.code).toBe('HP_ERR_BANDIT_REWARD_DUPLICATE');
    expect((await choose(base, 'home')).decision_id).toBeGreaterThan(pending.decision_id);
  });

  it('after a crash, keep the last snapshot and replay the rewards that came as events after it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-bandits-'));
    dirs.push(dir);
    let base = await start(dir);
    const before = await Promise.all(Array.from({ length: 4 }, () => choose(base, 'home')));
    expect((await postJson(base, '/v1/admin/snapshot', {})).status).toBe(200);
    // after the snapshot: two rewards as events (in the log), one over HTTP (not in the
    // log), and a decision made after it (lost with the crash)
    const after = await choose(base, 'home');
    expect((await postJson(base, '/v1/events?stream=outcomes', [
      { user_id: 'u', decision_id: before[0].decision_id, reward: 1 },
      { user_id: 'u', decision_id: before[1].decision_id, reward: 0 },
    ])).status).toBe(200);
    expect((await reward(base, 'home', before[2].decision_id, 1)).status).toBe(200);
    expect((await state(base, 'home')).rewards.applied).toBe(3);
    await server!.close(); // no last snapshot: the state is the snapshot's, then the log
    server = undefined;
    base = await start(dir);
    const s = await state(base, 'home');
    expect(s.decisions).toBe(4);
    expect(s.rewards.applied).toBe(2);
    expect(s.arms.reduce((n, a) => n + a.pulls, 0)).toBe(2);
    // the replayed rewards count once; the HTTP reward's decision is pending again
    expect(((await reward(base, 'home', before[0].decision_id, 1)).body as Err).error.code).toBe('HP_ERR_BANDIT_REWARD_DUPLICATE');
    expect((await reward(base, 'home', before[2].decision_id, 1)).status).toBe(200);
    expect(((await reward(base, 'home', after.decision_id, 1)).body as Err).error.code).toBe('HP_ERR_BANDIT_DECISION_UNKNOWN');
  });

  it('need bandits:{name} to choose and reward, metrics:read to read, admin to change arms', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-bandits-auth-'));
    dirs.push(dir);
    const keys = { home: 'hp_key_home_0123456789abcdef', all: 'hp_key_all_0123456789abcdef', metrics: 'hp_key_metrics_0123456789ab', admin: 'hp_key_admin_0123456789abcd' };
    writeKeys(dir, keys, { home: ['bandits:home'], all: ['bandits:*'], metrics: ['metrics:read'], admin: ['admin'] });
    server = await startServer({ config: loadConfigText(`auth: { keys_file: keys.yaml }\n${CONFIG}`, { baseDir: dir }), port: 0, host: '127.0.0.1', log: () => {} });
    const base = `http://127.0.0.1:${server.port}`;
    const call = async (method: string, path: string, key?: string, body?: unknown) => {
      const r = await fetch(base + path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: key ? { 'x-api-key': key } : {} });
      const j = (await r.json()) as Err & Decision;
      return r.status === 200 ? 200 : `${r.status} ${j.error.code}`;
    };
    expect(await call('POST', '/v1/bandits/home/choose')).toBe('401 HP_ERR_AUTH_REQUIRED');
    expect(await call('POST', '/v1/bandits/home/choose', keys.home)).toBe(200);
    expect(await call('POST', '/v1/bandits/promo/choose', keys.home)).toBe('403 HP_ERR_AUTH_FORBIDDEN');
    expect(await call('POST', '/v1/bandits/promo/choose', keys.all)).toBe(200);
    expect(await call('POST', '/v1/bandits/home/reward', keys.metrics, { decision_id: 1, reward: 1 })).toBe('403 HP_ERR_AUTH_FORBIDDEN');
    expect(await call('GET', '/v1/bandits', keys.home)).toBe('403 HP_ERR_AUTH_FORBIDDEN');
    expect(await call('GET', '/v1/bandits/home', keys.metrics)).toBe(200);
    expect(await call('POST', '/v1/bandits/home/arms', keys.all, { add: ['x'] })).toBe('403 HP_ERR_AUTH_FORBIDDEN');
    expect(await call('POST', '/v1/bandits/home/arms', keys.admin, { add: ['x'] })).toBe(200);
  });
});
