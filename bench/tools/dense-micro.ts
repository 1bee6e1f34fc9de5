// The native runtime's dense layers (native/core/model.cc; int8: kernels.cc), rows/s on one
// thread: the fraud models of models/ and a wider random MLP, in fp32 and int8, at batch 1,
// 20 (a predict batch at the demo's maximum), 64 and 256, on random inputs. With --a and
// --b (two hotpath.node files) each round runs both in child processes, alternating which
// goes first, and checks that their scores are the same bits.
//   npx tsx bench/tools/dense-micro.ts [--a A.node --b B.node] [--rounds 5] [--ms 300]
//   (run it under `taskset -c 1` for one core)
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    a: { type: 'string' }, b: { type: 'string' }, rounds: { type: 'string', default: '5' }, ms: { type: 'string', default: '300' },
    child: { type: 'boolean', default: false },
  },
});
const BATCHES = [1, 20, 64, 256];

if (values.child) {
  const { createHash } = await import('node:crypto');
  const { mulberry32 } = await import('../../src/bench/random.js');
  const { fraudModel, wideMlp } = await import('../dense-models.js');
  type Model = ReturnType<typeof wideMlp>;
  const ms = Number(values.ms);
  const out: Record<string, number | string> = {};
  const models: [string, Model, number][] = [];
  for (const precision of ['fp32', 'int8'] as const)
    models.push([`fraud v1 ${precision}`, fraudModel(1, precision, 256), 10], [`fraud v2 ${precision}`, fraudModel(2, precision, 256), 10], [`MLP 256-512-512-1 ${precision}`, wideMlp(precision, 256), 256]);
  for (const [name, m, inDim] of models) {
    const rng = mulberry32(11);
    const x = new Float32Array(4096 * inDim).map(() => rng() * 4 - 1);
    const all = new Float32Array(4096);
    m.forward(x, 4096, all);
    out[`${name} scores`] = createHash('sha256').update(new Uint8Array(all.buffer)).digest('hex').slice(0, 16);
    for (const batch of BATCHES) {
      const y = new Float32Array(batch);
      const views: Float32Array[] = [];
      for (let r = 0; r + batch <= 4096; r += batch) views.push(x.subarray(r * inDim, (r + batch) * inDim));
      const run = (budget: number) => {
        let rows = 0;
        let i = 0;
        const t0 = performance.now();
        let now = t0;
        while (now - t0 < budget) {
          for (let k = 0; k < 16; k++) {
            m.forward(views[i], batch, y);
            i = (i + 1) % views.length;
            rows += batch;
          }
          now = performance.now();
        }
        return rows / ((now - t0) / 1000);
      };
      run(50);
      out[`${name} @${batch}`] = [run(ms), run(ms), run(ms)].sort((p, q) => p - q)[1];
    }
  }
  console.log(JSON.stringify(out));
} else {
  const addons = values.a && values.b ? [['A', values.a], ['B', values.b]] : [['this build', '']];
  const results: Record<string, Record<string, (number | string)[]>> = {};
  for (let round = 0; round < Number(values.rounds); round++) {
    const order = round % 2 === 0 ? addons : [...addons].reverse();
    for (const [label, addon] of order) {
      const env = addon ? { ...process.env, HOTPATH_ADDON: addon } : process.env;
      const text = execFileSync(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--child', '--ms', values.ms!], { env, encoding: 'utf8' });
      const got = JSON.parse(text.trim().split('\n').pop()!) as Record<string, number | string>;
      for (const [k, v] of Object.entries(got)) ((results[label] ??= {})[k] ??= []).push(v);
    }
  }
  const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
  const keys = Object.keys(results[addons[0][0]]);
  console.log(`| model @ batch | ${addons.map(([l]) => `${l} rows/s (median of ${values.rounds})`).join(' | ')} |${addons.length > 1 ? ' B ÷ A |' : ''}`);
  console.log(`|---|${addons.map(() => '---|').join('')}${addons.length > 1 ? '---|' : ''}`);
  for (const k of keys) {
    const cells = addons.map(([l]) => results[l][k]);
    if (typeof cells[0][0] === 'string') {
      const same = cells.every((c) => c.every((v) => v === cells[0][0]));
      console.log(`| ${k} (sha256 of 4096 rows' scores) | ${cells.map((c) => String(c[0])).join(' | ')} |${addons.length > 1 ? ` ${same ? 'same bits' : 'DIFFERENT'} |` : ''}`);
      continue;
    }
    const m = cells.map((c) => median(c as number[]));
    console.log(`| ${k} | ${m.map((v) => Math.round(v).toLocaleString('en-US')).join(' | ')} |${addons.length > 1 ? ` ${(m[1] / m[0]).toFixed(2)} |` : ''}`);
  }
}
