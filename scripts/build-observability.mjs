// Writes the two generated files of hotpath's monitoring (`node scripts/build-observability.mjs`):
// - deploy/grafana/hotpath.json, the Grafana dashboard, from the panel list below;
// - deploy/kubernetes/prometheusrule.yaml, the PrometheusRule (prometheus-operator) whose
//   groups are deploy/prometheus/rules.yaml's, the one file the rules are written in.
// Both are committed (docs/operations.md); test/deploy/observability.test.ts fails when
// either differs from what this script writes, and checks every expression against
// promtool and a running hotpath's /metrics.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { parse, stringify } from 'yaml';

/** the target selector every panel applies: the dashboard's variables */
const S = 'job=~"$job", instance=~"$instance", pod=~"$pod"';
const M = `${S}, model=~"$model"`;
const R = '[$__rate_interval]';
const DS = { type: 'prometheus', uid: '${datasource}' };

/** One panel: a title, its unit, its queries as [expr, legend], and options. */
const ts = (title, unit, targets, o = {}) => ({ kind: 'timeseries', title, unit, targets, ...o });
const stat = (title, unit, targets, o = {}) => ({ kind: 'stat', title, unit, targets, ...o });
const q = (p, metric, by, sel = M) => `histogram_quantile(${p}, sum by (${by}, le) (rate(${metric}_bucket{${sel}}${R})))`;

/** rows of panels; widths in grid units (24 a row), every panel 8 high */
const ROWS = [
  ['Overview', [
    stat('Targets up', 'none', [[`sum(up{${S}})`, 'up']], { w: 4 }),
    stat('Models ready', 'none', [[`sum(hotpath_model_ready{${M}})`, 'ready'], [`count(hotpath_model_ready{${M}})`, 'models']], { w: 4 }),
    stat('Model requests/s', 'reqps', [[`sum(rate(hotpath_model_requests_total{${M}}${R}))`, 'requests/s']], { w: 4 }),
    stat('Failure ratio', 'percentunit', [[`sum(rate(hotpath_model_requests_total{${M}, outcome="failure"}${R})) / sum(rate(hotpath_model_requests_total{${M}}${R}))`, 'failures']], { w: 4 }),
    stat('Events/s', 'ops', [[`sum(rate(hotpath_events_ingested_total{${S}}${R}))`, 'events/s']], { w: 4 }),
    stat('Breakers open', 'none', [[`count(hotpath_circuit_state{${M}} == 2) or vector(0)`, 'open']], { w: 4 }),
  ]],
  ['Traffic', [
    ts('Model requests/s by model and outcome', 'reqps', [[`sum by (model, outcome) (rate(hotpath_model_requests_total{${M}}${R}))`, '{{model}} {{outcome}}']]),
    ts('Failures/s by reason', 'reqps', [[`sum by (model, reason) (rate(hotpath_model_requests_total{${M}, outcome="failure"}${R}))`, '{{model}} {{reason}}']]),
    ts('Model requests/s by pod', 'reqps', [[`sum by (instance) (rate(hotpath_model_requests_total{${M}}${R}))`, '{{instance}}']]),
    ts('Events/s by stream', 'ops', [[`sum by (stream) (rate(hotpath_events_ingested_total{${S}}${R}))`, '{{stream}}']]),
    ts('Feature reads/s by entity', 'ops', [[`sum by (entity) (rate(hotpath_feature_reads_total{${S}}${R}))`, '{{entity}}']]),
    ts('Recommendations/s', 'reqps', [[`sum by (recommender) (rate(hotpath_recommend_requests_total{${S}}${R}))`, '{{recommender}}'], [`sum by (recommender) (rate(hotpath_recommend_fallbacks_total{${S}}${R}))`, '{{recommender}} fallback']]),
    ts('Refused: rate limits and authentication', 'reqps', [[`sum by (class, by) (rate(hotpath_rate_limited_total{${S}}${R}))`, 'limited {{class}} by {{by}}'], [`sum by (code) (rate(hotpath_auth_refused_total{${S}}${R}))`, '{{code}}']]),
    ts('Request-rate forecast', 'reqps', [[`sum(hotpath_request_rate{${S}})`, 'rate (last interval)'], [`sum by (horizon) (hotpath_request_rate_forecast{${S}})`, 'forecast {{horizon}}']]),
    ts('WebSockets', 'none', [[`sum(hotpath_ws_backpressured_connections{${S}})`, 'backpressured'], [`sum(increase(hotpath_ws_slow_closes_total{${S}}${R}))`, 'slow closes'], [`sum(hotpath_alert_subscribers{${S}})`, 'alert subscribers']]),
  ]],
  ['Latency', [
    ts('Model request p50 / p99 / p99.9', 's', [[q(0.5, 'hotpath_model_request_duration_seconds', 'model'), '{{model}} p50'], [q(0.99, 'hotpath_model_request_duration_seconds', 'model'), '{{model}} p99'], [q(0.999, 'hotpath_model_request_duration_seconds', 'model'), '{{model}} p99.9']], { w: 12 }),
    ts('Queue and compute p99', 's', [[q(0.99, 'hotpath_model_queue_duration_seconds', 'model'), '{{model}} queue'], [q(0.99, 'hotpath_model_compute_duration_seconds', 'model'), '{{model}} compute']], { w: 12 }),
    ts('Model request p99 by pod', 's', [[q(0.99, 'hotpath_model_request_duration_seconds', 'instance'), '{{instance}}']]),
    ts('Recommend p99', 's', [[q(0.99, 'hotpath_recommend_duration_seconds', 'recommender', S), '{{recommender}}']]),
    ts('Event loop lag p99 (main thread)', 's', [[`hotpath_nodejs_eventloop_lag_p99_seconds{${S}}`, '{{instance}}']]),
  ]],
  ['Stages (docs/api.md "Stages")', [
    ts('Requests/s by route class (every status)', 'reqps', [[`sum by (route) (rate(hotpath_request_duration_seconds_count{${S}}${R}))`, '{{route}}']]),
    ts('Request p99 by route class', 's', [[q(0.99, 'hotpath_request_duration_seconds', 'route', S), '{{route}}']]),
    ts('Stage p99 by route class', 's', [[q(0.99, 'hotpath_stage_duration_seconds', 'route, stage', S), '{{route}} {{stage}}']]),
    ts('Predict stages p50', 's', [[q(0.5, 'hotpath_stage_duration_seconds', 'stage', `${S}, route="predict"`), '{{stage}}']]),
    ts('Predict stages p99.9', 's', [[q(0.999, 'hotpath_stage_duration_seconds', 'stage', `${S}, route="predict"`), '{{stage}}']]),
    ts('Batch size the requests ran in: p50 / p99', 'none', [[q(0.5, 'hotpath_model_batch_size', 'model'), '{{model}} p50'], [q(0.99, 'hotpath_model_batch_size', 'model'), '{{model}} p99']]),
  ]],
  ['Inference', [
    ts('Mean batch size', 'none', [[`sum by (model) (rate(hotpath_model_inference_count_total{${M}}${R})) / sum by (model) (rate(hotpath_model_execution_count_total{${M}}${R}))`, '{{model}}']]),
    ts('Queue delay (oldest request not yet running)', 's', [[`hotpath_queue_delay_seconds{${S}}`, '{{instance}}']]),
    ts('Batch window (max_queue_delay_us, or what adaptive batching chose)', 's', [[`max by (model) (hotpath_model_queue_delay_target_seconds{${M}})`, '{{model}}']]),
    ts('Shed/s by cause', 'reqps', [[`sum by (cause) (rate(hotpath_shed_requests_total{${S}}${R}))`, '{{cause}}']]),
    ts('Fallbacks/s by model and reason', 'reqps', [[`sum by (model, reason) (rate(hotpath_model_fallbacks_total{${M}}${R}))`, '{{model}} {{reason}}']]),
    ts('Circuit breaker state (0 closed, 1 half-open, 2 open)', 'none', [[`max by (model, instance) (hotpath_circuit_state{${M}})`, '{{model}} {{instance}}']], { max: 2 }),
    ts('Ring occupancy', 'percentunit', [[`max by (instance, worker, ring) (hotpath_ring_occupancy_ratio{${S}})`, '{{instance}} w{{worker}} {{ring}}']], { max: 1 }),
    ts('Wait queue and workers', 'none', [[`sum by (instance) (hotpath_wait_queue_length{${S}})`, 'waiting {{instance}}'], [`sum by (instance) (hotpath_inference_threads{${S}})`, 'workers {{instance}}'], [`sum by (instance) (increase(hotpath_worker_restarts_total{${S}}${R}))`, 'restarts {{instance}}']]),
    ts('Model device and version', 'none', [[`max by (model, device) (hotpath_model_device{${M}})`, '{{model}} on {{device}}'], [`max by (model) (hotpath_model_version{${M}})`, '{{model}} version']]),
    ts('GPU loads that ran on the CPU', 'none', [[`sum by (model, reason) (increase(hotpath_model_device_fallbacks_total{${M}}${R}))`, '{{model}} {{reason}}']]),
  ]],
  ['Ingest and durability', [
    ts('Late and duplicate events/s', 'ops', [[`sum by (stream) (rate(hotpath_events_late_total{${S}}${R}))`, 'late {{stream}}'], [`sum by (stream, source) (rate(hotpath_events_duplicate_total{${S}}${R}))`, 'duplicate {{stream}} ({{source}})']]),
    ts('Ingest tap errors/s', 'ops', [[`sum by (tap) (rate(hotpath_ingest_tap_errors_total{${S}}${R}))`, '{{tap}}']]),
    ts('Write-ahead log bytes/s', 'Bps', [[`sum by (instance) (rate(hotpath_wal_bytes_total{${S}}${R}))`, '{{instance}}']]),
    ts('fdatasync: mean time', 's', [[`sum by (instance) (rate(hotpath_wal_fsync_seconds_total{${S}}${R})) / sum by (instance) (rate(hotpath_wal_fsyncs_total{${S}}${R}))`, '{{instance}}']]),
    ts('Log writable, acks waiting, batches refused', 'none', [[`min by (instance) (hotpath_wal_writable{${S}})`, 'writable {{instance}}'], [`sum by (instance) (hotpath_wal_pending_acks{${S}})`, 'acks waiting {{instance}}'], [`sum by (instance) (increase(hotpath_wal_refused_total{${S}}${R}))`, 'refused {{instance}}']]),
    ts('Records per write (group commit)', 'none', [[`sum by (instance) (rate(hotpath_wal_records_total{${S}}${R})) / sum by (instance) (rate(hotpath_wal_writes_total{${S}}${R}))`, '{{instance}}']]),
    ts('Snapshots and failures', 'none', [[`sum by (instance) (increase(hotpath_snapshots_total{${S}}[1h]))`, 'taken/h {{instance}}'], [`sum by (instance) (increase(hotpath_snapshot_failures_total{${S}}[1h]))`, 'failed/h {{instance}}']]),
    ts('Last snapshot: duration and longest ingest stall', 's', [[`max by (instance) (hotpath_snapshot_last_duration_seconds{${S}})`, 'duration {{instance}}'], [`max by (instance) (hotpath_snapshot_last_max_stall_seconds{${S}})`, 'stall {{instance}}']]),
    ts('Last snapshot size, log behind it', 'none', [[`max by (instance) (hotpath_snapshot_last_bytes{${S}})`, 'bytes {{instance}}'], [`max by (instance) (hotpath_wal_last_seq{${S}} - hotpath_snapshot_last_seq{${S}})`, 'records since {{instance}}']]),
    ts('Recovery at start', 's', [[`max by (instance) (hotpath_recovery_seconds{${S}})`, 'seconds {{instance}}'], [`max by (instance) (hotpath_recovery_dropped_records{${S}})`, 'torn records {{instance}}'], [`max by (instance) (hotpath_recovery_replayed_events{${S}})`, 'replayed events {{instance}}']]),
  ]],
  ['Entity tables (docs/config.md "Budget")', [
    ts('Entities held / capacity', 'percentunit', [[`max by (entity, instance) (hotpath_entity_rows{${S}} / hotpath_entity_capacity{${S}})`, '{{entity}} {{instance}}']], { max: 1 }),
    ts('Rows promoted to the full form / entities held', 'percentunit', [[`max by (entity, instance) (hotpath_entity_promoted_rows{${S}} / hotpath_entity_rows{${S}})`, '{{entity}} {{instance}}']], { max: 1 }),
    ts('Entities evicted/s by reason', 'ops', [[`sum by (entity, reason) (rate(hotpath_entity_evictions_total{${S}}${R}))`, '{{entity}} {{reason}}']]),
  ]],
  ['Freshness', [
    ts('Feature freshness p50 (age of the newest event when read)', 's', [[q(0.5, 'hotpath_feature_freshness_seconds', 'entity', S), '{{entity}}']], { w: 12 }),
    ts('Feature freshness p99', 's', [[q(0.99, 'hotpath_feature_freshness_seconds', 'entity', S), '{{entity}}']], { w: 12 }),
  ]],
  ['Caches', [
    ts('Hit ratio by cache and level', 'percentunit', [[`sum by (cache, level) (rate(hotpath_cache_requests_total{${S}, result="hit"}${R})) / sum by (cache, level) (rate(hotpath_cache_requests_total{${S}}${R}))`, '{{cache}} {{level}}']], { max: 1 }),
    ts('L1 entries', 'none', [[`sum by (cache) (hotpath_cache_entries{${S}})`, '{{cache}}']]),
    ts('Evictions, stale answers, invalidations /s', 'ops', [[`sum by (cache) (rate(hotpath_cache_evictions_total{${S}}${R}))`, 'evicted {{cache}}'], [`sum by (cache) (rate(hotpath_cache_stale_total{${S}}${R}))`, 'stale {{cache}}'], [`sum(rate(hotpath_cache_invalidations_total{${S}}${R}))`, 'invalidations']]),
  ]],
  ['Redis: shared log and online store', [
    ts('Shared log lag by replica', 's', [[`max by (replica) (hotpath_redis_log_lag_seconds{${S}})`, '{{replica}}']]),
    ts('Shared log entries behind and pending', 'none', [[`max by (replica) (hotpath_redis_log_lag_entries{${S}})`, 'behind {{replica}}'], [`max by (replica) (hotpath_redis_log_pending_entries{${S}})`, 'pending {{replica}}']]),
    ts('Apply delay p99 (append to applied here)', 's', [[q(0.99, 'hotpath_redis_log_apply_delay_seconds', 'instance', S), '{{instance}}']]),
    ts('Backlog not yet appended', 'none', [[`sum by (instance) (hotpath_redis_log_backlog_batches{${S}})`, 'batches {{instance}}']]),
    ts('Backlog bytes', 'bytes', [[`sum by (instance) (hotpath_redis_log_backlog_bytes{${S}})`, '{{instance}}']]),
    ts('Stream length and dedup window', 'none', [[`max(hotpath_redis_log_stream_length{${S}})`, 'stream entries (XLEN)'], [`max by (instance) (hotpath_redis_log_dedup_ids{${S}})`, 'dedup ids {{instance}}']]),
    ts('Shared log batches/s by outcome', 'ops', [[`sum by (outcome) (rate(hotpath_redis_log_batches_total{${S}}${R}))`, '{{outcome}}']]),
    ts('Shared log failures/s', 'ops', [[`sum by (instance) (rate(hotpath_redis_log_append_failures_total{${S}}${R}))`, 'append {{instance}}'], [`sum by (instance) (rate(hotpath_redis_log_read_failures_total{${S}}${R}))`, 'read {{instance}}'], [`sum by (instance) (rate(hotpath_redis_log_refused_total{${S}}${R}))`, 'refused {{instance}}']]),
    ts('Redis connections (1 up)', 'none', [[`min by (instance) (hotpath_redis_log_connected{${S}})`, 'shared log {{instance}}'], [`min by (instance) (hotpath_online_store_connected{${S}})`, 'online store {{instance}}']], { max: 1 }),
    ts('Online store rows written and failures /s', 'ops', [[`sum by (instance) (rate(hotpath_online_store_rows_written_total{${S}}${R}))`, 'written {{instance}}'], [`sum by (instance) (rate(hotpath_online_store_write_failures_total{${S}}${R}))`, 'failed {{instance}}'], [`sum by (instance) (rate(hotpath_online_store_dropped_total{${S}}${R}))`, 'dropped {{instance}}']]),
    ts('Online store dirty entities and read-through', 'none', [[`sum by (instance) (hotpath_online_store_dirty_entities{${S}})`, 'dirty {{instance}}'], [`sum by (result) (rate(hotpath_online_store_read_through_total{${S}}${R}))`, 'read-through {{result}}/s']]),
  ]],
  ['Regions: hotpath mirror (docs/multi-region.md)', [
    ts('Mirror lag (oldest entry not yet copied)', 's', [[`max by (from_region, to_region) (hotpath_mirror_lag_seconds{${S}})`, '{{from_region}} → {{to_region}}']]),
    ts('Mirror entries behind', 'none', [[`max by (from_region, to_region) (hotpath_mirror_lag_entries{${S}})`, '{{from_region}} → {{to_region}}']]),
    ts('Copy delay p99 (append on the source to the copy\'s reply)', 's', [[q(0.99, 'hotpath_mirror_delay_seconds', 'from_region, to_region', S), '{{from_region}} → {{to_region}}']]),
    ts('Mirror entries/s by outcome', 'ops', [[`sum by (from_region, to_region, outcome) (rate(hotpath_mirror_entries_total{${S}}${R}))`, '{{from_region}} → {{to_region}} {{outcome}}'], [`sum by (from_region, to_region) (rate(hotpath_mirror_acked_total{${S}}${R}))`, '{{from_region}} → {{to_region}} acked'], [`sum by (from_region, to_region) (rate(hotpath_mirror_claimed_total{${S}}${R}))`, '{{from_region}} → {{to_region}} claimed']]),
    ts('Mirror failures/s by side', 'ops', [[`sum by (from_region, to_region, side) (rate(hotpath_mirror_failures_total{${S}}${R}))`, '{{from_region}} → {{to_region}} {{side}}']]),
    ts('Mirror connections (1 up)', 'none', [[`min by (from_region, to_region, side) (hotpath_mirror_connected{${S}})`, '{{from_region}} → {{to_region}} {{side}}']], { max: 1 }),
  ]],
  ['Learning and detectors', [
    ts('Learner labels/s by outcome', 'ops', [[`sum by (model, outcome) (rate(hotpath_learner_labels_total{${M}}${R}))`, '{{model}} {{outcome}}']]),
    ts('Learner quality (progressive validation)', 'none', [[`avg by (model) (hotpath_learner_roc_auc{${M}})`, '{{model}} ROC AUC'], [`avg by (model) (hotpath_learner_accuracy{${M}})`, '{{model}} accuracy'], [`avg by (model) (hotpath_learner_log_loss{${M}})`, '{{model}} log loss']]),
    ts('Drifts', 'none', [[`sum by (model) (increase(hotpath_learner_drifts_total{${M}}${R}))`, 'learner {{model}}'], [`sum by (detector) (increase(hotpath_detector_drifts_total{${S}}${R}))`, 'detector {{detector}}']]),
    ts('Detector events/s', 'ops', [[`sum by (detector, kind) (rate(hotpath_detector_events_total{${S}}${R}))`, '{{detector}} ({{kind}})']]),
  ]],
  ['Alerts', [
    ts('Alerts firing by rule', 'none', [[`sum by (rule) (hotpath_alerts_firing{${S}})`, '{{rule}}']]),
    ts('Alerts raised/s by rule and state', 'ops', [[`sum by (rule, state) (rate(hotpath_alerts_total{${S}}${R}))`, '{{rule}} {{state}}'], [`sum by (rule) (rate(hotpath_alerts_suppressed_total{${S}}${R}))`, '{{rule}} suppressed']]),
    ts('Webhook deliveries/s and queue', 'ops', [[`sum by (webhook, outcome) (rate(hotpath_alert_webhook_deliveries_total{${S}}${R}))`, '{{webhook}} {{outcome}}'], [`sum by (webhook) (rate(hotpath_alert_webhook_retries_total{${S}}${R}))`, '{{webhook}} retries'], [`sum by (webhook) (hotpath_alert_webhook_queue_depth{${S}})`, '{{webhook}} queued']]),
  ]],
  ['Bandits and experiments', [
    ts('Bandit decisions/s and rewards/s', 'ops', [[`sum by (bandit) (rate(hotpath_bandit_decisions_total{${S}}${R}))`, '{{bandit}} decisions'], [`sum by (bandit, outcome) (rate(hotpath_bandit_rewards_total{${S}}${R}))`, '{{bandit}} rewards {{outcome}}']]),
    ts('Bandit arm share of pulls', 'percentunit', [[`sum by (bandit, arm) (rate(hotpath_bandit_arm_pulls_total{${S}}${R})) / ignoring (arm) group_left sum by (bandit) (rate(hotpath_bandit_arm_pulls_total{${S}}${R}))`, '{{bandit}} {{arm}}']], { max: 1 }),
    ts('Bandit arm mean reward', 'none', [[`avg by (bandit, arm) (hotpath_bandit_arm_mean_reward{${S}})`, '{{bandit}} {{arm}}']]),
    ts('Experiment exposures/s by variant', 'ops', [[`sum by (experiment, variant) (rate(hotpath_experiment_exposures_total{${S}}${R}))`, '{{experiment}} {{variant}}']]),
    ts('Experiment serve failure ratio', 'percentunit', [[`sum by (experiment, variant) (rate(hotpath_experiment_serve_failures_total{${S}}${R})) / sum by (experiment, variant) (rate(hotpath_experiment_serves_total{${S}}${R}))`, '{{experiment}} {{variant}}']]),
    ts('Experiment p-values and SRM', 'none', [[`min by (experiment, variant, test) (hotpath_experiment_p_value{${S}})`, '{{experiment}} {{variant}} {{test}}'], [`min by (experiment) (hotpath_experiment_srm_p_value{${S}})`, '{{experiment}} SRM']], { log: true }),
    ts('Experiment metric by variant', 'none', [[`avg by (experiment, variant) (hotpath_experiment_metric_mean{${S}})`, '{{experiment}} {{variant}}']]),
    ts('Experiment share and decisions', 'none', [[`max by (experiment) (hotpath_experiment_share{${S}})`, '{{experiment}} share'], [`max by (experiment) (hotpath_experiment_running{${S}})`, '{{experiment}} running'], [`sum by (experiment, kind) (increase(hotpath_experiment_decisions_total{${S}}${R}))`, '{{experiment}} {{kind}}']]),
  ]],
  ['Process', [
    ts('CPU', 'percentunit', [[`rate(hotpath_process_cpu_seconds_total{${S}}${R})`, '{{instance}}']]),
    ts('Memory', 'bytes', [[`hotpath_process_resident_memory_bytes{${S}}`, 'resident {{instance}}'], [`hotpath_nodejs_heap_size_used_bytes{${S}}`, 'heap used {{instance}}']]),
    ts('GC time/s', 'percentunit', [[`sum by (instance, kind) (rate(hotpath_nodejs_gc_duration_seconds_sum{${S}}${R}))`, '{{instance}} {{kind}}']]),
  ]],
];

const variable = (name, label, query, o = {}) => ({
  name, label, type: 'query', datasource: DS, query: { query, refId: `${name}-var` }, definition: query,
  refresh: 2, includeAll: true, multi: true, allValue: '.*', current: { selected: true, text: ['All'], value: ['$__all'] },
  sort: 1, hide: 0, options: [], ...o,
});

export function dashboard() {
  const panels = [];
  let id = 1;
  let y = 0;
  for (const [title, items] of ROWS) {
    panels.push({ id: id++, type: 'row', title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    for (const p of items) {
      const w = p.w ?? 8;
      if (x + w > 24) {
        x = 0;
        y += 8;
      }
      const fieldConfig = { defaults: { unit: p.unit, ...(p.max !== undefined ? { min: 0, max: p.max } : {}) }, overrides: [] };
      if (p.kind === 'timeseries') fieldConfig.defaults.custom = { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false, ...(p.log ? { scaleDistribution: { type: 'log', log: 10 } } : {}) };
      panels.push({
        id: id++, type: p.kind, title: p.title, datasource: DS, gridPos: { h: 8, w, x, y }, fieldConfig,
        options: p.kind === 'stat'
          ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area', textMode: 'auto', orientation: 'auto', justifyMode: 'auto' }
          : { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
        targets: p.targets.map(([expr, legendFormat], i) => ({ refId: String.fromCharCode(65 + i), datasource: DS, expr, legendFormat, range: true, editorMode: 'code' })),
      });
      x += w;
    }
    y += 8;
  }
  return {
    title: 'hotpath', uid: 'hotpath', description: 'hotpath\'s Prometheus metrics: traffic, latency, inference, ingest and durability, freshness, caches, Redis, learning, alerts, bandits and experiments (deploy/grafana, docs/operations.md).',
    tags: ['hotpath'], editable: true, graphTooltip: 1, schemaVersion: 39, version: 1, refresh: '30s', timezone: 'browser',
    time: { from: 'now-3h', to: 'now' }, timepicker: {}, fiscalYearStartMonth: 0, liveNow: false, weekStart: '',
    annotations: { list: [{ builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' }] },
    links: [],
    templating: {
      list: [
        { name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus', refresh: 1, hide: 0, includeAll: false, multi: false, options: [], current: {}, regex: '' },
        variable('job', 'job', 'label_values(hotpath_inference_threads, job)', { includeAll: false, multi: false, allValue: undefined, current: {} }),
        variable('instance', 'instance', 'label_values(hotpath_inference_threads{job=~"$job"}, instance)'),
        variable('pod', 'pod', 'label_values(hotpath_inference_threads{job=~"$job"}, pod)'),
        variable('model', 'model', 'label_values(hotpath_model_ready{job=~"$job"}, model)'),
      ],
    },
    panels,
  };
}

export const dashboardText = () => `${JSON.stringify(dashboard(), null, 2)}\n`;

/** deploy/kubernetes/prometheusrule.yaml: rules.yaml's groups in a PrometheusRule */
export function prometheusRuleText() {
  const { groups } = parse(readFileSync(new URL('../deploy/prometheus/rules.yaml', import.meta.url), 'utf8'));
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'hotpath', labels: { 'app.kubernetes.io/name': 'hotpath', 'app.kubernetes.io/component': 'server' } },
    spec: { groups },
  };
  return [
    '# Generated from deploy/prometheus/rules.yaml by scripts/build-observability.mjs: edit that',
    '# file, then run the script. prometheus-operator loads these rules when its Prometheus\'s',
    '# ruleSelector matches the labels below (kube-prometheus-stack: add `release: <its release>`;',
    '# docs/operations.md).',
    stringify(rule, { lineWidth: 0 }),
  ].join('\n');
}

const OUT = {
  'deploy/grafana/hotpath.json': dashboardText,
  'deploy/kubernetes/prometheusrule.yaml': prometheusRuleText,
};
export const generated = () => Object.entries(OUT).map(([path, text]) => ({ path, text: text() }));

if (process.argv[1] === fileURLToPath(import.meta.url))
  for (const { path, text } of generated()) {
    writeFileSync(fileURLToPath(new URL(`../${path}`, import.meta.url)), text);
    console.log(`wrote ${path}`);
  }
