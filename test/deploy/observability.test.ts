// deploy/prometheus/rules.yaml, deploy/grafana/hotpath.json and deploy/kubernetes/
// prometheusrule.yaml (docs/operations.md), checked without Prometheus or Grafana:
// - the rules parse (`promtool check rules`) and behave: the unit tests of
//   deploy/prometheus/rules.test.yaml feed input series and say when each alert fires and
//   when it must not (`promtool test rules`); promtool is the Debian package `prometheus`,
//   required under HOTPATH_CI=1, skipped with a line otherwise;
// - every dashboard expression, its variables filled in, is valid PromQL (wrapped in a rule
//   file for promtool, as kubernetes.test.ts does for the adapter's queries);
// - every metric the rules and panels read, and every label they select or group by, is one
//   that a running hotpath exports: a server on port 0 with every feature the expressions
//   read (durability, dedup, cache, learners, detectors, recommenders, experiments, bandits,
//   alerts with a webhook, the forecast, and the shared log and online store on a real
//   redis-server, test/support/redis.ts), scraped after traffic through each, and a
//   `hotpath mirror` (its StreamMirror and registry) copying that stream to a second Redis;
// - the dashboard's structure (unique ids, a grid without overlaps, the datasource variable
//   on every panel and query, no panel without a query, no unknown variable) and the
//   generated files being what scripts/build-observability.mjs writes.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

import { loadConfigText } from '../../src/config/load.js';
import { mirrorRegistry } from '../../src/cli/mirror.js';
import { MIRROR_DEFAULTS, type MirrorOptions, StreamMirror } from '../../src/redis/mirror.js';
import { type Server, startServer } from '../../src/server/app.js';
import { FRAUD_INPUTS } from '../support/inference-server.js';
import { RedisProcess, RUN_REDIS } from '../support/redis.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RULES_FILE = join(ROOT, 'deploy/prometheus/rules.yaml');
// @ts-expect-error: a plain ES module script, no declarations
const generator = (await import('../../scripts/build-observability.mjs')) as {
  generated(): { path: string; text: string }[];
  dashboardText(): string;
};

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const groups = (parseYaml(readFileSync(RULES_FILE, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups;
const rules = groups.flatMap((g) => g.rules);
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/hotpath.json'), 'utf8'));
const panels: any[] = dashboard.panels;
const queryPanels = panels.filter((p) => p.type !== 'row');

/** Grafana's variables as a query with them sees them: one job, every pod, a rate window. */
const VARIABLES: Record<string, string> = { datasource: '', job: 'hotpath', instance: '.*', pod: '.*', model: '.*', __rate_interval: '1m' };
const fill = (expr: string) => expr.replace(/\$(\w+)/g, (_, v: string) => {
  expect(Object.keys(VARIABLES), `unknown variable $${v} in ${expr}`).toContain(v);
  return VARIABLES[v];
});
const panelExprs = queryPanels.flatMap((p) => p.targets.map((t: any) => ({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: fill(t.expr) })));
const ruleExprs = rules.map((r) => ({ where: `rule ${r.record ?? r.alert}`, expr: r.expr }));

// ---- a small PromQL reader: the series each expression selects and the labels it names ----
const FUNCTIONS = new Set([
  'abs', 'absent', 'absent_over_time', 'avg', 'avg_over_time', 'bottomk', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'count', 'count_over_time',
  'count_values', 'delta', 'deriv', 'exp', 'floor', 'group', 'histogram_quantile', 'idelta', 'increase', 'irate', 'label_replace', 'ln', 'log2', 'log10',
  'max', 'max_over_time', 'min', 'min_over_time', 'predict_linear', 'quantile', 'quantile_over_time', 'rate', 'resets', 'round', 'scalar', 'sort',
  'sort_desc', 'sqrt', 'stddev', 'stdvar', 'sum', 'sum_over_time', 'time', 'timestamp', 'topk', 'vector', 'last_over_time',
]);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'offset', 'bool', 'inf', 'nan']);
/** labels Prometheus adds to every scraped series (job, instance; namespace and pod from the ServiceMonitor) */
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod']);

interface Selector {
  metric: string;
  matchers: { label: string; op: string; value: string }[];
}
function readPromql(expr: string): { selectors: Selector[]; grouping: string[] } {
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  const s = expr.replace(/\s+/g, ' ');
  const re = /"(?:[^"\\]|\\.)*"|[a-zA-Z_:][a-zA-Z0-9_:]*|\d+(?:\.\d+)?(?:e[+-]?\d+)?[smhdwy]*|./g;
  const tokens = [...s.matchAll(re)].map((m) => m[0]).filter((t) => t !== ' ');
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!/^[a-zA-Z_:]/.test(t)) continue;
    const next = tokens[i + 1];
    if (GROUPING.has(t)) {
      if (next === '(') for (i += 2; tokens[i] !== ')'; i++) if (tokens[i] !== ',') grouping.push(tokens[i]);
      continue;
    }
    if (KEYWORDS.has(t.toLowerCase())) continue;
    if (FUNCTIONS.has(t) && (next === '(' || GROUPING.has(next))) continue;
    expect(next === '(', `unknown function ${t} in ${expr}`).toBe(false);
    const sel: Selector = { metric: t, matchers: [] };
    if (next === '{') {
      for (i += 2; tokens[i] !== '}'; ) {
        if (tokens[i] === ',') {
          i++;
          continue;
        }
        const label = tokens[i];
        let op = tokens[i + 1];
        let j = i + 2;
        if ((op === '=' || op === '!') && (tokens[j] === '~' || tokens[j] === '=')) op += tokens[j++];
        sel.matchers.push({ label, op, value: JSON.parse(tokens[j]) });
        i = j + 1;
      }
    }
    selectors.push(sel);
  }
  return { selectors, grouping };
}

describe('the PromQL reader (the checks below rely on it)', () => {
  it('finds series, matchers and grouping labels, and refuses what it does not know', () => {
    const r = readPromql('histogram_quantile(0.99, sum by (model, le) (rate(hotpath_x_bucket{job=~"a|b", outcome!="ok"}[5m]))) / ignoring (arm) group_left sum(y) and max without (le) (z offset 1h)');
    expect(r.selectors).toEqual([
      { metric: 'hotpath_x_bucket', matchers: [{ label: 'job', op: '=~', value: 'a|b' }, { label: 'outcome', op: '!=', value: 'ok' }] },
      { metric: 'y', matchers: [] },
      { metric: 'z', matchers: [] },
    ]);
    expect(r.grouping).toEqual(['model', 'le', 'arm', 'le']);
    expect(() => readPromql('hotpath_rate(x)')).toThrow(/unknown function hotpath_rate/);
  });
});

describe('the rules (promtool)', () => {
  const promtool = spawnSync('promtool', ['--version']).status === 0;
  if (!promtool && process.env.HOTPATH_CI !== '1') console.warn('promtool not found: the rule and PromQL checks are skipped (apt-get install prometheus; CI installs it)');
  const run = (args: string[]) => execFileSync('sh', ['-c', `promtool ${args.join(' ')} 2>&1; echo "exit=$?"`], { cwd: ROOT }).toString();

  it.skipIf(!promtool && process.env.HOTPATH_CI !== '1')('promtool check rules passes on rules.yaml', () => {
    const out = run(['check', 'rules', RULES_FILE]);
    expect(out, out).toMatch(/exit=0\s*$/);
    expect(out).toContain(`${rules.length} rules found`);
  });

  it.skipIf(!promtool && process.env.HOTPATH_CI !== '1')('the unit tests of rules.test.yaml pass: alerts fire when they should and only then', () => {
    const out = run(['test', 'rules', join(ROOT, 'deploy/prometheus/rules.test.yaml')]);
    expect(out, out).toMatch(/SUCCESS/);
    expect(out, out).toMatch(/exit=0\s*$/);
    // and they can fail: the same tests against rules whose error threshold is 10x higher
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-rules-'));
    try {
      const text = readFileSync(RULES_FILE, 'utf8');
      const loose = text.replace('model:hotpath_model_failures:ratio_rate5m > 0.05', 'model:hotpath_model_failures:ratio_rate5m > 0.5');
      expect(loose).not.toBe(text);
      writeFileSync(join(dir, 'rules.yaml'), loose);
      writeFileSync(join(dir, 'rules.test.yaml'), readFileSync(join(ROOT, 'deploy/prometheus/rules.test.yaml')));
      const failed = run(['test', 'rules', join(dir, 'rules.test.yaml')]);
      expect(failed).toMatch(/alertname: HotpathModelErrorRatioHigh/);
      expect(failed).not.toMatch(/exit=0\s*$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!promtool && process.env.HOTPATH_CI !== '1')('every dashboard expression is valid PromQL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-grafana-'));
    try {
      const check = (exprs: string[]) => {
        const file = join(dir, 'panels.yaml');
        writeFileSync(file, JSON.stringify({ groups: [{ name: 'panels', rules: exprs.map((expr, i) => ({ record: `hotpath:panel_${i}`, expr })) }] }));
        return run(['check', 'rules', file]);
      };
      const out = check(panelExprs.map((e) => e.expr));
      expect(out, out).toMatch(/exit=0\s*$/);
      expect(out).toContain(`${panelExprs.length} rules found`);
      const bad = check(['sum by (model (rate(hotpath_model_requests_total[1m]))']);
      expect(bad).not.toMatch(/exit=0\s*$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the rules: what an operator needs', () => {
  const alerts = rules.filter((r) => r.alert);

  it('every alert has a severity, a summary and a description; names are unique', () => {
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
    for (const a of alerts) {
      expect(['critical', 'warning', 'info'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
      // a condition that may blip says how long it must hold; a counter's increase is its own window
      if (!/increase\(/.test(a.expr)) expect(a.for, `${a.alert} has no for:`).toMatch(/^\d+[smh]$/);
    }
  });

  it('covers the failures an operator starts from, and docs/operations.md explains each', () => {
    const names = new Set(alerts.map((a) => a.alert!));
    for (const n of ['HotpathDown', 'HotpathModelNotReady', 'HotpathModelErrorRatioHigh', 'HotpathModelLatencyP99OverBudget', 'HotpathShedding',
      'HotpathQueueDelayOverBudget', 'HotpathCircuitOpen', 'HotpathWalUnavailable', 'HotpathWalFsyncSlow', 'HotpathSnapshotFailing', 'HotpathSnapshotStale',
      'HotpathSharedLogDisconnected', 'HotpathSharedLogLagGrowing', 'HotpathOnlineStoreWriteFailures', 'HotpathDuplicateEventsHigh', 'HotpathModelOnCpuFallback',
      'HotpathFeaturesStale', 'HotpathAlertWebhookFailing']) expect(names.has(n), n).toBe(true);
    const ops = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    for (const n of names) expect(ops, `docs/operations.md says nothing of ${n}`).toContain(`\`${n}\``);
  });

  it('recording rules follow level:metric:operations and are defined before use', () => {
    for (const r of rules.filter((x) => x.record)) expect(r.record).toMatch(/^[a-z_]+:hotpath_[a-z0-9_]+:[a-z0-9_]+$/);
    for (const { where, expr } of ruleExprs) for (const s of readPromql(expr).selectors) if (s.metric.includes(':')) expect(recorded.has(s.metric), `${where}: ${s.metric}`).toBe(true);
  });
});

describe('the dashboard', () => {
  it('is what scripts/build-observability.mjs writes (and so is the PrometheusRule)', () => {
    for (const { path, text } of generator.generated()) expect(readFileSync(join(ROOT, path), 'utf8'), `${path}: run node scripts/build-observability.mjs`).toBe(text);
  });

  it('the PrometheusRule holds exactly the groups of rules.yaml', () => {
    const pr = parseYaml(readFileSync(join(ROOT, 'deploy/kubernetes/prometheusrule.yaml'), 'utf8'));
    expect(pr.kind).toBe('PrometheusRule');
    expect(pr.spec.groups).toEqual(groups);
  });

  it('is a current Grafana dashboard with datasource, job, instance, pod and model variables', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.uid).toBe('hotpath');
    const vars = new Map<string, any>(dashboard.templating.list.map((v: any) => [v.name, v]));
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const v of ['job', 'instance', 'pod', 'model']) {
      expect(vars.get(v)?.type, v).toBe('query');
      expect(vars.get(v).datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(vars.get(v).query.query).toMatch(/^label_values\(hotpath_\w+(\{job=~"\$job"\})?, \w+\)$/);
    }
    expect(Object.keys(VARIABLES).filter((k) => !k.startsWith('__')).sort()).toEqual([...vars.keys()].sort());
  });

  it('has unique panel ids, panels inside a 24-wide grid that do not overlap, rows in order', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x >= 0 && w > 0 && h > 0 && x + w <= 24, `panel ${p.id}`).toBe(true);
      for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
        expect(cells.has(`${i},${j}`), `panel ${p.id} "${p.title}" overlaps at ${i},${j}`).toBe(false);
        cells.add(`${i},${j}`);
      }
    }
    const rows = panels.filter((p) => p.type === 'row').map((p) => p.title);
    for (const r of ['Traffic', 'Latency', 'Inference', 'Ingest and durability', 'Freshness', 'Caches', 'Redis: shared log and online store', 'Learning and detectors', 'Alerts', 'Bandits and experiments'])
      expect(rows).toContain(r);
  });

  it('every panel reads the datasource variable and has queries with unique refIds', () => {
    for (const p of queryPanels) {
      expect(['timeseries', 'stat'], `panel ${p.id}`).toContain(p.type);
      expect(p.datasource, `panel ${p.id}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets.length, `panel ${p.id} "${p.title}" has no query`).toBeGreaterThan(0);
      expect(new Set(p.targets.map((t: any) => t.refId)).size).toBe(p.targets.length);
      for (const t of p.targets) {
        expect(t.datasource).toEqual(p.datasource);
        expect(t.expr.trim(), `panel ${p.id} ${t.refId}`).not.toBe('');
        // every series of a panel is filtered to the chosen targets
        for (const s of readPromql(fill(t.expr)).selectors) expect(s.matchers.map((m) => m.label), `panel ${p.id} ${s.metric}`).toEqual(expect.arrayContaining(['job', 'instance', 'pod']));
      }
    }
  });
});

// ---- a running hotpath with every feature the expressions read ----

const FEATURES = (dataDir: string, redisUrl: string, hook: string) => `
server: { workers: 1, max_batch: 10000, queue_delay_budget: 5ms }
store: { max_future: 10s }
durability: { data_dir: ${dataDir} }
streams:
  transactions:
    keys: { user: user_id, merchant: merchant_id }
    time_field: ts
    allowed_lateness: 10m
    dedup: { field: event_id, horizon: 10m }
    fields: { amount: number, country: category, user_id: category }
  clicks: { keys: { user: user_id }, fields: { item_id: category } }
  labels: { keys: { user: user_id }, fields: { label: number, prediction_id: number } }
entities:
  user:
    memory: 16MiB
    features:
      txn_count_10m:   { stream: transactions, agg: count, window: 10m, tile: 1m }
      txn_count_1h:    { stream: transactions, agg: count, window: 1h }
      amount_mean_1h:  { stream: transactions, agg: mean, field: amount, window: 1h }
      amount_max_1h:   { stream: transactions, agg: max, field: amount, window: 1h }
      amount_std_1h:   { stream: transactions, agg: stddev, field: amount, window: 1h }
      countries_24h:   { stream: transactions, agg: distinct, field: country, window: 24h, tile: 1h }
  merchant:
    memory: 8MiB
    features:
      txn_count_1m:    { agg: count, window: 1m, tile: 5s }
      amount_mean_1h:  { agg: mean, field: amount, window: 1h }
      users_1h:        { agg: distinct, field: user_id, window: 1h, precision: 8 }
models:
  fraud:
    repository: ${ROOT}models/fraud
    device: auto
    inputs: ${FRAUD_INPUTS}
    timeout: 50ms
    fallback: { constant: 0.0 }
    circuit_breaker: { error_rate: 0.5, latency: 25ms, window: 10s, min_requests: 20, open_for: 5s }
  fraud_online:
    learner:
      labels: { stream: labels, field: label, join: prediction_id, id_field: prediction_id }
      drift: { detector: adwin, policy: promote, window: 1000 }
    inputs:
      - { field: amount, transform: log1p }
      - { feature: user.amount_mean_1h, transform: log1p }
    fallback: { constant: 0.0 }
detectors:
  amount_z: { kind: robust_z, stream: transactions, fields: [amount], per_entity: user, window: 256 }
  amount_shift: { kind: adwin, stream: transactions, fields: [amount] }
recommenders:
  shop: { stream: clicks, user: user, item: item_id }
experiments:
  ranker:
    variants:
      control: { weight: 50, model: fraud }
      treatment: { weight: 50, model: fraud_online }
    metric: { stream: labels, unit: user, kind: mean, field: label }
bandits:
  homepage: { policy: thompson, arms: [a, b], rewards: { stream: labels, id_field: prediction_id, field: label } }
alerts:
  rules:
    - { name: amount_anomaly, source: "anomaly.*", above: 0.9 }
  webhooks:
    - { name: pager, url: "${hook}" }
cache:
  features: {}
  predict: {}
scaling:
  forecast: { interval: 1s, season: 10s, horizons: [2s], season_smoothing: 0s }
online_store: { url: ${redisUrl}, flush_interval: 20ms }
ingest:
  redis_streams: { url: ${redisUrl}, key: "{hp}:events", replica: hotpath-0, lag_interval: 100ms }
`;

describe.skipIf(!RUN_REDIS)('a running hotpath exports every series and label the rules and the dashboard read', () => {
  let server: Server;
  let redis: RedisProcess;
  let redisB: RedisProcess;
  let mirror: StreamMirror | undefined;
  let hook: HttpServer;
  let dataDir: string;
  /** metric name -> its type and every label name it has (its series' and its declaration's) */
  const exported = new Map<string, { type: string; labels: Set<string> }>();

  beforeAll(async () => {
    redis = await RedisProcess.start();
    redisB = await RedisProcess.start();
    hook = createServer((_req, res) => res.end()).listen(0, '127.0.0.1');
    await new Promise((r) => hook.once('listening', r));
    dataDir = mkdtempSync(join(tmpdir(), 'hotpath-obs-'));
    const yaml = FEATURES(dataDir, redis.url, `http://127.0.0.1:${(hook.address() as { port: number }).port}/`);
    server = await startServer({ config: loadConfigText(yaml, { baseDir: ROOT }), port: 0, host: '127.0.0.1', log: () => {} });
    const base = `http://127.0.0.1:${server.port}`;
    const post = async (path: string, body: unknown) => {
      const r = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body) });
      expect(r.status, `${path}: ${await r.clone().text()}`).toBe(200);
      return r.json();
    };
    const now = Date.now();
    // events: 10 duplicates among 50, and one later than allowed_lateness
    const events = Array.from({ length: 50 }, (_, i) => ({ event_id: i % 40, user_id: `u${i % 5}`, merchant_id: 'm1', ts: now, amount: 10 + i, country: 'FR' }));
    events.push({ event_id: 99, user_id: 'u1', merchant_id: 'm1', ts: now - 3_600_000, amount: 1, country: 'FR' });
    expect(await post('/v1/events?stream=transactions', events)).toMatchObject({ accepted: 40, late: 1, duplicates: 10 });
    await post('/v1/events?stream=clicks', [{ user_id: 'u1', item_id: 'i1' }, { user_id: 'u1', item_id: 'i2' }]);
    for (let i = 0; i < 3; i++) await post('/v1/predict/fraud', { entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 12 } });
    const p = await post('/v1/predict/fraud_online', { entities: { user: 'u1' }, fields: { amount: 12 } });
    await post('/v1/events?stream=labels', [{ user_id: 'u1', label: 1, prediction_id: p.prediction_id }]);
    await post('/v1/experiments/ranker/serve', { unit: 'u1', entities: { user: 'u1', merchant: 'm1' }, fields: { amount: 12 } });
    await post('/v1/recommend/shop', { user: 'u1' });
    await post('/v1/bandits/homepage/choose', {});
    for (let i = 0; i < 2; i++) expect((await fetch(`${base}/v1/features/user/u1`)).status).toBe(200);
    // the forecast's first interval (1 s) closes, the shared log's lag is read (100 ms)
    await new Promise((r) => setTimeout(r, 2200));
    collect(await (await fetch(`${base}/metrics`)).text(), server.metrics.registry);
    // `hotpath mirror` (regions, its own process and /metrics): the shared log's stream copied to a second Redis
    const o: MirrorOptions = { ...MIRROR_DEFAULTS, from: redis.url, to: redisB.url, key: '{hp}:events', region: 'a', toRegion: 'b', blockMs: 100, lagIntervalMs: 50, log: () => {} };
    mirror = new StreamMirror(o);
    mirror.start();
    const t0 = Date.now();
    while ((mirror.stats.mirrored === 0 || !mirror.lag.at) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(mirror.stats.mirrored).toBeGreaterThan(0);
    const registry = mirrorRegistry(mirror, o);
    collect(await registry.metrics(), registry);
  }, 60_000);

  /** Every family of a /metrics text into `exported`, with the label names its registry declares. */
  const collect = (text: string, registry: Server['metrics']['registry']) => {
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const declared = registry.getSingleMetric(m[1]) as { labelNames?: readonly string[] } | undefined;
      exported.set(m[1], { type: m[2], labels: new Set(declared?.labelNames ?? []) });
    }
    for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/gm)) {
      const name = exported.has(m[1]) ? m[1] : m[1].replace(/_(bucket|sum|count)$/, '');
      for (const l of (m[2] ?? '').matchAll(/(\w+)="/g)) exported.get(name)?.labels.add(l[1]);
    }
  };

  afterAll(async () => {
    await mirror?.close();
    await server?.close();
    await redis?.stop();
    await redisB?.stop();
    hook?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** the exported metric a selector reads, and its labels (le for a histogram's buckets) */
  const resolve = (metric: string) => {
    const direct = exported.get(metric);
    if (direct) return direct;
    const base = metric.match(/^(.*)_(bucket|sum|count)$/);
    const h = base ? exported.get(base[1]) : undefined;
    if (h?.type !== 'histogram') return undefined;
    return { type: 'histogram', labels: new Set([...h.labels, ...(base![2] === 'bucket' ? ['le'] : [])]) };
  };

  const check = ({ where, expr }: { where: string; expr: string }) => {
    const { selectors, grouping } = readPromql(expr);
    const names = new Set<string>(TARGET_LABELS);
    for (const s of selectors) {
      if (s.metric === 'up') continue; // Prometheus's own, per target
      if (s.metric.includes(':')) {
        expect(recorded.has(s.metric), `${where}: ${s.metric} is no recording rule`).toBe(true);
        const rule = rules.find((r) => r.record === s.metric)!;
        for (const l of readPromql(rule.expr).grouping) names.add(l);
        continue;
      }
      const m = resolve(s.metric);
      expect(m, `${where}: hotpath exports no ${s.metric}`).toBeDefined();
      for (const l of m!.labels) names.add(l);
      for (const { label } of s.matchers) expect(TARGET_LABELS.has(label) || m!.labels.has(label), `${where}: ${s.metric} has no label ${label}`).toBe(true);
    }
    for (const l of grouping) expect(names.has(l), `${where}: no series it reads has the label ${l}`).toBe(true);
  };

  it('every series and label of the rules', () => {
    for (const e of ruleExprs) check(e);
    // the check sees a wrong name and a wrong label
    expect(() => check({ where: 'x', expr: 'rate(hotpath_model_request_total[5m])' })).toThrow(/exports no hotpath_model_request_total/);
    expect(() => check({ where: 'x', expr: 'sum by (stream) (rate(hotpath_model_requests_total[5m]))' })).toThrow(/label stream/);
    expect(() => check({ where: 'x', expr: 'hotpath_wal_writable{worker="0"}' })).toThrow(/no label worker/);
  });

  it('every series and label of the dashboard\'s panels', () => {
    for (const e of panelExprs) check(e);
    for (const v of dashboard.templating.list.filter((x: any) => x.type === 'query')) check({ where: `variable ${v.name}`, expr: fill(v.query.query.replace(/^label_values\((.*), (\w+)\)$/, 'count by ($2) ($1)')) });
  });

  it('reads every hotpath metric family an operator acts on (nothing exported is forgotten)', () => {
    const used = new Set([...ruleExprs, ...panelExprs].flatMap((e) => readPromql(e.expr).selectors.map((s) => s.metric.replace(/_(bucket|sum|count)$/, ''))));
    // exported families left out on purpose: per-start values, counts whose ratios the panels
    // show through other series, and Node's internals beyond CPU, memory, GC and event-loop lag
    const LEFT_OUT = new Set([
      'hotpath_redis_log_pipelines_total', 'hotpath_redis_log_claimed_total', 'hotpath_redis_log_acked_total', 'hotpath_redis_log_events_total',
      'hotpath_redis_log_abandoned_batches_total', 'hotpath_online_store_pipelines_total', 'hotpath_online_store_warm_rows_total',
      'hotpath_online_store_warm_seconds', 'hotpath_online_store_refused_rows_total', 'hotpath_online_store_filtered_rows_total',
      'hotpath_online_store_warm_trimmed_total', 'hotpath_bandit_pending', 'hotpath_bandit_arms', 'hotpath_learner_predictions_total',
      'hotpath_learner_updates_total', 'hotpath_learner_gradient_clipped_total', 'hotpath_learner_refused_total', 'hotpath_learner_pending',
      'hotpath_learner_version', 'hotpath_recommend_items', 'hotpath_recommend_users', 'hotpath_recommend_pairs_total',
      'hotpath_recommend_tap_events_total', 'hotpath_recommend_refused_total', 'hotpath_request_rate_forecast_seasonal',
      'hotpath_alert_entity_evictions_total',
      // the live dashboard's own (docs/dashboard.md): pages open and snapshots built, which
      // say whether a page is open, not how the server is doing
      'hotpath_dashboard_pages', 'hotpath_dashboard_snapshots_total',
    ]);
    const NODE = /^hotpath_(nodejs|process)_/;
    const missing = [...exported.keys()].filter((n) => n.startsWith('hotpath_') && !NODE.test(n) && !used.has(n) && !LEFT_OUT.has(n));
    expect(missing).toEqual([]);
    for (const n of LEFT_OUT) expect(exported.has(n), `${n} is no longer exported: drop it from LEFT_OUT`).toBe(true);
  });

  it('documents every hotpath metric family by its full name (docs/api.md "GET /metrics" or the page of its feature)', () => {
    const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => readFileSync(join(ROOT, 'docs', f), 'utf8')).join('\n');
    const named = new Set<string>();
    // a table cell may shorten the names after the first: `hotpath_wal_bytes_total`, `_records_total`
    // names hotpath_wal_records_total (any prefix of the full name before it in the paragraph, at a `_`, plus the suffix)
    for (const para of docs.split('\n\n')) {
      let full = '';
      for (const m of para.matchAll(/`(hotpath_[a-z0-9_]+|_[a-z0-9_]+)/g)) {
        if (m[1].startsWith('hotpath_')) named.add((full = m[1]));
        else if (full) for (let i = full.indexOf('_'); i > 0; i = full.indexOf('_', i + 1)) named.add(full.slice(0, i) + m[1]);
      }
    }
    const undocumented = [...exported.keys()].filter((n) => n.startsWith('hotpath_') && !/^hotpath_(nodejs|process)_/.test(n) && !named.has(n));
    expect(undocumented).toEqual([]);
  });
});
