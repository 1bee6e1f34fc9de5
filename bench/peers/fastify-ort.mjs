// Peer: Fastify + onnxruntime-node, one session.run per request, features in a Map.
import Fastify from 'fastify';

import { inputRow, loadFeatures, loadModel, modelInputs, port, score } from './common.mjs';

const features = loadFeatures(process.argv[3]);
const inputs = modelInputs();
const session = await loadModel();
const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
app.get('/v1/features/:entity/:id', async (req, reply) => {
  const f = features[req.params.entity]?.[req.params.id];
  return f ? { id: req.params.id, found: true, features: f } : reply.code(200).send({ id: req.params.id, found: false, features: {} });
});
app.post('/v1/predict/:model', async (req) => {
  const { entities = {}, fields = {} } = req.body ?? {};
  const x = inputRow(inputs, (e) => features[e]?.[entities[e]], fields);
  const s = await score(session, x);
  return { model: req.params.model, score: s, scores: [s] };
});
await app.listen({ host: '127.0.0.1', port: port() });
