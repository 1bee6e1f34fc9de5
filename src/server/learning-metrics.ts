// Prometheus metrics of streaming ML: each learner's labels by outcome, updates, clipped
// gradients, drifts, and its progressive-validation metrics over the sliding window; each
// detector's events and drifts. Read from plain counters at scrape time: nothing on the
// ingest or predict path.
import type client from 'prom-client';

import { LABEL_OUTCOMES, type OnlineModel } from '../learn/online-model.js';
import type { Learning } from '../learn/learning.js';
import { scraped } from './scrape-metrics.js';

export function registerLearningMetrics(registry: client.Registry, learning: Learning): void {
  const models = [...learning.models.values()];
  const perModel = (kind: 'counter' | 'gauge', name: string, help: string, value: (m: OnlineModel) => number): void =>
    scraped(registry, kind, name, help, ['model'], () => models.map((m) => [{ model: m.def.name }, value(m)] as const));
  scraped(
    registry, 'counter', 'hotpath_learner_labels_total',
    'Labels that reached a learner, by outcome: joined (learned), unknown (no such prediction), expired (past the horizon or out of the pending ring), duplicate, invalid (not 0 or 1)',
    ['model', 'outcome'], () => models.flatMap((m) => LABEL_OUTCOMES.map((o) => [{ model: m.def.name, outcome: o }, m.labels[o]] as const)),
  );
  perModel('counter', 'hotpath_learner_predictions_total', 'Predictions a learner made', (m) => m.counts.predictions);
  perModel('counter', 'hotpath_learner_updates_total', 'Labelled examples a learner learned', (m) => m.counts.updates);
  perModel('counter', 'hotpath_learner_gradient_clipped_total', 'Updates whose gradient was clipped (learner.clip)', (m) => m.counts.clipped);
  perModel('counter', 'hotpath_learner_refused_total', 'Examples the learner refused (a NaN or infinite input): its state is unchanged', (m) => m.counts.refused);
  perModel('counter', 'hotpath_learner_drifts_total', 'Drifts the learner\'s detector found on its error stream', (m) => m.counts.drifts);
  perModel('gauge', 'hotpath_learner_pending', 'Predictions waiting for their label (the pending ring\'s fill)', (m) => m.pending);
  perModel('gauge', 'hotpath_learner_accuracy', 'Progressive-validation accuracy over the last learner.metrics_window labels', (m) => m.metrics.accuracy());
  perModel('gauge', 'hotpath_learner_log_loss', 'Progressive-validation log loss over the last learner.metrics_window labels', (m) => m.metrics.logLoss());
  perModel('gauge', 'hotpath_learner_roc_auc', 'Progressive-validation ROC AUC over the last learner.metrics_window labels', (m) => m.metrics.rocAuc());
  perModel('gauge', 'hotpath_learner_version', 'The learner\'s version: 1, plus one per reset or promotion after a drift', (m) => m.version);
  const detectors = learning.detectors;
  scraped(registry, 'counter', 'hotpath_detector_events_total', 'Events a stream detector scored', ['detector', 'kind'], () =>
    detectors.map((d) => [{ detector: d.def.name, kind: d.def.kind }, d.counts.events] as const));
  scraped(registry, 'counter', 'hotpath_detector_drifts_total', 'Drifts a stream drift detector (adwin, page_hinkley) found', ['detector'], () =>
    detectors.filter((d) => d.def.kind === 'adwin' || d.def.kind === 'page_hinkley').map((d) => [{ detector: d.def.name }, d.counts.drifts] as const));
}
