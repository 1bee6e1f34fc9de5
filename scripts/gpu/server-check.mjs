#!/usr/bin/env node
// The server half of scripts/gpu-check.sh: hotpath (the built dist/ and addon) serves the
// demo fraud model twice, `fraud_gpu` with device cuda and `fraud_cpu` with device cpu, and
// this script checks on a real HTTP server that
//   - the GPU model loads on the device (KServe metadata parameters.device) and answers
//     predicts and a 256-row tensor batch with the CPU model's scores;
//   - both sustain the same concurrent load (requests per second, reported);
//   - a device fault (POST /v1/debug/fault {"fault":"device"}) moves it to the CPU with
//     no failed request, the log line and hotpath_model_device_fallbacks_total{reason="device_lost"}.
// Without a GPU it checks the fallback instead (device cpu, reason no_device or not_built).
// Markdown on stdout; exit 1 when a check fails.
//   node scripts/gpu/server-check.mjs
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parse, stringify } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { loadConfigText } = await import(join(root, 'dist/config/load.js'));
const { startServer } = await import(join(root, 'dist/server/app.js'));
const { backends } = await import(join(root, 'dist/native/binding.js'));

const demo = parse(readFileSync(join(root, 'hotpath.yaml'), 'utf8'));
const fraud = demo.models.fraud;
const model = (device) => ({ repository: 'models/fraud', runtime: 'native', device, inputs: fraud.inputs, batching: { max_batch: 256, max_queue_delay_us: 200 }, timeout: '2s' });
const config = {
  server: { host: '127.0.0.1', port: 0, workers: 2, fault_injection: true },
  streams: demo.streams,
  entities: demo.entities,
  models: { fraud_gpu: model('cuda'), fraud_cpu: model('cpu') },
};
const lines = [];
const server = await startServer({ config: loadConfigText(stringify(config), { baseDir: root }), port: 0, host: '127.0.0.1', log: (l) => lines.push(l) });
const base = `http://127.0.0.1:${server.port}`;
const cuda = backends().cuda;
const gpu = cuda.compiled && cuda.devices > 0;
let failed = 0;
const check = (ok, what) => {
  console.log(`- ${ok ? 'ok' : 'FAILED'}: ${what}`);
  if (!ok) failed++;
};
const post = async (path, body) => {
  const r = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
};
const get = async (path) => (await fetch(base + path)).json();
const metric = (text, name, labels) => {
  const m = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((p) => l.includes(p)));
  return m ? Number(m.split(' ').pop()) : 0;
};

try {
  console.log(`# Server check: device ${gpu ? cuda.name : `none (${cuda.compiled ? cuda.error : 'CPU-only build'})`}\n`);
  // Some history, so that the features are not all empty.
  const now = Date.now();
  const events = [];
  for (let i = 0; i < 2000; i++) events.push({ user_id: `user-${i % 97}`, merchant_id: `merchant-${i % 13}`, amount: 5 + ((i * 37) % 300), country: ['FR', 'DE', 'US'][i % 3], channel: 'web', ts: now - 3_000_000 + i * 1000 });
  check((await post('/v1/events', events)).status === 200, 'events ingested');

  const meta = (await get('/v2/models/fraud_gpu')).parameters;
  check(meta.device === (gpu ? 'cuda' : 'cpu'), `fraud_gpu runs on ${meta.device} (${JSON.stringify(meta)})`);
  for (const l of lines.filter((l) => /fraud_gpu/.test(l))) console.log(`  log: ${l}`);

  let worst = 0;
  for (let i = 0; i < 200; i++) {
    const body = { entities: { user: `user-${i % 120}`, merchant: `merchant-${i % 15}` }, fields: { amount: 1 + ((i * 53) % 2000) } };
    const [g, c] = await Promise.all([post('/v1/predict/fraud_gpu', body), post('/v1/predict/fraud_cpu', body)]);
    if (g.status !== 200 || c.status !== 200) throw new Error(`predict failed: ${JSON.stringify(g.body)} ${JSON.stringify(c.body)}`);
    worst = Math.max(worst, Math.abs(g.body.score - c.body.score));
  }
  check(worst <= 1e-5, `200 predicts: largest |gpu - cpu| score ${worst.toExponential(2)}`);

  const rows = 256;
  const data = Array.from({ length: rows * 10 }, (_, i) => Math.log1p((i * 7919) % 500) / 2);
  const inName = (await get('/v2/models/fraud_gpu')).inputs[0].name;
  const infer = (name) => post(`/v2/models/${name}/infer`, { inputs: [{ name: inName, datatype: 'FP32', shape: [rows, 10], data }] });
  const [tg, tc] = await Promise.all([infer('fraud_gpu'), infer('fraud_cpu')]);
  const dg = tg.body.outputs[0].data;
  const dc = tc.body.outputs[0].data;
  check(dg.length === rows && dg.every((v, i) => Math.abs(v - dc[i]) <= 1e-5), `a ${rows}-row tensor batch matches the CPU model`);

  const load = async (name, total, concurrency) => {
    let next = 0;
    let errors = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const r = await post(`/v1/predict/${name}`, { entities: { user: `user-${i % 500}`, merchant: `merchant-${i % 40}` }, fields: { amount: 10 + (i % 900) } });
        if (r.status !== 200) errors++;
      }
    }));
    return { rps: total / ((performance.now() - t0) / 1000), errors };
  };
  console.log('\n| model | requests/s (4000 predicts, 64 in flight) | errors |\n|---|---|---|');
  for (const name of ['fraud_cpu', 'fraud_gpu']) {
    const r = await load(name, 4000, 64);
    console.log(`| ${name} | ${r.rps.toFixed(0)} | ${r.errors} |`);
    if (r.errors) failed++;
  }
  console.log('');

  if (gpu) {
    const f = await post('/v1/debug/fault', { fault: 'device', model: 'fraud_gpu' });
    check(f.status === 200, `device fault injected (${JSON.stringify(f.body)})`);
    const during = await load('fraud_gpu', 400, 16);
    check(during.errors === 0, `400 predicts across the device loss: ${during.errors} errors`);
    const after = (await get('/v2/models/fraud_gpu')).parameters;
    check(after.device === 'cpu', `after the loss fraud_gpu runs on ${after.device}`);
    const text = await (await fetch(`${base}/metrics`)).text();
    const lost = metric(text, 'hotpath_model_device_fallbacks_total', 'model="fraud_gpu",reason="device_lost"');
    // one count per worker that ran a batch of fraud_gpu after the fault (both, nearly always)
    check(lost >= 1 && lost <= 2, `hotpath_model_device_fallbacks_total{reason="device_lost"} = ${lost} (one per worker that lost it)`);
    check(lines.some((l) => /fraud_gpu.*lost its GPU/.test(l)), 'the loss is in the log');
  } else {
    const text = await (await fetch(`${base}/metrics`)).text();
    const reason = cuda.compiled ? 'no_device' : 'not_built';
    check(metric(text, 'hotpath_model_device_fallbacks_total', `model="fraud_gpu",reason="${reason}"`) === 1, `no GPU: fallback counted (${reason})`);
  }
} finally {
  await server.close();
}
console.log(failed ? `\n${failed} check(s) failed` : '\nall checks passed');
process.exit(failed ? 1 : 0);
