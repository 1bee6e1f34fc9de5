// Prometheus metrics of the alert hub and its webhooks. Like durability-metrics.ts they read
// plain counters at scrape time: raising an alert costs the metrics nothing.
import type client from 'prom-client';

import type { AlertHub } from '../alerts/hub.js';
import { scraped } from './scrape-metrics.js';

/** `subscribers`: WebSocket connections subscribed to alerts now, over every mounted app. */
export function registerAlertMetrics(registry: client.Registry, hub: AlertHub, subscribers: () => number): void {
  scraped(registry, 'counter', 'hotpath_alerts_total', 'Alerts raised, by rule (empty for an event no rule matched) and state (firing, resolved, event)', ['rule', 'state'], () =>
    [...hub.emitted.values()].map((e) => [{ rule: e.rule, state: e.state }, e.count] as const));
  const perRule = (kind: 'counter' | 'gauge', name: string, help: string, rules: () => AlertHub['rules'], value: (r: AlertHub['rules'][number]) => number): void =>
    scraped(registry, kind, name, help, ['rule'], () => rules().map((r) => [{ rule: r.def.name }, value(r)] as const));
  perRule('counter', 'hotpath_alerts_suppressed_total', 'Firings and events held back by their rule\'s cooldown', () => hub.rules, (r) => r.suppressed);
  perRule('counter', 'hotpath_alert_entity_evictions_total', 'Entities a per-entity rule forgot to stay within alerts.max_entities (evicted), or did not track because every tracked one was firing', () => hub.rules, (r) => r.evicted + r.untracked);
  perRule('gauge', 'hotpath_alerts_firing', 'Alerts firing now, by rule (entities, for a per-entity rule)', () => hub.rules.filter((r) => r.def.direction !== 'event'), (r) => r.firing);
  const perWebhook = (kind: 'counter' | 'gauge', name: string, help: string, value: (w: AlertHub['webhooks'][number]) => number): void =>
    scraped(registry, kind, name, help, ['webhook'], () => hub.webhooks.map((w) => [{ webhook: w.def.name }, value(w)] as const));
  scraped(
    registry, 'counter', 'hotpath_alert_webhook_deliveries_total',
    'Alerts per webhook by outcome: delivered (a 2xx), failed (no 2xx after the retries), dropped (never sent: the queue was full, or shutdown)', ['webhook', 'outcome'],
    () => hub.webhooks.flatMap((w) => (['delivered', 'failed', 'dropped'] as const).map((outcome) => [{ webhook: w.def.name, outcome }, w.stats[outcome]] as const)),
  );
  perWebhook('counter', 'hotpath_alert_webhook_retries_total', 'Webhook attempts after the first (a network error, a timeout, 408, 429 or 5xx)', (w) => w.stats.retries);
  perWebhook('gauge', 'hotpath_alert_webhook_queue_depth', 'Alerts waiting for their webhook (not counting the one being sent)', (w) => w.depth);
  scraped(registry, 'gauge', 'hotpath_alert_subscribers', 'WebSocket connections subscribed to alerts', [], subscribers);
}
