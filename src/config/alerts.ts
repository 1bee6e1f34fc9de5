// The `alerts:` section of hotpath.yaml: the rules that turn numeric signals (anomaly
// scores, drift statistics, learner metrics) into alerts, how many recent alerts are kept,
// and the webhooks they are POSTed to. The schema (schema.ts) checks shapes; this checks
// what a schema says badly (exactly one of above/below, clear on the right side of the
// threshold, a URL that parses, unique names) and names the field at fault, e.g.
// `/alerts/rules/0/clear`. docs/config.md and docs/alerts.md document each key.
import { fail, parseDuration } from './values.js';

export type Severity = 'info' | 'warning' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

export interface AlertRuleDef {
  name: string;
  /** the source as written: an exact name, or a prefix ending in `*` */
  source: string;
  /** true when `source` ends in `*`: it matches every source that starts with `prefix` */
  wildcard: boolean;
  /** the source without its `*` */
  prefix: string;
  /**
   * 'above': observe() fires when value > threshold; 'below': when value < threshold;
   * 'event': no threshold (neither key given): the rule only shapes raised events
   */
  direction: 'above' | 'below' | 'event';
  /** NaN for an 'event' rule */
  threshold: number;
  /** a firing alert resolves when the value is back at or past this level (<= for above, >= for below) */
  clear: number;
  /** consecutive observations past the threshold before it fires */
  forCount: number;
  /** least time between two firings of the same rule and entity (ms) */
  cooldownMs: number;
  /** keep a state per entity (else one state for the rule) */
  perEntity: boolean;
  severity: Severity;
}

export interface WebhookDef {
  /** the metrics label and log name (default webhook_<index>); never the URL, which may hold a secret */
  name: string;
  url: string;
  timeoutMs: number;
  /** attempts after the first */
  retries: number;
  /** wait before the first retry; doubled for each next one, with jitter, up to maxBackoffMs */
  backoffMs: number;
  maxBackoffMs: number;
  /** alerts waiting for this webhook at most */
  queue: number;
  /** what a full queue drops: the oldest waiting alert, or the new one */
  drop: 'oldest' | 'newest';
  /** extra request headers: literal values, then values read from environment variables */
  headers: [string, string][];
}

export interface AlertsDef {
  rules: AlertRuleDef[];
  webhooks: WebhookDef[];
  /** recent alerts kept for GET /v1/alerts */
  keep: number;
  /** entities tracked per per-entity rule; past it the oldest not firing is forgotten */
  maxEntities: number;
  /** at shutdown, how long the webhook queues may take to drain */
  drainTimeoutMs: number;
}

export const ALERTS_DEFAULTS = { keep: 1000, maxEntities: 10_000, drainTimeoutMs: 2000 } as const;
export const WEBHOOK_DEFAULTS = { timeoutMs: 5000, retries: 3, backoffMs: 500, maxBackoffMs: 30_000, queue: 1000, drop: 'oldest' } as const;

export interface RawAlertRule {
  name: string;
  source: string;
  above?: number;
  below?: number;
  clear?: number;
  for_count?: number;
  cooldown?: number | string;
  per_entity?: boolean;
  severity?: Severity;
  description?: string;
}
export interface RawWebhook {
  name?: string;
  url: string;
  timeout?: number | string;
  retries?: number;
  backoff?: number | string;
  max_backoff?: number | string;
  queue?: number;
  drop?: 'oldest' | 'newest';
  headers?: Record<string, string>;
  headers_env?: Record<string, string>;
}
export interface RawAlerts {
  rules?: RawAlertRule[];
  webhooks?: RawWebhook[];
  keep?: number;
  max_entities?: number;
  drain_timeout?: number | string;
}

/** The section with its defaults (no section: no rules, no webhooks, the default ring). */
export function compileAlerts(raw: RawAlerts | undefined, env: Record<string, string | undefined>): AlertsDef {
  const r = raw ?? {};
  const names = new Set<string>();
  const rules = (r.rules ?? []).map((x, i): AlertRuleDef => {
    const path = `/alerts/rules/${i}`;
    if (names.has(x.name)) fail(`${path}/name`, `a second rule is named '${x.name}'`);
    names.add(x.name);
    if (x.above !== undefined && x.below !== undefined) fail(path, 'give one of `above` and `below`, not both');
    const direction = x.above !== undefined ? 'above' : x.below !== undefined ? 'below' : 'event';
    const threshold = x.above ?? x.below ?? NaN;
    if (direction === 'event') {
      // No threshold: the rule applies to raised events only (cooldown, severity, per_entity).
      if (x.clear !== undefined) fail(`${path}/clear`, 'a rule without `above` or `below` has no level to clear');
      if (x.for_count !== undefined) fail(`${path}/for_count`, 'a rule without `above` or `below` counts no observations');
    }
    const clear = x.clear ?? threshold;
    if (direction === 'above' && clear > threshold) fail(`${path}/clear`, `${clear} is above the threshold ${threshold}: an alert above it resolves at a level <= ${threshold}`);
    if (direction === 'below' && clear < threshold) fail(`${path}/clear`, `${clear} is below the threshold ${threshold}: an alert below it resolves at a level >= ${threshold}`);
    const wildcard = x.source.endsWith('*');
    return {
      name: x.name,
      source: x.source,
      wildcard,
      prefix: wildcard ? x.source.slice(0, -1) : x.source,
      direction,
      threshold,
      clear,
      forCount: x.for_count ?? 1,
      cooldownMs: x.cooldown === undefined ? 0 : parseDuration(x.cooldown),
      perEntity: x.per_entity ?? false,
      severity: x.severity ?? 'warning',
    };
  });
  const hooks = new Set<string>();
  const webhooks = (r.webhooks ?? []).map((w, i): WebhookDef => {
    const path = `/alerts/webhooks/${i}`;
    const name = w.name ?? `webhook_${i}`;
    if (hooks.has(name)) fail(`${path}/name`, `a second webhook is named '${name}'`);
    hooks.add(name);
    let url: URL;
    try {
      url = new URL(w.url);
    } catch {
      fail(`${path}/url`, 'not a URL (http://host:port/path or https://...)');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`${path}/url`, `the scheme must be http or https, not ${url.protocol.slice(0, -1)}`);
    const headers: [string, string][] = Object.entries(w.headers ?? {});
    for (const [h, v] of Object.entries(w.headers_env ?? {})) {
      const value = env[v];
      if (value === undefined) fail(`${path}/headers_env/${h}`, `the environment variable ${v} is not set`);
      headers.push([h, value]);
    }
    const d = WEBHOOK_DEFAULTS;
    const timeoutMs = w.timeout === undefined ? d.timeoutMs : parseDuration(w.timeout);
    if (timeoutMs < 1) fail(`${path}/timeout`, 'must be at least 1 ms');
    const backoffMs = w.backoff === undefined ? d.backoffMs : parseDuration(w.backoff);
    const maxBackoffMs = w.max_backoff === undefined ? Math.max(d.maxBackoffMs, backoffMs) : parseDuration(w.max_backoff);
    if (maxBackoffMs < backoffMs) fail(`${path}/max_backoff`, `must be at least backoff (${backoffMs} ms)`);
    return { name, url: url.href, timeoutMs, retries: w.retries ?? d.retries, backoffMs, maxBackoffMs, queue: w.queue ?? d.queue, drop: w.drop ?? d.drop, headers };
  });
  return {
    rules,
    webhooks,
    keep: r.keep ?? ALERTS_DEFAULTS.keep,
    maxEntities: r.max_entities ?? ALERTS_DEFAULTS.maxEntities,
    drainTimeoutMs: r.drain_timeout === undefined ? ALERTS_DEFAULTS.drainTimeoutMs : parseDuration(r.drain_timeout),
  };
}
