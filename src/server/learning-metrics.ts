// Prometheus metrics of streaming ML: each learner's labels by outcome, updates, clipped
// gradients, drifts, and its progressive-validation metrics over the sliding window; each
// detector's events and drifts. Read from plain counters at scrape time: nothing on the
// ingest or predict path.
import client from 'prom-client';

import { LABEL_OUTCOMES } from '../learn/online-model.js';
import type { Learning } from '../learn/learning.js';

export function registerLearningMetrics(registry: client.Registry, learning: Learning): void {
  const registers = [registry];
  const models = [...learning.models.values()];
  const perModel = (name: string, help: string, type: 'counter' | 'gauge', value: (m: (typeof models)[number]) => number): void => {
    if (type === 'counter')
      new client.Counter({
        name,
        help,
        labelNames: ['model'],
        registers,
        collect() {
          this.reset();
          for (const m of models) this.inc({ model: m.def.name }, value(m));
        },
      });
    else
      new client.Gauge({
        name,
        help,
        labelNames: ['model'],
        registers,
        collect() {
          this.reset();
          for (const m of models) {
            const v = value(m);
            if (Number.isFinite(v)) this.set({ model: m.def.name }, v); // NaN before the first label
          }
        },
      });
  };
  new client.Counter({
    name: 'hotpath_learner_labels_total',
    help: 'Labels that reached a learner, by outcome: joined (learned), unknown (no such prediction), expired (past the horizon or out of the pending ring), duplicate, invalid (not 0 or 1)',
    labelNames: ['model', 'outcome'],
    registers,
    collect() {
      this.reset();
      for (const m of models) for (const o of LABEL_OUTCOMES) this.inc({ model: m.def.name, outcome: o }, m.labels[o]);
    },
  });
  perModel('hotpath_learner_predictions_total', 'Predictions a learner made', 'counter', (m) => m.counts.predictions);
  perModel('hotpath_learner_updates_total', 'Labelled examples a learner learned', 'counter', (m) => m.counts.updates);
  perModel('hotpath_learner_gradient_clipped_total', 'Updates whose gradient was clipped (learner.clip)', 'counter', (m) => m.counts.clipped);
  perModel('hotpath_learner_refused_total', 'Examples the learner refused (a NaN or infinite input): its state is unchanged', 'counter', (m) => m.counts.refused);
  perModel('hotpath_learner_drifts_total', 'Drifts the learner\'s detector found on its error stream', 'counter', (m) => m.counts.drifts);
  perModel('hotpath_learner_pending', 'Predictions waiting for their label (the pending ring\'s fill)', 'gauge', (m) => m.pending);
  perModel('hotpath_learner_accuracy', 'Progressive-validation accuracy over the last learner.metrics_window labels', 'gauge', (m) => m.metrics.accuracy());
  perModel('hotpath_learner_log_loss', 'Progressive-validation log loss over the last learner.metrics_window labels', 'gauge', (m) => m.metrics.logLoss());
  perModel('hotpath_learner_roc_auc', 'Progressive-validation ROC AUC over the last learner.metrics_window labels', 'gauge', (m) => m.metrics.rocAuc());
  perModel('hotpath_learner_version', 'The learner\'s version: 1, plus one per reset or promotion after a drift', 'gauge', (m) => m.version);
  const detectors = learning.detectors;
  new client.Counter({
    name: 'hotpath_detector_events_total',
    help: 'Events a stream detector scored',
    labelNames: ['detector', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const d of detectors) this.inc({ detector: d.def.name, kind: d.def.kind }, d.counts.events);
    },
  });
  new client.Counter({
    name: 'hotpath_detector_drifts_total',
    help: 'Drifts a stream drift detector (adwin, page_hinkley) found',
    labelNames: ['detector'],
    registers,
    collect() {
      this.reset();
      for (const d of detectors) if (d.def.kind === 'adwin' || d.def.kind === 'page_hinkley') this.inc({ detector: d.def.name }, d.counts.drifts);
    },
  });
}
