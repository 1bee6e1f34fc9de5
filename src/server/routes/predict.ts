// POST /v1/predict/{model}: entity ids and request fields in, the model's scores out; the
// worker gathers the model's features from the store.
import type { Answer } from '../../runtime/inference.js';
import { nowMs } from '../../runtime/records.js';
import { predictBytes, predictJson } from '../predict.js';
import { flag } from './events.js';
import type { Call, Route } from './route.js';

export const predictRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/predict/:model',
    scope: 'predict:{model}',
    body: 'bytes',
    stages: 'predict',
    pooled: true,
    about: 'score entities and fields with a model; ?scores=true adds the anomaly detectors\' scores of the request',
    handle(c, ctx) {
      c.subject = c.params[0];
      const t = c.trace;
      const p0 = t !== undefined ? nowMs() : 0;
      // the common body read from its bytes; anything unusual falls back to JSON.parse (same errors)
      const r = ctx.predict.requestBytes(c.params[0], c.body);
      if (t !== undefined) {
        t.model = r.model.def.name;
        t.stage('parse', p0);
      }
      if (c.query.length > 0 && flag(new URLSearchParams(c.query).get('scores'))) {
        // the detectors that watch this request's fields (and entity), scored without learning
        const anomaly = ctx.learning.scoreRequest(r.model.def, r);
        ctx.predict.submit(r, (err, out) => (err ? c.fail(err) : ((c.result = out), c.send(200, JSON.stringify({ ...predictJson(out!, c.start), anomaly })))), t);
        return;
      }
      ctx.predict.submit(r, (c.slot as Answer | undefined) ?? (c.slot = answerOf(c)), t);
    },
  },
];

/**
 * A predict's answer callback, made once per Call (the route is pooled: the Call keeps it
 * in its slot). The pipeline calls it once per request; after the answer, nothing of the
 * request can reach the Call (uWS drops onAborted at end(), the body was read to its end),
 * so it is released for a later request.
 */
function answerOf(c: Call): Answer {
  return (err, out) => {
    if (err) c.fail(err);
    else {
      c.result = out; // its times: the stage split (stages.ts)
      c.send(200, predictBytes(out!, c.start)); // sent at once: the bytes are a shared buffer's
    }
    c.release();
  };
}
