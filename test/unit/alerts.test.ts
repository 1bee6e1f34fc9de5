// The alert hub without a server: the `alerts` config section (defaults and refusals, each
// naming its field), the rule state machine (threshold, hysteresis, for_count, cooldown on a
// fake clock, per-entity state, the bound on tracked entities), raised events, the recent
// ring, and a webhook queue's drop policy and retry schedule against a fake fetch.
import { describe, expect, it } from 'vitest';

import { AlertHub } from '../../src/alerts/hub.js';
import { WebhookSender } from '../../src/alerts/webhook.js';
import { type AlertsDef, compileConfig } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';

function config(alerts: unknown, env: Record<string, string> = {}) {
  return compileConfig(
    {
      streams: { tx: { keys: { user: 'user_id' }, fields: { amount: 'number' } } },
      entities: { user: { features: { n: { agg: 'count', window: '1h' } } } },
      alerts,
    },
    { env },
  );
}

function alertsDef(alerts: unknown): AlertsDef {
  return config(alerts).alerts;
}

function rejects(alerts: unknown, path: string, env: Record<string, string> = {}): HotpathError {
  let caught: unknown;
  try {
    config(alerts, env);
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${path} to be refused`).toBeInstanceOf(HotpathError);
  const e = caught as HotpathError;
  expect(e.code).toBe('HP_ERR_CONFIG_INVALID');
  expect(e.message).toContain(path);
  return e;
}

/** A hub over these rules with a clock the test moves. */
function hub(rules: unknown[], extra: Record<string, unknown> = {}) {
  const clock = { t: 1_000_000 };
  const h = new AlertHub(alertsDef({ rules, ...extra }), { now: () => clock.t, firstId: 1 });
  const states = () => h.list().map((a) => `${a.state}${a.entity === undefined ? '' : `:${a.entity}`}`);
  return { h, clock, states };
}

describe('the alerts config section', () => {
  it('has defaults: no rules, no webhooks, 1000 kept', () => {
    const c = config(undefined);
    expect(c.alerts).toEqual({ rules: [], webhooks: [], keep: 1000, maxEntities: 10_000, drainTimeoutMs: 2000 });
  });

  it('compiles rules and webhooks with their defaults', () => {
    const a = config(
      {
        rules: [{ name: 'high', source: 'anomaly.*', above: 0.9, clear: 0.7, for_count: 3, cooldown: '5m', per_entity: true, severity: 'critical' }, { name: 'resets', source: 'learner.reset' }],
        webhooks: [{ url: 'http://127.0.0.1:9/hook', headers: { 'X-Team': 'ops' }, headers_env: { Authorization: 'HOOK_TOKEN' } }],
        keep: 50,
      },
      { HOOK_TOKEN: 'Bearer s3cret' },
    ).alerts;
    expect(a.rules[0]).toMatchObject({ name: 'high', wildcard: true, prefix: 'anomaly.', direction: 'above', threshold: 0.9, clear: 0.7, forCount: 3, cooldownMs: 300_000, perEntity: true, severity: 'critical' });
    expect(a.rules[1]).toMatchObject({ direction: 'event', forCount: 1, cooldownMs: 0, perEntity: false, severity: 'warning' });
    expect(a.webhooks[0]).toMatchObject({ name: 'webhook_0', timeoutMs: 5000, retries: 3, backoffMs: 500, maxBackoffMs: 30_000, queue: 1000, drop: 'oldest' });
    expect(a.webhooks[0].headers).toEqual([['X-Team', 'ops'], ['Authorization', 'Bearer s3cret']]);
    expect(a.keep).toBe(50);
  });

  it('refuses bad rules and webhooks, naming the field', () => {
    rejects({ rules: [{ name: 'a', source: 's', above: 1, cooldown: 'soon' }] }, '/alerts/rules/0/cooldown');
    rejects({ rules: [{ name: 'a', source: 's', above: 1, below: 0 }] }, '/alerts/rules/0');
    rejects({ rules: [{ name: 'a', source: 's', above: 1, clear: 2 }] }, '/alerts/rules/0/clear');
    rejects({ rules: [{ name: 'a', source: 's', below: 1, clear: 0.5 }] }, '/alerts/rules/0/clear');
    rejects({ rules: [{ name: 'a', source: 's', clear: 0.5 }] }, '/alerts/rules/0/clear');
    rejects({ rules: [{ name: 'a', source: 's', for_count: 2 }] }, '/alerts/rules/0/for_count');
    rejects({ rules: [{ name: 'a', source: 's', above: 1, for_count: 0 }] }, '/alerts/rules/0/for_count');
    rejects({ rules: [{ name: 'a', source: 'a*b', above: 1 }] }, '/alerts/rules/0/source');
    rejects({ rules: [{ name: 'a', source: 's', above: 1, severity: 'panic' }] }, '/alerts/rules/0/severity');
    rejects({ rules: [{ name: 'a', source: 's', above: 1 }, { name: 'a', source: 't', above: 1 }] }, '/alerts/rules/1/name');
    rejects({ rules: [{ name: 'a', source: 's', above: 1, typo: 1 }] }, "unknown key 'typo'");
    rejects({ webhooks: [{ url: 'ftp://x/y' }] }, '/alerts/webhooks/0/url');
    rejects({ webhooks: [{ url: 'not a url' }] }, '/alerts/webhooks/0/url');
    rejects({ webhooks: [{ url: 'http://x/', queue: 0 }] }, '/alerts/webhooks/0/queue');
    rejects({ webhooks: [{ url: 'http://x/', backoff: '2s', max_backoff: '1s' }] }, '/alerts/webhooks/0/max_backoff');
    rejects({ webhooks: [{ url: 'http://x/', headers_env: { Authorization: 'UNSET_VAR' } }] }, '/alerts/webhooks/0/headers_env/Authorization');
    rejects({ webhooks: [{ url: 'http://x/', headers: { 'X-A': 'a\r\nInjected: 1' } }] }, '/alerts/webhooks/0/headers/X-A');
    rejects({ keep: 0 }, '/alerts/keep');
  });
});

describe('a rule', () => {
  it('fires past its threshold and resolves at it (clear defaults to the threshold)', () => {
    const { h, states } = hub([{ name: 'high', source: 'score', above: 0.9 }]);
    h.observe('score', 0.9);
    expect(states()).toEqual([]);
    h.observe('score', 0.95);
    h.observe('score', 0.99); // still firing: no second alert
    expect(states()).toEqual(['firing']);
    h.observe('score', 0.9);
    expect(states()).toEqual(['firing', 'resolved']);
    const [f, r] = h.list();
    expect(f).toMatchObject({ id: 1, rule: 'high', source: 'score', state: 'firing', severity: 'warning', value: 0.95, threshold: 0.9, at: 1_000_000 });
    expect(f.message).toBe('score is 0.95 > 0.9 (rule high)');
    expect(r).toMatchObject({ id: 2, state: 'resolved', value: 0.9, threshold: 0.9 });
    expect(h.emitted.get('high\u0000firing')?.count).toBe(1);
  });

  it('resolves only once the value crosses clear (hysteresis)', () => {
    const { h, states } = hub([{ name: 'high', source: 'score', above: 0.9, clear: 0.5 }]);
    h.observe('score', 0.95);
    h.observe('score', 0.7);
    h.observe('score', 0.92);
    expect(states()).toEqual(['firing']);
    h.observe('score', 0.5);
    expect(states()).toEqual(['firing', 'resolved']);
    expect(h.list()[1].threshold).toBe(0.5);
  });

  it('works the other way round with below', () => {
    const { h, states } = hub([{ name: 'low', source: 'auc', below: 0.7, clear: 0.75, severity: 'critical' }]);
    h.observe('auc', 0.8);
    h.observe('auc', 0.69);
    h.observe('auc', 0.72);
    h.observe('auc', 0.75);
    expect(states()).toEqual(['firing', 'resolved']);
    expect(h.list()[0]).toMatchObject({ severity: 'critical', threshold: 0.7 });
    expect(h.list()[0].message).toBe('auc is 0.69 < 0.7 (rule low)');
  });

  it('fires after for_count consecutive observations past the threshold', () => {
    const { h, states } = hub([{ name: 'high', source: 'score', above: 1, for_count: 3 }]);
    h.observe('score', 2);
    h.observe('score', 2);
    h.observe('score', 0); // breaks the run
    h.observe('score', 2);
    h.observe('score', 2);
    expect(states()).toEqual([]);
    h.observe('score', 2);
    expect(states()).toEqual(['firing']);
    expect(h.list()[0].message).toContain('for 3 observations');
  });

  it('holds a new firing back for its cooldown, then fires on the next observation past it', () => {
    const { h, clock, states } = hub([{ name: 'high', source: 'score', above: 1, cooldown: '1m' }]);
    h.observe('score', 2);
    h.observe('score', 0);
    clock.t += 30_000;
    h.observe('score', 2); // 30 s after the firing: held back
    h.observe('score', 3);
    expect(states()).toEqual(['firing', 'resolved']);
    expect(h.rules[0].suppressed).toBe(2);
    clock.t += 30_000;
    h.observe('score', 2);
    expect(states()).toEqual(['firing', 'resolved', 'firing']);
    expect(h.list()[2].at).toBe(clock.t);
  });

  it('keeps a state per entity with per_entity, one for the rule without', () => {
    const per = hub([{ name: 'high', source: 'score', above: 1, for_count: 2, per_entity: true }]);
    per.h.observe('score', 2, 'u1');
    per.h.observe('score', 2, 'u2');
    per.h.observe('score', 2, 'u1');
    expect(per.states()).toEqual(['firing:u1']);
    per.h.observe('score', 0, 'u2');
    per.h.observe('score', 0, 'u1');
    per.h.observe('score', 2, 'u2');
    per.h.observe('score', 2, 'u2');
    expect(per.states()).toEqual(['firing:u1', 'resolved:u1', 'firing:u2']);
    expect(per.h.list()[0].message).toBe('score for u1 is 2 > 1 for 2 observations (rule high)');

    const one = hub([{ name: 'high', source: 'score', above: 1, for_count: 2 }]);
    one.h.observe('score', 2, 'u1');
    one.h.observe('score', 2, 'u2');
    expect(one.states()).toEqual(['firing']); // the two entities' observations count together; no entity on the alert
  });

  it('tracks only entities past the threshold, counting, firing or cooling down', () => {
    const { h, clock } = hub([{ name: 'high', source: 'score', above: 1, cooldown: '10s', per_entity: true }]);
    const r = h.rules[0];
    for (let i = 0; i < 100; i++) h.observe('score', 0.5, `u${i}`);
    expect(r.tracked).toBe(0);
    h.observe('score', 2, 'u1');
    h.observe('score', 0, 'u1');
    expect(r.tracked).toBe(1); // resolved, cooling down
    clock.t += 10_000;
    h.observe('score', 0, 'u1');
    expect(r.tracked).toBe(0);
  });

  it('bounds the entities it tracks: the oldest not firing is evicted, and none while all fire', () => {
    const { h, states } = hub([{ name: 'high', source: 'score', above: 1, for_count: 2, per_entity: true }], { max_entities: 3 });
    const r = h.rules[0];
    h.observe('score', 2, 'a');
    h.observe('score', 2, 'a'); // a fires
    h.observe('score', 2, 'b'); // b counting
    h.observe('score', 2, 'c'); // c counting
    h.observe('score', 2, 'd'); // full: b (the oldest not firing) goes
    expect(r.evicted).toBe(1);
    expect(r.state('b')).toBeUndefined();
    expect(r.state('a')?.firing).toBe(true);
    h.observe('score', 2, 'c');
    h.observe('score', 2, 'd');
    expect(states()).toEqual(['firing:a', 'firing:c', 'firing:d']);
    h.observe('score', 2, 'e'); // all three fire: e is not tracked
    expect(r.untracked).toBe(1);
    expect(r.tracked).toBe(3);
    h.observe('score', 0, 'a'); // every firing alert still resolves
    expect(states().at(-1)).toBe('resolved:a');
  });

  it('matches sources exactly or by a prefix ending in *, each matching rule on its own', () => {
    const { h, states } = hub([
      { name: 'any_anomaly', source: 'anomaly.*', above: 0.5 },
      { name: 'fraud', source: 'anomaly.fraud', above: 0.9, severity: 'critical' },
    ]);
    h.observe('drift.user', 100);
    h.observe('anomalies', 100);
    expect(states()).toEqual([]);
    h.observe('anomaly.login', 0.6);
    h.observe('anomaly.fraud', 0.95);
    expect(h.list().map((a) => `${a.rule}:${a.source}`)).toEqual(['any_anomaly:anomaly.login', 'fraud:anomaly.fraud']);
    // any_anomaly has one state for the rule (not per entity): it fired on anomaly.login already.
  });

  it('ignores NaN', () => {
    const { h, states } = hub([{ name: 'low', source: 's', below: 1 }]);
    h.observe('s', NaN);
    expect(states()).toEqual([]);
  });
});

describe('raised events', () => {
  it('are emitted without a rule, with rule null and their own severity', () => {
    const { h } = hub([]);
    const [a] = h.raise({ source: 'learner.fraud.promoted', entity: 'v3', value: 0.93, severity: 'warning', message: 'fraud learner v3 promoted' });
    expect(a).toMatchObject({ rule: null, source: 'learner.fraud.promoted', entity: 'v3', state: 'event', severity: 'warning', value: 0.93, threshold: null, message: 'fraud learner v3 promoted' });
    expect(h.raise({ source: 'drift.x' })[0]).toMatchObject({ severity: 'info', value: null, message: 'drift.x event' });
    expect(h.emitted.get('\u0000event')?.count).toBe(2);
  });

  it("respect a matching rule's cooldown (per entity) and take its severity", () => {
    const { h, clock } = hub([{ name: 'drift', source: 'drift.*', cooldown: '10m', per_entity: true, severity: 'critical' }]);
    expect(h.raise({ source: 'drift.user.amount', entity: 'amount', severity: 'info' })).toHaveLength(1);
    expect(h.raise({ source: 'drift.user.amount', entity: 'amount' })).toHaveLength(0);
    expect(h.raise({ source: 'drift.user.amount', entity: 'country' })).toHaveLength(1);
    clock.t += 600_000;
    expect(h.raise({ source: 'drift.user.amount', entity: 'amount' })).toHaveLength(1);
    expect(h.list().map((a) => a.severity)).toEqual(['critical', 'critical', 'critical']);
    expect(h.rules[0].suppressed).toBe(1);
    h.observe('drift.user.amount', 1e9, 'amount'); // an event rule has no threshold
    expect(h.list()).toHaveLength(3);
  });
});

describe('the recent alerts', () => {
  it('keeps the newest alerts.keep, pages by since and limit, and says how many were missed', () => {
    const { h } = hub([], { keep: 3 });
    for (let i = 0; i < 5; i++) h.raise({ source: 's', value: i });
    const ids = (p: { json: string[] }) => p.json.map((j) => JSON.parse(j).id);
    expect(ids(h.recent(undefined, 10))).toEqual([3, 4, 5]);
    expect(ids(h.recent(undefined, 2))).toEqual([4, 5]);
    expect(h.recent(3, 10)).toMatchObject({ next: 5, missed: 0 });
    expect(ids(h.recent(3, 10))).toEqual([4, 5]);
    expect(h.recent(0, 1)).toMatchObject({ next: 3, missed: 2 });
    expect(h.recent(5, 10)).toEqual({ json: [], next: 5, missed: 0 });
  });
});

describe('a webhook queue', () => {
  const def = (o: Record<string, unknown> = {}) => alertsDef({ webhooks: [{ url: 'http://127.0.0.1:1/', ...o }] }).webhooks[0];

  it('drops the oldest waiting alert when full (or the new one), counted', async () => {
    const posted: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const fake = (async (_u: unknown, init: { body: string }) => {
      posted.push(init.body);
      await gate;
      return new Response(null, { status: 204 });
    }) as unknown as typeof fetch;
    for (const drop of ['oldest', 'newest'] as const) {
      posted.length = 0;
      const w = new WebhookSender(def({ queue: 2, drop }), { fetch: fake });
      w.enqueue('a');
      await new Promise((r) => setImmediate(r)); // a is in flight
      for (const x of ['b', 'c', 'd']) w.enqueue(x);
      expect(w.depth).toBe(2);
      expect(w.stats.dropped).toBe(1);
      release();
      await w.close(1000);
      expect(posted).toEqual(drop === 'oldest' ? ['a', 'c', 'd'] : ['a', 'b', 'c']);
      expect(w.stats).toMatchObject({ delivered: 3, dropped: 1, failed: 0 });
    }
  });

  it('retries a 5xx with doubling, capped, jittered waits; a 4xx is not retried', async () => {
    const statuses = [503, 503, 503, 503, 400];
    const times: number[] = [];
    const fake = (async () => {
      times.push(performance.now());
      return new Response(null, { status: statuses.shift() });
    }) as unknown as typeof fetch;
    const w = new WebhookSender(def({ retries: 3, backoff: 20, max_backoff: 50 }), { fetch: fake, random: () => 1 });
    expect([0, 1, 2, 3].map((a) => w.backoff(a))).toEqual([20, 40, 50, 50]);
    w.enqueue('x');
    w.enqueue('y');
    await w.close(5000);
    expect(w.stats).toMatchObject({ delivered: 0, failed: 2, retries: 3 });
    const gaps = times.slice(1, 4).map((t, i) => t - times[i]);
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    expect(gaps[2]).toBeGreaterThanOrEqual(49);
    expect(times).toHaveLength(5); // y: one attempt (400)
    const half = new WebhookSender(def({ backoff: 100 }), { random: () => 0 });
    expect(half.backoff(0)).toBe(50);
  });

  it('at close, stops after the deadline: the attempt in flight fails, the queue is dropped', async () => {
    const fake = ((_u: unknown, init: { signal: AbortSignal }) =>
      new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted'))))) as unknown as typeof fetch;
    const w = new WebhookSender(def({ timeout: '1h' }), { fetch: fake });
    w.enqueue('a');
    w.enqueue('b');
    w.enqueue('c');
    await new Promise((r) => setImmediate(r));
    const t0 = performance.now();
    await w.close(50);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(w.stats).toMatchObject({ delivered: 0, failed: 1, dropped: 2 });
    w.enqueue('late');
    expect(w.stats.dropped).toBe(3);
  });
});
