// The alert hub: where detectors, learners and ingest taps report, and where alerts leave
// for their consumers (docs/alerts.md). Two ways in:
//   observe(source, value, entity?)  a numeric signal, evaluated against the rules for its
//                                    source (rules.ts: threshold, for_count, hysteresis,
//                                    cooldown, per entity);
//   raise(event)                     a discrete event, no threshold; a matching rule's
//                                    cooldown and severity still apply.
// Every alert gets an id, lands in the recent ring (GET /v1/alerts), goes to each sink
// (the WebSocket topic) and to each webhook's queue (webhook.ts), in that order, before the
// producer's call returns; the HTTP deliveries happen later, off its stack.
//
// observe() runs per event on the ingest path, so a source no rule matches costs one Map
// lookup and allocates nothing. Rule lists are resolved per source once: exact sources at
// construction, others (wildcard rules, `drift.*`) on first sight, cached up to
// SOURCE_CACHE sources (past it the cache starts over).
import type { AlertsDef, Severity } from '../config/load.js';
import type { Alert, AlertEvent, AlertSink, AlertState } from './alert.js';
import { RecentAlerts, type RecentPage } from './recent.js';
import { RuleTracker, Transition } from './rules.js';
import { type Fetch, WebhookSender } from './webhook.js';

export type { Alert, AlertEvent, AlertSink, AlertState } from './alert.js';
export type { RecentPage } from './recent.js';
export { RuleTracker } from './rules.js';
export { WebhookSender, type WebhookStats } from './webhook.js';

/** Sources whose matching rules are remembered when wildcard rules exist. */
export const SOURCE_CACHE = 10_000;

const NO_RULES: readonly RuleTracker[] = [];

export interface AlertHubOptions {
  /** ms since the epoch (default Date.now; the server passes its coarse clock; tests a fake one) */
  now?: () => number;
  log?: (line: string) => void;
  /** the webhooks' HTTP client (default: Node's fetch) */
  fetch?: Fetch;
  /** the backoff jitter's random source (default Math.random) */
  random?: () => number;
  /** the first alert id (default: the start time in ms × 1000) */
  firstId?: number;
}

export class AlertHub {
  readonly def: AlertsDef;
  readonly rules: readonly RuleTracker[];
  readonly webhooks: readonly WebhookSender[];
  readonly #bySource = new Map<string, readonly RuleTracker[]>();
  readonly #exact = new Map<string, readonly RuleTracker[]>();
  readonly #wildcards: readonly RuleTracker[];
  readonly #recent: RecentAlerts;
  readonly #sinks: AlertSink[] = [];
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  #nextId: number;
  /** alerts emitted, by `${rule}\0${state}` (rule '' for events no rule matched) */
  readonly emitted = new Map<string, { rule: string; state: AlertState; count: number }>();

  constructor(def: AlertsDef, o: AlertHubOptions = {}) {
    this.def = def;
    this.#now = o.now ?? Date.now;
    this.#log = o.log ?? (() => {});
    this.#nextId = o.firstId ?? Date.now() * 1000;
    this.#recent = new RecentAlerts(def.keep, this.#nextId);
    this.rules = def.rules.map((r) => new RuleTracker(r, def.maxEntities));
    this.#wildcards = this.rules.filter((r) => r.def.wildcard);
    for (const r of this.rules) if (!r.def.wildcard) this.#exact.set(r.def.source, this.#resolve(r.def.source));
    this.#reset();
    this.webhooks = def.webhooks.map((w) => new WebhookSender(w, { fetch: o.fetch, random: o.random, log: this.#log }));
  }

  /** The rules for a source: exact ones and wildcards whose prefix it starts with, in config order. */
  #resolve(source: string): readonly RuleTracker[] {
    const matched = this.rules.filter((r) => (r.def.wildcard ? source.startsWith(r.def.prefix) : source === r.def.source));
    return matched.length > 0 ? matched : NO_RULES;
  }

  #reset(): void {
    this.#bySource.clear();
    for (const [k, v] of this.#exact) this.#bySource.set(k, v);
  }

  #rulesFor(source: string): readonly RuleTracker[] {
    const cached = this.#bySource.get(source);
    if (cached !== undefined) return cached;
    if (this.#wildcards.length === 0) return NO_RULES;
    if (this.#bySource.size >= SOURCE_CACHE + this.#exact.size) this.#reset();
    const rules = this.#resolve(source);
    this.#bySource.set(source, rules);
    return rules;
  }

  /** Whether a rule reads `source`: producers skip observe() per event when none does. */
  watches(source: string): boolean {
    return this.#rulesFor(source).length > 0;
  }

  /**
   * A numeric signal from `source` (an anomaly score, a drift statistic, a learner metric),
   * for `entity` when the producer scores entities. Evaluated against every rule that
   * matches the source; emits `firing` and `resolved` alerts. NaN is ignored.
   */
  observe(source: string, value: number, entity?: string): void {
    const rules = this.#rulesFor(source);
    if (rules.length === 0) return;
    const now = this.#now();
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      const t = r.observe(value, entity, now);
      if (t === Transition.None) continue;
      const d = r.def;
      const fired = t === Transition.Fired;
      const e = d.perEntity ? entity : undefined;
      const cmp = fired ? (d.direction === 'above' ? '>' : '<') : d.direction === 'above' ? '<=' : '>=';
      const level = fired ? d.threshold : d.clear;
      const message = fired
        ? `${source}${e === undefined ? '' : ` for ${e}`} is ${value} ${cmp} ${level}${d.forCount > 1 ? ` for ${d.forCount} observations` : ''} (rule ${d.name})`
        : `${source}${e === undefined ? '' : ` for ${e}`} is back to ${value} ${cmp} ${level} (rule ${d.name})`;
      this.#emit(d.name, source, e, fired ? 'firing' : 'resolved', d.severity, value, level, now, message);
    }
  }

  /**
   * A discrete event (a drift detected, a learner reset or promoted). Emitted once per
   * matching rule whose cooldown for the entity has passed (with that rule's severity), or
   * once with rule null when no rule matches. Returns the alerts emitted.
   */
  raise(event: AlertEvent): Alert[] {
    const { source, entity } = event;
    const rules = this.#rulesFor(source);
    const now = this.#now();
    const value = event.value ?? null;
    const threshold = event.threshold ?? null;
    const message = event.message ?? `${source} event${entity === undefined ? '' : ` for ${entity}`}${value === null ? '' : ` (${value})`}`;
    const out: Alert[] = [];
    if (rules.length === 0) {
      out.push(this.#emit(null, source, entity, 'event', event.severity ?? 'info', value, threshold, now, message));
      return out;
    }
    for (const r of rules) if (r.event(entity, now)) out.push(this.#emit(r.def.name, source, entity, 'event', r.def.severity, value, threshold, now, message));
    return out;
  }

  #emit(rule: string | null, source: string, entity: string | undefined, state: AlertState, severity: Severity, value: number | null, threshold: number | null, at: number, message: string): Alert {
    const alert: Alert = {
      id: this.#nextId++,
      rule,
      source,
      ...(entity === undefined ? {} : { entity }),
      state,
      severity,
      // JSON has no NaN or Infinity: such a value would read as null anyway
      value: value !== null && Number.isFinite(value) ? value : null,
      threshold: threshold !== null && Number.isFinite(threshold) ? threshold : null,
      at,
      message,
    };
    const json = JSON.stringify(alert);
    const key = `${rule ?? ''}\u0000${state}`;
    const c = this.emitted.get(key);
    if (c) c.count++;
    else this.emitted.set(key, { rule: rule ?? '', state, count: 1 });
    this.#recent.push(alert, json);
    for (const sink of this.#sinks) {
      try {
        sink(alert, json);
      } catch (err) {
        this.#log(`alerts: a subscriber failed: ${(err as Error).message}`);
      }
    }
    for (const w of this.webhooks) w.enqueue(json); // after close(): dropped and counted
    return alert;
  }

  /** Recent alerts after `since` (oldest first, at most `limit`); without `since`, the newest `limit`. */
  recent(since: number | undefined, limit: number): RecentPage {
    return this.#recent.page(since, limit);
  }

  /** Every alert kept, oldest first. */
  list(): Alert[] {
    return this.#recent.list();
  }

  /** Calls `sink` with each alert from now on; returns the function that stops it. */
  subscribe(sink: AlertSink): () => void {
    this.#sinks.push(sink);
    return () => {
      const i = this.#sinks.indexOf(sink);
      if (i >= 0) this.#sinks.splice(i, 1);
    };
  }

  /** Stops the webhooks: their queues drain for up to `deadlineMs` (default alerts.drain_timeout), the rest is dropped. */
  async close(deadlineMs = this.def.drainTimeoutMs): Promise<void> {
    await Promise.all(this.webhooks.map((w) => w.close(deadlineMs)));
  }
}
