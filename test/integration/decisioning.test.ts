// The three decisioning capabilities together on a real server: an experiment whose
// variants are a recommender and a bandit. A serve answers with the variant's own answer
// (recommended items, or a bandit decision that the caller then rewards), conversions from
// events are attributed per variant, and a variant that names no configured recommender or
// bandit refuses the config with the field named.
import { afterEach, describe, expect, it } from 'vitest';

import { loadConfigText } from '../../src/config/load.js';
import { type Server, startServer } from '../../src/server/app.js';
import { getJson, postJson } from '../support/inference-server.js';

const CONFIG = (variants = '      recs: { weight: 50, recommender: shop }\n      picks: { weight: 50, bandit: hero }') => `
server: { workers: 1 }
streams:
  clicks:
    keys: { user: user_id, item: item_id }
    time_field: ts
    fields: { item_id: category }
  outcomes:
    keys: { user: user_id }
    fields: { decision_id: number, reward: number }
  conv:
    keys: { user: user_id }
    fields: { value: number }
entities:
  user:
    memory: 8MiB
    features:
      recent_items: { agg: last_n, field: item_id, n: 10, stream: clicks }
  item:
    memory: 8MiB
    features:
      views_1h: { agg: count, window: 1h }
recommenders:
  shop: { stream: clicks, user: user, item: item_id, recent: recent_items, max_items: 1000, max_users: 1000, k: 3, max_k: 20 }
bandits:
  hero:
    policy: thompson
    arms: [a, b, c]
    seed: 7
    rewards: { stream: outcomes, id_field: decision_id, field: reward }
experiments:
  home:
    variants:
${variants}
    metric: { stream: conv, unit: user, kind: conversion }
    test: { min_samples: 1000 }
`;

let server: Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(text = CONFIG()): Promise<string> {
  server = await startServer({ config: loadConfigText(text), port: 0, host: '127.0.0.1', log: () => {} });
  return `http://127.0.0.1:${server.port}`;
}

type Served = { experiment: string; variant: string; target: { kind: string; name: string }; items?: { id: string; source: string }[]; decision_id?: number; arm?: string };

describe('experiments over recommenders and bandits', () => {
  it('serves each variant through its own target, rewards the bandit, attributes conversions', async () => {
    const base = await start();
    const t0 = Date.now() - 60_000;
    // a -> b co-visited often: a user who saw a gets b
    const clicks = [];
    for (let i = 0; i < 20; i++) clicks.push({ user_id: `s${i}`, item_id: 'a', ts: t0 + 2 * i }, { user_id: `s${i}`, item_id: 'b', ts: t0 + 2 * i + 1 });
    expect((await postJson(base, '/v1/events?stream=clicks', clicks)).status).toBe(200);

    const byVariant = new Map<string, (Served & { unit: string })[]>();
    for (let u = 0; u < 200; u++) {
      const unit = u < 20 ? `s${u}` : `u${u}`; // s0..s19 saw a and b
      const r = await postJson(base, '/v1/experiments/home/serve', { unit });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const s = { ...(r.body as Served), unit };
      byVariant.set(s.variant, [...(byVariant.get(s.variant) ?? []), s]);
    }
    // both variants serve, each as its target answers
    const recs = byVariant.get('recs')!;
    const picks = byVariant.get('picks')!;
    expect(recs.length).toBeGreaterThan(60);
    expect(picks.length).toBeGreaterThan(60);
    for (const s of recs) {
      expect(s.target).toEqual({ kind: 'recommender', name: 'shop' });
      expect(Array.isArray(s.items)).toBe(true);
    }
    for (const s of picks) {
      expect(s.target).toEqual({ kind: 'bandit', name: 'hero' });
      expect(['a', 'b', 'c']).toContain(s.arm);
      expect(Number.isSafeInteger(s.decision_id)).toBe(true);
    }
    // the recommender's user is the unit: a cold one gets popular items (a and b), all
    // from the recommender's own answer
    for (const s of recs) expect(s.items!.map((i) => i.id).sort()).toEqual(['a', 'b'].filter((id) => !s.unit.startsWith('s')));

    // the bandit's decisions made through the experiment are rewarded like its own
    const first = picks[0];
    const rw = await postJson(base, '/v1/bandits/hero/reward', { decision_id: first.decision_id, reward: 1 });
    expect(rw.status, JSON.stringify(rw.body)).toBe(200);
    const again = await postJson(base, '/v1/bandits/hero/reward', { decision_id: first.decision_id, reward: 1 });
    expect((again.body as { error: { code: string } }).error.code).toBe('HP_ERR_BANDIT_REWARD_DUPLICATE');
    // and by reward events
    const ev = picks.slice(1, 11).map((s, i) => ({ user_id: `r${i}`, decision_id: s.decision_id, reward: 1 }));
    expect((await postJson(base, '/v1/events?stream=outcomes', ev)).status).toBe(200);
    const hero = (await getJson(base, '/v1/bandits/hero')).body as { decisions: number; rewards: Record<string, number> };
    expect(hero.decisions).toBe(picks.length);
    expect(hero.rewards.applied).toBe(11);

    // every unit the recommender variant served converts, none of the bandit's: the
    // conversions are attributed to the recommender variant only
    const conv = recs.map((s) => ({ user_id: s.unit, value: 1 }));
    expect((await postJson(base, '/v1/events?stream=conv', conv)).status).toBe(200);
    const x = (await getJson(base, '/v1/experiments/home')).body as { exposures: number; variants: { variant: string; exposures: number; n: number; mean: number | null }[] };
    expect(x.exposures).toBe(200);
    const v = Object.fromEntries(x.variants.map((r) => [r.variant, r]));
    expect(v.recs.exposures).toBe(recs.length);
    expect(v.picks.exposures).toBe(picks.length);
    expect(v.recs.mean).toBeCloseTo(1, 6);
    expect(v.picks.mean ?? 0).toBe(0);
  }, 30_000);

  it('refuses a variant that names no configured recommender or bandit, naming the field', () => {
    expect(() => loadConfigText(CONFIG('      recs: { weight: 50, recommender: nope }\n      picks: { weight: 50, bandit: hero }'))).toThrow(/experiments\/home\/variants\/recs/);
    expect(() => loadConfigText(CONFIG('      recs: { weight: 50, recommender: shop }\n      picks: { weight: 50, bandit: nope }'))).toThrow(/experiments\/home\/variants\/picks/);
    expect(() => loadConfigText(CONFIG('      recs: { weight: 60, recommender: shop }\n      picks: { weight: 50, bandit: hero }'))).toThrow(/sum to 110/);
  });
});
