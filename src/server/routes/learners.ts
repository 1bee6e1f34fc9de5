// The online learners (src/learn/): their state and progressive-validation metrics, a
// reset, and the export of a learner as an ONNX model of its current weights.
import { HotpathError, showValue } from '../../errors.js';
import { learnerOnnx } from '../../learn/onnx-export.js';
import type { OnlineModel } from '../../learn/online-model.js';
import type { ServerContext } from './context.js';
import type { Route } from './route.js';

function learner(ctx: ServerContext, name: string): OnlineModel {
  const m = ctx.learning.models.get(name);
  if (!m) {
    if (ctx.models.entries.has(name)) throw new HotpathError('HP_ERR_MODEL_NOT_LEARNER', `model ${showValue(name)} is not an online learner (it has a repository)`);
    throw new HotpathError('HP_ERR_MODEL_UNKNOWN', `unknown model ${showValue(name)}; learners: ${[...ctx.learning.models.keys()].join(', ') || 'none'}`);
  }
  return m;
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

export function learnerJson(m: OnlineModel): Record<string, unknown> {
  const l = m.def.learner!;
  return {
    model: m.def.name,
    version: m.version,
    algorithm: l.algorithm,
    inputs: m.def.inputs!.map((i) => i.name),
    labels: l.labels ? { stream: l.labels.stream.name, join: l.labels.join, horizon_ms: l.labels.horizonMs, pending: m.pending, outcomes: m.labels } : null,
    counts: m.counts,
    window: { size: m.metrics.size, labels: m.metrics.count, accuracy: finite(m.metrics.accuracy()), log_loss: finite(m.metrics.logLoss()), roc_auc: finite(m.metrics.rocAuc()) },
    drift: l.drift ? { detector: l.drift.detector, policy: l.drift.policy } : null,
  };
}

export const learnerRoutes: Route[] = [
  {
    method: 'get',
    path: '/v1/learners',
    scope: 'admin',
    body: 'none',
    about: 'the online learners: labels, updates, progressive-validation metrics',
    handle(c, ctx) {
      c.send(200, JSON.stringify({ learners: [...ctx.learning.models.values()].map(learnerJson) }));
    },
  },
  {
    method: 'get',
    path: '/v1/learners/:model',
    scope: 'admin',
    body: 'none',
    about: 'one online learner',
    handle(c, ctx) {
      c.send(200, JSON.stringify(learnerJson(learner(ctx, c.params[0]))));
    },
  },
  {
    method: 'get',
    path: '/v1/learners/:model/onnx',
    scope: 'admin',
    body: 'none',
    about: 'the learner as an ONNX model of its current weights (served by the native runtime)',
    handle(c, ctx) {
      const m = learner(ctx, c.params[0]);
      c.send(200, learnerOnnx(m.learner), {
        contentType: 'application/octet-stream',
        headers: [['content-disposition', `attachment; filename="${m.def.name}-v${m.version}.onnx"`]],
      });
    },
  },
  {
    method: 'post',
    path: '/v1/learners/:model/reset',
    scope: 'admin',
    body: 'none',
    about: 'forget what the learner learned (its version goes up)',
    handle(c, ctx) {
      const m = learner(ctx, c.params[0]);
      m.reset();
      c.send(200, JSON.stringify({ model: m.def.name, version: m.version }));
    },
  },
];
