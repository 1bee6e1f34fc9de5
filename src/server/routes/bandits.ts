// The bandits (src/bandits/): choose an arm, reward a decision, read the state, add and
// retire arms. docs/bandits.md.
import type { Bandit, Decision } from '../../bandits/bandit.js';
import { HotpathError } from '../../errors.js';
import { parseJsonBody } from '../http.js';
import type { Route } from './route.js';

function object(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', `the body must be a JSON object ${what}`);
  return body as Record<string, unknown>;
}

/** A choose answer: the bandit, its policy, the decision id, the arm and its probability when the policy has one. */
export function chooseText(b: Bandit, d: Decision): string {
  return `{"bandit":${JSON.stringify(b.name)},"policy":"${b.def.policy}","decision_id":${d.decisionId},"arm":${JSON.stringify(d.arm)}${d.p === undefined ? '' : `,"p":${d.p}`}}`;
}

export function banditJson(b: Bandit): Record<string, unknown> {
  const d = b.def;
  return {
    bandit: d.name,
    policy: d.policy,
    arms: b.armStats(),
    max_arms: d.maxArms,
    reward_range: d.rewardRange.map((v) => (Number.isFinite(v) ? v : null)),
    context: d.context ? d.context.inputs.map((i) => i.name) : null,
    horizon_ms: d.horizonMs,
    pending: b.pending,
    decisions: b.counts.decisions,
    rewards: b.rewards,
    arms_added: b.counts.added,
    arms_retired: b.counts.retired,
  };
}

export const banditRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/bandits/:name/choose',
    scope: 'bandits:{name}',
    body: 'bytes',
    about: 'pick an arm: {"entities": {...}, "fields": {...}} for a contextual bandit (any body or none otherwise); answers decision_id, arm, p',
    handle(c, ctx) {
      const b = ctx.bandits.get(c.params[0]);
      const body = c.body.length === 0 ? {} : object(parseJsonBody(c.body), '{"entities": {...}, "fields": {...}}');
      c.send(200, chooseText(b, b.choose(body)));
    },
  },
  {
    method: 'post',
    path: '/v1/bandits/:name/reward',
    scope: 'bandits:{name}',
    body: 'bytes',
    about: 'the reward of a decision: {"decision_id": n, "reward": r}',
    handle(c, ctx) {
      const b = ctx.bandits.get(c.params[0]);
      const body = object(parseJsonBody(c.body), '{"decision_id": n, "reward": r}');
      b.reward(body.decision_id, body.reward);
      c.send(200, `{"bandit":${JSON.stringify(b.name)},"decision_id":${body.decision_id as number},"applied":true}`);
    },
  },
  {
    method: 'get',
    path: '/v1/bandits',
    scope: 'metrics:read',
    body: 'none',
    about: 'every bandit: arms (pulls, mean reward), decisions, rewards by outcome, pending',
    handle(c, ctx) {
      c.send(200, JSON.stringify({ bandits: [...ctx.bandits.all.values()].map(banditJson) }));
    },
  },
  {
    method: 'get',
    path: '/v1/bandits/:name',
    scope: 'metrics:read',
    body: 'none',
    about: 'one bandit',
    handle(c, ctx) {
      c.send(200, JSON.stringify(banditJson(ctx.bandits.get(c.params[0]))));
    },
  },
  {
    method: 'post',
    path: '/v1/bandits/:name/arms',
    scope: 'admin',
    body: 'bytes',
    about: 'add and retire arms, all or none: {"add": [names], "retire": [names]}',
    handle(c, ctx) {
      const b = ctx.bandits.get(c.params[0]);
      const body = object(parseJsonBody(c.body), '{"add": [names], "retire": [names]}');
      const list = (k: string): string[] => {
        const v = body[k] ?? [];
        if (!Array.isArray(v)) throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', `\`${k}\` must be an array of arm names`);
        return v as string[];
      };
      const extra = Object.keys(body).find((k) => k !== 'add' && k !== 'retire');
      if (extra !== undefined) throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', `unknown key ${JSON.stringify(extra.slice(0, 64))}: give add and/or retire`);
      b.changeArms(list('add'), list('retire'));
      c.send(200, JSON.stringify({ bandit: b.name, arms: b.liveArms() }));
    },
  },
];
