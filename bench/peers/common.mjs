// What every peer shares: the demo model (models/fraud, the version hotpath serves), its
// inputs as hotpath.yaml lists them, and the features, read once from a JSON dump of
// hotpath's own store (bench/suite.ts writes it), so every server answers from the same
// values. The peers are the servers a Node user would write; they are not tuned.
import { readFileSync, readdirSync } from 'node:fs';

import * as ort from 'onnxruntime-node';
import { parse } from 'yaml';

const ROOT = new URL('../../', import.meta.url);

export function modelInputs() {
  const cfg = parse(readFileSync(new URL('hotpath.yaml', ROOT), 'utf8'));
  return cfg.models.fraud.inputs;
}

export async function loadModel() {
  const dir = new URL('models/fraud/', ROOT);
  const version = Math.max(...readdirSync(dir).filter((d) => /^\d+$/.test(d)).map(Number));
  return ort.InferenceSession.create(new URL(`${version}/model.onnx`, dir).pathname, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

/** entity -> id -> { feature: value | null } */
export function loadFeatures(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** The model's input row from an entity lookup and the request fields, as hotpath builds it. */
export function inputRow(inputs, lookup, fields) {
  const x = new Float32Array(inputs.length);
  inputs.forEach((inp, i) => {
    let v;
    if (inp.field !== undefined) v = fields[inp.field];
    else {
      const [entity, name] = inp.feature.split('.');
      const f = lookup(entity);
      v = f ? f[name] : null;
    }
    if (v === null || v === undefined || Number.isNaN(v)) v = inp.fill ?? 0;
    x[i] = inp.transform === 'log1p' ? Math.log1p(Math.max(v, 0)) : v;
  });
  return x;
}

export async function score(session, x) {
  const out = await session.run({ features: new ort.Tensor('float32', x, [1, x.length]) });
  return out.score.data[0];
}

export const port = () => Number(process.argv[2] ?? 18400);
