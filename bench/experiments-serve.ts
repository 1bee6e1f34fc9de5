// What serving through an experiment costs over HTTP: POST /v1/experiments/ab/serve against
// POST /v1/predict/fraud on the same server, the experiment's two variants both pointing at
// fraud, so the difference is the experiment alone (the unit's hash and place, the answer
// built as an object and stringified instead of predict's direct text, the guardrail
// counters). Closed loop, alternating trials (predict, serve, predict, ...), each after
// a warm-up; the ratio is serve/predict per round, the median reported.
//
//   npx tsc -p tsconfig.build.json && npx tsx bench/experiments-serve.ts [--rounds 3] [--seconds 5] [--connections 16] [--append FILE]
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { loadStandardData, machine, startHotpath } from '../src/bench/harness.js';
import { encodeRequest } from '../src/bench/http-client.js';
import { runLoad } from '../src/bench/loadgen.js';
import { cpuSeconds } from '../src/bench/proc.js';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '16' }, append: { type: 'string' } },
});
const ROOT = resolve(import.meta.dirname, '..');
const PORT = 18710;

const dir = mkdtempSync(join(tmpdir(), 'hp-exp-serve-'));
const config = join(dir, 'hotpath.yaml');
writeFileSync(
  config,
  readFileSync(join(ROOT, 'hotpath.yaml'), 'utf8').replaceAll('repository: models/', `repository: ${ROOT}/models/`) +
    `
experiments:
  ab:
    variants:
      control: { weight: 50, model: fraud }
      treatment: { weight: 50, model: fraud }
`,
);

const server = await startHotpath(ROOT, PORT, { config });
const rows: { round: number; kind: string; rps: number; p50: number; p99: number; errors: number; cpuUs: number }[] = [];
try {
  await loadStandardData(server.url);
  const host = `127.0.0.1:${PORT}`;
  const body = (i: number) => ({ entities: { user: `u${i % 1000}`, merchant: `m${i % 50}` }, fields: { amount: 10 + (i % 90) } });
  const reqs = {
    predict: Array.from({ length: 1000 }, (_, i) => encodeRequest('POST', host, '/v1/predict/fraud', JSON.stringify(body(i)), { 'content-type': 'application/json' })),
    serve: Array.from({ length: 1000 }, (_, i) => encodeRequest('POST', host, '/v1/experiments/ab/serve', JSON.stringify({ unit: `u${i % 1000}`, ...body(i) }), { 'content-type': 'application/json' })),
  };
  for (let round = 1; round <= Number(args.rounds); round++)
    for (const kind of ['predict', 'serve'] as const) {
      const c0 = cpuSeconds(server.pid!);
      const r = await runLoad({ url: server.url, requests: reqs[kind], connections: Number(args.connections), durationMs: Number(args.seconds) * 1000, warmupMs: 1000, timeoutMs: 5000 });
      // the server's CPU time (all its threads) per request, warm-up included: robust to
      // the generator's share of a busy machine, which the throughput is not
      const cpuUs = ((cpuSeconds(server.pid!) - c0) / Math.max(1, r.answeredTotal)) * 1e6;
      rows.push({ round, kind, rps: r.throughput, p50: r.latencyUs.p50, p99: r.latencyUs.p99, errors: r.answered - r.ok, cpuUs });
      console.error(`round ${round} ${kind}: ${Math.round(r.throughput)} req/s, p50 ${r.latencyUs.p50} us, p99 ${r.latencyUs.p99} us, server CPU ${cpuUs.toFixed(1)} us/request, non-2xx ${r.answered - r.ok}`);
    }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

const ratios = (f: (r: (typeof rows)[number]) => number) => {
  const xs: number[] = [];
  for (let round = 1; round <= Number(args.rounds); round++) {
    const p = rows.find((r) => r.round === round && r.kind === 'predict')!;
    const s = rows.find((r) => r.round === round && r.kind === 'serve')!;
    xs.push(f(s) / f(p));
  }
  return xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
};
const text = `
## Serving through an experiment over HTTP (${new Date().toISOString().slice(0, 10)})

Command: \`npx tsc -p tsconfig.build.json && npx tsx bench/experiments-serve.ts --rounds ${args.rounds} --seconds ${args.seconds} --connections ${args.connections}\`

Machine: ${machine()}; load average ${loadavg()[0].toFixed(1)} at the end (shared machine: the
generator and the server share its cores with other work, so compare the ratios, not the
absolute numbers). One server (the repository's hotpath.yaml plus an experiment \`ab\` whose
two variants both serve \`fraud\`), the standard data, closed loop with ${args.connections}
connections, ${args.seconds} s per trial after 1 s of warm-up, predict and serve alternating.

| round | route | req/s | p50 (µs) | p99 (µs) | server CPU (µs/request) | non-2xx |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
${rows.map((r) => `| ${r.round} | ${r.kind === 'predict' ? 'POST /v1/predict/fraud' : 'POST /v1/experiments/ab/serve'} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.cpuUs.toFixed(1)} | ${r.errors} |`).join('\n')}

Median serve/predict ratio: throughput ${ratios((r) => r.rps).toFixed(3)}×, p50 ${ratios((r) => r.p50).toFixed(3)}×, p99 ${ratios((r) => r.p99).toFixed(3)}×, server CPU per request ${ratios((r) => r.cpuUs).toFixed(3)}×.
`;
console.log(text);
if (args.append) appendFileSync(args.append, text);
