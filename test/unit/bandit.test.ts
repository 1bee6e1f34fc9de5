// A configured bandit without a server (src/bandits/bandit.ts, src/config/bandits.ts):
// decisions and their rewards by id (each refusal with its code, and nothing learned from
// it), the horizon and the ring, arms added and retired all or none, the snapshot bytes,
// and the config's refusals naming the field at fault.
import { describe, expect, it } from 'vitest';

import { Bandit } from '../../src/bandits/bandit.js';
import { Bandits } from '../../src/bandits/bandits.js';
import { type Config, loadConfigText } from '../../src/config/load.js';
import { HotpathError } from '../../src/errors.js';

const STORE = `
streams:
  tx: { keys: { user: user_id }, fields: { amount: number } }
  rewards: { keys: { user: user_id }, fields: { decision_id: number, reward: number, label: category } }
entities:
  user: { features: { n_1h: { agg: count, window: 1h, stream: tx }, amount_mean_1h: { agg: mean, field: amount, window: 1h, stream: tx }, last_amounts: { agg: last_n, field: amount, n: 3, stream: tx } } }
`;

function config(bandits: string): Config {
  return loadConfigText(`${STORE}\nbandits:\n${bandits}`);
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return err instanceof HotpathError ? err.code : `not a HotpathError: ${String(err)}`;
  }
  return undefined;
}

function bandit(yaml: string, now = 1_700_000_000_000): Bandit {
  return new Bandit(config(yaml).bandits[0], null, { nowWallMs: now });
}

describe('Bandit', () => {
  it('answers a decision id and an arm, learns its reward once, and refuses the rest with codes', () => {
    const b = bandit('  home: { policy: thompson, arms: [a, b, c], seed: 1, horizon: 1m, pending: 16 }');
    const now = 1_700_000_000_000;
    const d = b.choose({}, now);
    expect(['a', 'b', 'c']).toContain(d.arm);
    expect(d.p).toBeUndefined();
    expect(b.pending).toBe(1);
    b.reward(d.decisionId, 1, now + 10);
    const s = b.armStats().find((x) => x.arm === d.arm)!;
    expect(s).toEqual({ arm: d.arm, pulls: 1, mean_reward: 1 });
    expect(code(() => b.reward(d.decisionId, 1, now + 20))).toBe('HP_ERR_BANDIT_REWARD_DUPLICATE');
    expect(code(() => b.reward(d.decisionId + 1, 1, now))).toBe('HP_ERR_BANDIT_DECISION_UNKNOWN');
    expect(code(() => b.reward(123, 1, now))).toBe('HP_ERR_BANDIT_DECISION_UNKNOWN');
    expect(code(() => b.reward('x', 1, now))).toBe('HP_ERR_BANDIT_REQUEST_INVALID');
    const e = b.choose({}, now);
    for (const bad of [1.5, -0.1, NaN, Infinity, '1', null]) expect(code(() => b.reward(e.decisionId, bad, now))).toBe('HP_ERR_BANDIT_REWARD_INVALID');
    // the refused rewards taught nothing and left the decision pending: a good one still counts
    b.reward(e.decisionId, 0, now);
    expect(b.armStats().reduce((n, x) => n + x.pulls, 0)).toBe(2);
    // past the horizon
    const late = b.choose({}, now);
    expect(code(() => b.reward(late.decisionId, 1, now + 60_001))).toBe('HP_ERR_BANDIT_DECISION_EXPIRED');
    // out of the ring: 16 newer decisions overwrite it
    const old = b.choose({}, now);
    for (let i = 0; i < 16; i++) b.choose({}, now);
    expect(code(() => b.reward(old.decisionId, 1, now))).toBe('HP_ERR_BANDIT_DECISION_EXPIRED');
    expect(b.rewards).toEqual({ applied: 2, unknown: 2, expired: 2, duplicate: 1, invalid: 6, retired: 0 });
    expect(b.armStats().reduce((n, x) => n + x.pulls, 0)).toBe(2);
  });

  it('maps a reward range onto [0, 1] for thompson, and reports means in the reward\'s units', () => {
    const b = bandit('  r: { policy: thompson, arms: [only], reward_range: [10, 20] }');
    const d = b.choose();
    b.reward(d.decisionId, 17.5);
    expect(b.armStats()[0].mean_reward).toBeCloseTo(17.5, 12);
    expect(code(() => b.reward(b.choose().decisionId, 9))).toBe('HP_ERR_BANDIT_REWARD_INVALID');
  });

  it('epsilon_greedy answers its propensity, ucb1 a propensity of 1', () => {
    const e = bandit('  e: { policy: epsilon_greedy, arms: [a, b], epsilon: 0.2 }');
    expect([0.9, 0.1]).toContain(e.choose().p);
    expect(bandit('  u: { policy: ucb1, arms: [a, b] }').choose().p).toBe(1);
  });

  it('adds and retires arms all or none; a reward of a retired arm\'s decision is refused', () => {
    const b = bandit('  g: { policy: ucb1, arms: [a, b], max_arms: 3 }');
    const d = b.choose(); // ucb1 tries a first
    expect(d.arm).toBe('a');
    expect(code(() => b.changeArms(['c', 'd'], []))).toBe('HP_ERR_BANDIT_ARMS_LIMIT');
    expect(code(() => b.changeArms(['c'], ['zz']))).toBe('HP_ERR_BANDIT_ARM_UNKNOWN');
    expect(code(() => b.changeArms(['b'], []))).toBe('HP_ERR_BANDIT_ARM_EXISTS');
    expect(code(() => b.changeArms(['bad name'], []))).toBe('HP_ERR_BANDIT_REQUEST_INVALID');
    expect(code(() => b.changeArms([], ['a', 'b']))).toBe('HP_ERR_BANDIT_ARMS_LIMIT');
    expect(b.liveArms()).toEqual(['a', 'b']);
    b.changeArms(['c'], ['a']);
    expect(b.liveArms().sort()).toEqual(['b', 'c']);
    expect(code(() => b.reward(d.decisionId, 1))).toBe('HP_ERR_BANDIT_ARM_RETIRED');
    // 'a' again takes a fresh slot state: the old decision still does not count for it
    b.changeArms(['a'], []);
    expect(b.armStats().find((x) => x.arm === 'a')!.pulls).toBe(0);
    expect(b.rewards.retired).toBe(1);
    for (let i = 0; i < 50; i++) expect(b.choose().arm).not.toBe('zz');
  });

  it('restores from its snapshot bytes: same arms, posteriors, pending decisions and generator', () => {
    const yaml = '  s: { policy: thompson, arms: [a, b, c], seed: 3, pending: 64 }';
    const b = bandit(yaml);
    const ds = Array.from({ length: 30 }, () => b.choose());
    for (const d of ds.slice(0, 20)) b.reward(d.decisionId, d.arm === 'b' ? 1 : 0);
    b.changeArms(['d'], ['c']);
    const bytes = b.serialize();
    const r = bandit(yaml, 1_600_000_000_000); // an earlier clock: ids must still go up
    r.restore(bytes);
    expect(r.liveArms()).toEqual(b.liveArms());
    expect(r.liveArms().sort()).toEqual(['a', 'b', 'd']); // c, retired at run time, stays retired
    expect(r.armStats()).toEqual(b.armStats());
    expect(r.rewards).toEqual(b.rewards);
    expect(r.pending).toBe(b.pending);
    // the same next draws, and ids above the old ones
    const next = [b.choose(), b.choose()];
    const again = [r.choose(), r.choose()];
    expect(again.map((x) => x.arm)).toEqual(next.map((x) => x.arm));
    expect(again[0].decisionId).toBeGreaterThan(ds[29].decisionId);
    // a pending decision from before the snapshot is rewarded after it, once
    r.reward(ds[25].decisionId, 1);
    expect(code(() => r.reward(ds[25].decisionId, 1))).toBe('HP_ERR_BANDIT_REWARD_DUPLICATE');
    expect(code(() => r.reward(ds[5].decisionId, 1))).toBe('HP_ERR_BANDIT_REWARD_DUPLICATE');
    // another policy or arm capacity is refused whole, leaving the bandit as it was
    const other = bandit('  s: { policy: ucb1, arms: [a, b, c] }');
    expect(code(() => other.restore(bytes))).toBe('HP_ERR_STATE_LAYOUT');
    const wider = bandit('  s: { policy: thompson, arms: [a, b, c], max_arms: 32 }');
    expect(code(() => wider.restore(bytes))).toBe('HP_ERR_STATE_LAYOUT');
    expect(wider.liveArms()).toEqual(['a', 'b', 'c']);
    // another reward range: the posteriors were learned on another scale
    const scaled = bandit('  s: { policy: thompson, arms: [a, b, c], pending: 64, reward_range: [0, 10] }');
    expect(code(() => scaled.restore(bytes))).toBe('HP_ERR_STATE_LAYOUT');
    // another context of the same width: A and b were learned on other inputs
    const ctx = bandit('  c: { policy: linucb, arms: [a, b], context: [{ field: hour }, { field: price }] }');
    ctx.choose({ fields: { hour: 1, price: 2 } });
    const ctxBytes = ctx.serialize();
    expect(code(() => bandit('  c: { policy: linucb, arms: [a, b], context: [{ field: hour }, { field: qty }] }').restore(ctxBytes))).toBe('HP_ERR_STATE_LAYOUT');
    expect(() => bandit('  c: { policy: linucb, arms: [a, b], context: [{ field: hour }, { field: price }] }').restore(ctxBytes)).not.toThrow();
    expect(code(() => r.restore(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])))).toBe('HP_ERR_STATE_CORRUPT');
  });

  it('a contextual bandit needs its request fields (its features come from the store)', () => {
    const b = bandit('  c: { policy: linucb, arms: [a, b], context: [{ field: hour }, { field: price, transform: log1p }] }');
    expect(code(() => b.choose({}))).toBe('HP_ERR_BANDIT_REQUEST_INVALID');
    expect(code(() => b.choose({ fields: { hour: 'x' } }))).toBe('HP_ERR_BANDIT_REQUEST_INVALID');
    expect(code(() => b.choose({ fields: [] as unknown as Record<string, unknown> }))).toBe('HP_ERR_BANDIT_REQUEST_INVALID');
    const d = b.choose({ fields: { hour: 3, price: 10 } });
    expect(d.p).toBe(1);
    b.reward(d.decisionId, 2.5);
    expect(b.def.dim).toBe(3);
    // the policy learned on [hour, log1p(price), 1]: theta of the arm is A^-1 b for that x
    const x = [3, Math.log1p(10), 1];
    const slot = ['a', 'b'].indexOf(d.arm);
    const pol = b.policy as unknown as { theta: Float64Array };
    const q = 1 + x.reduce((s, v) => s + v * v, 0); // A = I + x x^T: theta = x r / (1 + |x|^2)
    for (let j = 0; j < 3; j++) expect(pol.theta[slot * 3 + j]).toBeCloseTo((2.5 * x[j]) / q, 9);
  });
});

describe('Bandits', () => {
  it('gives ids that do not overlap between bandits, and routes an event stream\'s rewards to the bandit that made the decision', () => {
    const c = config(`  one: { policy: thompson, arms: [a, b], rewards: { stream: rewards } }
  two: { policy: ucb1, arms: [x, y], rewards: { stream: rewards, id_field: decision_id, field: reward } }`);
    const bs = new Bandits(c, null, () => {});
    expect(bs.taps.length).toBe(1);
    const d1 = bs.get('one').choose();
    const d2 = bs.get('two').choose();
    expect(Math.abs(d2.decisionId - d1.decisionId)).toBeGreaterThan(2 ** 39);
    const stream = c.streams[c.streamIndex.get('rewards')!];
    const values = new Float64Array([d2.decisionId, 1, 0, d1.decisionId, 0, 0, 777, 1, 0, d1.decisionId, 1, 0]);
    bs.taps[0].onBatch({ source: 'http', stream, nowMs: Date.now(), accepted: 4, late: 0, kind: 'columns', keys: [['u', 'u', 'u', 'u']], ts: new Float64Array(4).fill(Date.now()), values });
    expect(bs.get('two').rewards.applied).toBe(1);
    expect(bs.get('one').rewards).toMatchObject({ applied: 1, duplicate: 1, unknown: 1 });
    expect(code(() => bs.get('nope'))).toBe('HP_ERR_BANDIT_UNKNOWN');
    // the snapshot part round-trips every bandit
    const part = bs.snapshotParticipant();
    const fresh = new Bandits(c, null, () => {});
    fresh.snapshotParticipant().restore({ bytes: part.capture() });
    expect(fresh.get('one').armStats()).toEqual(bs.get('one').armStats());
    expect(fresh.get('two').rewards).toEqual(bs.get('two').rewards);
  });
});

describe('bandits: config', () => {
  const bad: [string, string][] = [
    ['  x: { policy: thompson, arms: [a, a] }', '/bandits/x/arms/1'],
    ['  x: { policy: thompson, arms: [] }', '/bandits/x/arms'],
    ['  x: { policy: greedy, arms: [a] }', '/bandits/x/policy'],
    ['  x: { policy: thompson, arms: [a, b, c], max_arms: 2 }', '/bandits/x/max_arms'],
    ['  x: { policy: thompson, arms: [a], epsilon: 0.1 }', '/bandits/x/epsilon'],
    ['  x: { policy: epsilon_greedy, arms: [a], epsilon: 1.5 }', '/bandits/x/epsilon'],
    ['  x: { policy: ucb1, arms: [a], alpha: 1 }', '/bandits/x/alpha'],
    ['  x: { policy: thompson, arms: [a], prior: { mean: 1 } }', '/bandits/x/prior/mean'],
    ['  x: { policy: thompson, arms: [a], prior: { alpha: 0 } }', '/bandits/x/prior/alpha'],
    ['  x: { policy: thompson, arms: [a], reward_range: [1, 1] }', '/bandits/x/reward_range'],
    ['  x: { policy: linucb, arms: [a] }', '/bandits/x/context'],
    ['  x: { policy: ucb1, arms: [a], context: [{ field: f }] }', '/bandits/x/context'],
    ['  x: { policy: linucb, arms: [a], context: [{ feature: user.nope }] }', '/bandits/x/context/0/feature'],
    ['  x: { policy: linucb, arms: [a], context: [{ feature: shop.n_1h }] }', '/bandits/x/context/0/feature'],
    ['  x: { policy: linucb, arms: [a], context: [{ feature: user.last_amounts }] }', '/bandits/x/context/0/feature'],
    ['  x: { policy: linucb, arms: [a], context: [{ feature: user.n_1h, field: f }] }', '/bandits/x/context/0'],
    ['  x: { policy: thompson, arms: [a], rewards: { stream: nope } }', '/bandits/x/rewards/stream'],
    ['  x: { policy: thompson, arms: [a], rewards: { stream: tx } }', '/bandits/x/rewards/id_field'],
    ['  x: { policy: thompson, arms: [a], rewards: { stream: rewards, field: label } }', '/bandits/x/rewards/field'],
    ['  x: { policy: thompson, arms: [a], horizon: 0 }', '/bandits/x/horizon'],
    ['  x: { policy: thompson, arms: ["a b"] }', '/bandits/x/arms/0'],
    ['  x: { policy: thompson, arms: [a], pending: 4 }', '/bandits/x/pending'],
  ];
  it.each(bad)('%s is refused at %s', (yaml, path) => {
    try {
      config(yaml);
      expect.unreachable('accepted');
    } catch (err) {
      expect((err as HotpathError).code).toBe('HP_ERR_CONFIG_INVALID');
      expect((err as HotpathError).details?.path).toBe(path);
    }
  });

  it('compiles defaults and a context of features and fields', () => {
    const [b] = config('  x: { policy: lin_thompson, arms: [a, b], context: [{ feature: user.n_1h }, { field: hour }, { feature: user.amount_mean_1h, transform: log1p }] }').bandits;
    expect(b).toMatchObject({ policy: 'lin_thompson', maxArms: 16, v: 1, lambda: 1, intercept: true, dim: 4, horizonMs: 3_600_000, pending: 65_536, rewards: null, seed: -1 });
    expect(b.context!.keys).toEqual([{ entity: 'user', table: 0 }]);
    expect(b.context!.fields).toEqual(['hour']);
    expect(b.rewardRange).toEqual([-Infinity, Infinity]);
    expect(config('  x: { policy: ucb1, arms: [a] }').bandits[0].rewardRange).toEqual([0, 1]);
  });
});
