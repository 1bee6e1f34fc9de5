// POST /v1/predict/{model}: entity ids and request fields in, the model's scores out; the
// worker gathers the model's features from the store.
import { parseJsonBody } from '../http.js';
import { predictText } from '../predict.js';
import type { Route } from './route.js';

export const predictRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/predict/:model',
    scope: 'predict:{model}',
    body: 'bytes',
    timed: true,
    about: 'score entities and fields with a model',
    handle(c, ctx) {
      const r = ctx.predict.request(c.params[0], parseJsonBody(c.body));
      ctx.predict.submit(r, (err, out) => (err ? c.fail(err) : c.send(200, predictText(out!, c.start))));
    },
  },
];
