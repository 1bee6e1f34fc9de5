// The cost of tracing at 1 % sampling on the feature-read hot path (issue 16: ≤ 3 % loss):
// this checkout's build, two configs in alternating rounds (A B A', then A' B A, ...), each
// trial a fresh server process with the standard data, wrk -t1 -c64 -s bench/features.lua
// for --seconds after 1 s of warm-up:
//   A, A': the shipped hotpath.yaml (tracing off: no request reads a trace header);
//   B:     the same with tracing: { enabled: true, sample_ratio: 0.01 } exporting to a local
//          OTLP/HTTP receiver in this process (it counts requests and bytes, parses nothing).
// Printed: per round B/A and A'/A (the noise of the same config against itself) for
// throughput and the server's CPU per request, then the medians of the per-round ratios.
//
// --profile: instead, one trial of B under `node --cpu-prof`, and the share of the main
// thread's busy time (self time) spent in tracing's code (@opentelemetry/*, src/server/
// observe/) during the load, the last --seconds of the profile but its final 0.5 s (the
// stop). Feature reads run on the main thread, so this is what a saturated server loses;
// unlike throughput on a shared machine, it does not move with the neighbours' load.
//
//   npx tsc -p tsconfig.build.json && node scripts/build-validators.mjs
//   npx tsx bench/tracing-ab.ts [--rounds 6] [--seconds 5]
//   npx tsx bench/tracing-ab.ts --profile [--seconds 8]
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { loadStandardData, runWrk, startHotpath } from '../src/bench/harness.js';
import { cpuSeconds } from '../src/bench/proc.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' }, seconds: { type: 'string', default: '5' }, ratio: { type: 'string', default: '0.01' }, profile: { type: 'boolean', default: false } } });
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const root = resolve('.');
const PORT = 18630;

// The collector: accepts POST /v1/traces, counts, answers 200.
let exports = 0;
let bytes = 0;
const collector = createServer((req, res) => {
  req.on('data', (c: Buffer) => (bytes += c.length));
  req.on('end', () => {
    exports++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise<void>((ok) => collector.listen(0, '127.0.0.1', ok));
const endpoint = `http://127.0.0.1:${(collector.address() as { port: number }).port}/v1/traces`;

const dir = mkdtempSync(join(tmpdir(), 'hotpath-tracing-ab-'));
const shipped = readFileSync(join(root, 'hotpath.yaml'), 'utf8').replace(/^(\s*repository:\s*)(\S+)/gm, (_, p: string, path: string) => `${p}${resolve(root, path)}`);
const cfg = { A: join(dir, 'A.yaml'), B: join(dir, 'B.yaml') };
writeFileSync(cfg.A, shipped);
writeFileSync(cfg.B, `${shipped}\ntracing: { enabled: true, sample_ratio: ${values.ratio}, endpoint: "${endpoint}", export_interval: 1s }\n`);

if (values.profile) {
  const profDir = mkdtempSync(join(tmpdir(), 'hotpath-tracing-prof-'));
  const s = await startHotpath(root, PORT, { config: cfg.B, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
  let rps = 0;
  try {
    await loadStandardData(s.url);
    const o = { url: s.url, connections: 64, script: 'bench/features.lua', cwd: root };
    await runWrk({ ...o, durationS: 1 });
    rps = (await runWrk({ ...o, durationS: seconds })).rps;
  } finally {
    await s.stop();
  }
  // the main thread's profile: the first one the process wrote (workers' come after)
  const file = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).sort()[0];
  const p = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as { nodes: { id: number; callFrame: { functionName: string; url: string } }[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const at: number[] = [];
  let t = 0;
  for (const d of p.timeDeltas) at.push((t += d));
  const to = t - 500_000;
  const from = to - seconds * 1e6 + 500_000;
  let busy = 0;
  let tracingUs = 0;
  let idle = 0;
  p.samples.forEach((id, i) => {
    if (at[i] < from || at[i] > to) return;
    const f = byId.get(id)!;
    const dt = p.timeDeltas[i];
    if (f.functionName === '(idle)') idle += dt;
    else {
      busy += dt;
      if (f.url.includes('@opentelemetry') || f.url.includes('/observe/')) tracingUs += dt;
    }
  });
  console.log(`profile of B (sample_ratio ${values.ratio}) at ${(rps / 1e3).toFixed(1)}k req/s: main thread busy ${(busy / 1e6).toFixed(2)} s, idle ${(idle / 1e6).toFixed(2)} s; tracing's code ${((100 * tracingUs) / busy).toFixed(2)} % of busy (${profDir}/${file})`);
  console.log(`collector: ${exports} export requests, ${(bytes / 1024).toFixed(0)} KiB of spans`);
  collector.close();
  process.exit(0);
}

type Trial = 'A' | 'B' | "A'";
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const rows: Record<Trial, { rps: number; cpuUs: number }>[] = [];
console.log(`tracing A/B: ${rounds} rounds of ${seconds} s per trial, sample_ratio ${values.ratio}, node ${process.version}`);
console.log('| round | A req/s | B req/s | A\' req/s | B/A | A\'/A | CPU µs/req A | B | CPU B/A | CPU A\'/A |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (let r = 1; r <= rounds; r++) {
  const order: Trial[] = r % 2 ? ['A', 'B', "A'"] : ["A'", 'B', 'A'];
  const got = {} as Record<Trial, { rps: number; cpuUs: number }>;
  for (const t of order) {
    const s = await startHotpath(root, PORT, { config: t === 'B' ? cfg.B : cfg.A });
    try {
      await loadStandardData(s.url);
      const o = { url: s.url, connections: 64, script: 'bench/features.lua', cwd: root };
      await runWrk({ ...o, durationS: 1 });
      const c0 = cpuSeconds(s.pid);
      const w = await runWrk({ ...o, durationS: seconds });
      if (w.non2xx + w.socketErrors > 0) console.error(`round ${r} ${t}: ${w.non2xx} non-2xx, ${w.socketErrors} socket errors`);
      got[t] = { rps: w.rps, cpuUs: ((cpuSeconds(s.pid) - c0) * 1e6) / (w.rps * seconds) };
    } finally {
      await s.stop();
    }
  }
  rows.push(got);
  const k = (v: number) => `${(v / 1e3).toFixed(1)}k`;
  console.log(`| ${r} | ${k(got.A.rps)} | ${k(got.B.rps)} | ${k(got["A'"].rps)} | ${(got.B.rps / got.A.rps).toFixed(3)} | ${(got["A'"].rps / got.A.rps).toFixed(3)} | ${got.A.cpuUs.toFixed(2)} | ${got.B.cpuUs.toFixed(2)} | ${(got.B.cpuUs / got.A.cpuUs).toFixed(3)} | ${(got["A'"].cpuUs / got.A.cpuUs).toFixed(3)} |`);
}
const ratio = (f: (x: Record<Trial, { rps: number; cpuUs: number }>) => number) => med(rows.map(f));
console.log(`median throughput B/A ${ratio((x) => x.B.rps / x.A.rps).toFixed(3)} (noise A'/A ${ratio((x) => x["A'"].rps / x.A.rps).toFixed(3)}); median CPU/request B/A ${ratio((x) => x.B.cpuUs / x.A.cpuUs).toFixed(3)} (A'/A ${ratio((x) => x["A'"].cpuUs / x.A.cpuUs).toFixed(3)})`);
console.log(`collector: ${exports} export requests, ${(bytes / 1024).toFixed(0)} KiB of spans`);
collector.close();
