// Prometheus metrics of the alert hub and its webhooks. Like durability-metrics.ts they read
// plain counters at scrape time: raising an alert costs the metrics nothing.
import client from 'prom-client';

import type { AlertHub } from '../alerts/hub.js';

/** `subscribers`: WebSocket connections subscribed to alerts now, over every mounted app. */
export function registerAlertMetrics(registry: client.Registry, hub: AlertHub, subscribers: () => number): void {
  const registers = [registry];
  new client.Counter({
    name: 'hotpath_alerts_total',
    help: 'Alerts raised, by rule (empty for an event no rule matched) and state (firing, resolved, event)',
    labelNames: ['rule', 'state'],
    registers,
    collect() {
      this.reset();
      for (const e of hub.emitted.values()) this.inc({ rule: e.rule, state: e.state }, e.count);
    },
  });
  const perRule = (name: string, help: string, value: (r: AlertHub['rules'][number]) => number): void => {
    new client.Counter({
      name,
      help,
      labelNames: ['rule'],
      registers,
      collect() {
        this.reset();
        for (const r of hub.rules) this.inc({ rule: r.def.name }, value(r));
      },
    });
  };
  perRule('hotpath_alerts_suppressed_total', 'Firings and events held back by their rule\'s cooldown', (r) => r.suppressed);
  perRule('hotpath_alert_entity_evictions_total', 'Entities a per-entity rule forgot to stay within alerts.max_entities (evicted), or did not track because every tracked one was firing', (r) => r.evicted + r.untracked);
  new client.Gauge({
    name: 'hotpath_alerts_firing',
    help: 'Alerts firing now, by rule (entities, for a per-entity rule)',
    labelNames: ['rule'],
    registers,
    collect() {
      for (const r of hub.rules) if (r.def.direction !== 'event') this.set({ rule: r.def.name }, r.firing);
    },
  });
  new client.Counter({
    name: 'hotpath_alert_webhook_deliveries_total',
    help: 'Alerts per webhook by outcome: delivered (a 2xx), failed (no 2xx after the retries), dropped (never sent: the queue was full, or shutdown)',
    labelNames: ['webhook', 'outcome'],
    registers,
    collect() {
      this.reset();
      for (const w of hub.webhooks) {
        this.inc({ webhook: w.def.name, outcome: 'delivered' }, w.stats.delivered);
        this.inc({ webhook: w.def.name, outcome: 'failed' }, w.stats.failed);
        this.inc({ webhook: w.def.name, outcome: 'dropped' }, w.stats.dropped);
      }
    },
  });
  new client.Counter({
    name: 'hotpath_alert_webhook_retries_total',
    help: 'Webhook attempts after the first (a network error, a timeout, 408, 429 or 5xx)',
    labelNames: ['webhook'],
    registers,
    collect() {
      this.reset();
      for (const w of hub.webhooks) this.inc({ webhook: w.def.name }, w.stats.retries);
    },
  });
  new client.Gauge({
    name: 'hotpath_alert_webhook_queue_depth',
    help: 'Alerts waiting for their webhook (not counting the one being sent)',
    labelNames: ['webhook'],
    registers,
    collect() {
      for (const w of hub.webhooks) this.set({ webhook: w.def.name }, w.depth);
    },
  });
  new client.Gauge({
    name: 'hotpath_alert_subscribers',
    help: 'WebSocket connections subscribed to alerts',
    registers,
    collect() {
      this.set(subscribers());
    },
  });
}
