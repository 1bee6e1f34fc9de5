// Peer: Fastify + ioredis, "Redis as the online store": features are hashes f:<entity>:<id>
// in a real Redis (bench/suite.ts loads them); predict reads both entities in one pipeline
// and runs onnxruntime-node once per request.
import Fastify from 'fastify';
import Redis from 'ioredis';

import { inputRow, loadModel, modelInputs, port, score } from './common.mjs';

const redis = new Redis({ host: '127.0.0.1', port: Number(process.argv[3] ?? 6379), enableAutoPipelining: true });
const inputs = modelInputs();
const session = await loadModel();
const parse = (h) => {
  if (!h || Object.keys(h).length === 0) return null;
  const out = {};
  for (const [k, v] of Object.entries(h)) out[k] = v === '' ? null : Number(v);
  return out;
};
const app = Fastify({ logger: false });
app.get('/v1/features/:entity/:id', async (req) => {
  const f = parse(await redis.hgetall(`f:${req.params.entity}:${req.params.id}`));
  return { id: req.params.id, found: !!f, features: f ?? {} };
});
app.post('/v1/predict/:model', async (req) => {
  const { entities = {}, fields = {} } = req.body ?? {};
  const names = Object.keys(entities);
  const rows = await Promise.all(names.map((e) => redis.hgetall(`f:${e}:${entities[e]}`)));
  const byEntity = Object.fromEntries(names.map((e, i) => [e, parse(rows[i])]));
  const s = await score(session, inputRow(inputs, (e) => byEntity[e], fields));
  return { model: req.params.model, score: s, scores: [s] };
});
await app.listen({ host: '127.0.0.1', port: port() });
