// Prometheus metrics of the bandits: decisions, rewards by outcome, and per arm its pulls
// (rewards learned) and mean reward. Read from the bandits' counters and arrays at scrape
// time: nothing on the choose or reward path.
import type client from 'prom-client';

import { REWARD_OUTCOMES } from '../bandits/bandit.js';
import type { Bandits } from '../bandits/bandits.js';
import { scraped } from './scrape-metrics.js';

export function registerBanditMetrics(registry: client.Registry, bandits: Bandits): void {
  const all = [...bandits.all.values()];
  scraped(registry, 'counter', 'hotpath_bandit_decisions_total', 'Decisions a bandit made (choose)', ['bandit', 'policy'], () =>
    all.map((b) => [{ bandit: b.name, policy: b.def.policy }, b.counts.decisions] as const));
  scraped(
    registry, 'counter', 'hotpath_bandit_rewards_total',
    'Rewards that reached a bandit, by outcome: applied (learned), unknown (no such decision), expired (past the horizon or out of the pending ring), duplicate, invalid (not a number in the reward range), retired (the arm was retired since)',
    ['bandit', 'outcome'], () => all.flatMap((b) => REWARD_OUTCOMES.map((o) => [{ bandit: b.name, outcome: o }, b.rewards[o]] as const)),
  );
  scraped(registry, 'gauge', 'hotpath_bandit_pending', 'Decisions in the ring waiting for their reward', ['bandit'], () => all.map((b) => [{ bandit: b.name }, b.pending] as const));
  scraped(registry, 'gauge', 'hotpath_bandit_arms', 'Arms in play', ['bandit'], () => all.map((b) => [{ bandit: b.name }, b.policy.nLive] as const));
  scraped(registry, 'counter', 'hotpath_bandit_arm_pulls_total', 'Rewards an arm learned (since it was added)', ['bandit', 'arm'], () =>
    all.flatMap((b) => b.armStats().map((a) => [{ bandit: b.name, arm: a.arm }, a.pulls] as const)));
  scraped(registry, 'gauge', 'hotpath_bandit_arm_mean_reward', 'An arm\'s mean reward, in the reward\'s units', ['bandit', 'arm'], () =>
    all.flatMap((b) => b.armStats().map((a) => [{ bandit: b.name, arm: a.arm }, a.mean_reward ?? NaN] as const)));
}
