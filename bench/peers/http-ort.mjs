// Peer: node:http + onnxruntime-node, one session.run per request, features in a Map.
import { createServer } from 'node:http';

import { inputRow, loadFeatures, loadModel, modelInputs, port, score } from './common.mjs';

const features = loadFeatures(process.argv[3]);
const inputs = modelInputs();
const session = await loadModel();
const json = (res, body) => {
  const s = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
};
createServer((req, res) => {
  const parts = req.url.split('/');
  if (req.method === 'GET' && parts[1] === 'v1' && parts[2] === 'features') {
    const f = features[parts[3]]?.[parts[4]];
    return json(res, { id: parts[4], found: !!f, features: f ?? {} });
  }
  if (req.method === 'POST' && parts[2] === 'predict') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const { entities = {}, fields = {} } = JSON.parse(Buffer.concat(chunks).toString());
      const s = await score(session, inputRow(inputs, (e) => features[e]?.[entities[e]], fields));
      json(res, { model: parts[3], score: s, scores: [s] });
    });
    return;
  }
  json(res, { hello: 'world' });
}).listen(port(), '127.0.0.1');
