// CPU profiles of the server under load, per stage: for each scenario (feature reads and
// predicts driven by wrk, binary WebSocket ingest by our generator), a fresh
// `node --cpu-prof` server of this checkout with the standard data, loaded for --duration s
// and stopped; V8 writes one profile per thread at exit (the main thread's, each inference
// worker's). Self time is summed per stage by where each function lives (the rules in
// STAGES below, first match wins), idle time left out, and the heaviest frames listed.
//
//   npm run build && npx tsx bench/profile.ts [--duration 10] [--connections 64] [--name profile] [--keep DIR]
//
// The shares are of the thread's busy time (not idle), so they hold on a loaded machine
// better than a throughput does; the throughput is printed beside them for scale.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { describeBuild, loadStandardData, machine, mdTable, resultBase, runWrk, startHotpath } from '../src/bench/harness.js';
import { runLoad } from '../src/bench/loadgen.js';
import { buildRequests, scenarioWsPath } from '../src/bench/scenarios.js';
import { INGEST_BATCH, INGEST_CONNECTIONS, OPTS } from './measure.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    name: { type: 'string', default: 'profile' },
    keep: { type: 'string' },
  },
});
const durationS = Number(values.duration);
const connections = Number(values.connections);
const ROOT = new URL('../', import.meta.url).pathname;

/** uWS's native methods (HttpResponse, HttpRequest, WebSocket, App) as they appear in a profile. */
const UWS = new Set([
  'end', 'writeStatus', 'writeHeader', 'cork', 'onAborted', 'onData', 'onWritable', 'tryEnd', 'getWriteOffset', 'close', 'endWithoutBody',
  'getHeader', 'getUrl', 'getMethod', 'getCaseSensitiveMethod', 'getQuery', 'getParameter', 'forEach', 'setYield',
  'send', 'getBufferedAmount', 'subscribe', 'publish', 'getUserData', 'upgrade', 'getRemoteAddress', 'getRemoteAddressAsText',
]);
/** the addon's methods (src/native/binding-types.ts) */
const ADDON = new Set(['read', 'readMany', 'readJson', 'contains', 'ingest', 'ingestRows', 'decodeRows', 'exportRows', 'importRows', 'hashIds', 'gather', 'forward', 'run', 'walRecordBytes', 'crc32c']);

type Frame = { functionName: string; url: string; lineNumber: number };
const STAGES: [stage: string, test: (f: Frame) => boolean][] = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['uWS and V8 outside JS ((program): the socket loop, syscalls, compiled code without a frame)', (f) => f.functionName === '(program)'],
  ['uWS calls with a frame of their own', (f) => f.url === '' && UWS.has(f.functionName)],
  // an N-API call's time shows in its JavaScript caller: binding.ts's wrappers
  ['store and native (addon calls, src/native/)', (f) => (f.url === '' && ADDON.has(f.functionName)) || f.url.includes('/src/native/')],
  ['JSON (parse, stringify)', (f) => f.url === '' && (f.functionName === 'parse' || f.functionName === 'stringify')],
  ['route table, policy (src/server/routes/route.ts, security/)', (f) => /src\/server\/(routes\/route|security\/)/.test(f.url)],
  ['route handlers (src/server/routes/)', (f) => f.url.includes('/src/server/routes/')],
  // uWS's writeStatus/writeHeader/end run inside http.ts's cork callback and show there, the
  // socket write included; JSON numbers and bodies are encoded there too
  ['answer: JSON encoding and the uWS write (src/server/http.ts)', (f) => f.url.includes('/src/server/http.ts')],
  ['feature read shaping (src/server/features.ts, feast)', (f) => /src\/server\/(features|feast)/.test(f.url)],
  ['predict parse and pipeline (predict.ts, kserve*.ts)', (f) => /src\/server\/(predict|kserve)/.test(f.url)],
  ['WebSocket frames (ws-*.ts)', (f) => f.url.includes('/src/server/ws-')],
  ['metrics and stage timing', (f) => /src\/server\/[a-z-]*metrics\.ts|src\/server\/stages|prom-client|hdr-histogram/.test(f.url)],
  ['tracing and logs (src/server/observe/, pino, OpenTelemetry)', (f) => /src\/server\/observe\/|node_modules\/(pino|@opentelemetry)/.test(f.url)],
  ['caches (src/cache/)', (f) => f.url.includes('/src/cache/')],
  ['ingest (src/ingest/, durability/)', (f) => /src\/(ingest|durability)\//.test(f.url)],
  ['inference runtime (src/runtime/: pool, rings, executor, batcher, runners)', (f) => f.url.includes('/src/runtime/')],
  ['other hotpath code', (f) => f.url.includes('/src/')],
  ['Node internals (node:*)', (f) => f.url.startsWith('node:')],
  ['other libraries (node_modules)', (f) => f.url.includes('node_modules')],
  ['other native or builtin', () => true],
];

interface Profile {
  startTime: number;
  endTime: number;
  nodes: { id: number; callFrame: Frame }[];
  samples: number[];
  timeDeltas: number[];
}

interface ThreadShares {
  file: string;
  busyS: number;
  idleS: number;
  /** blocked in Atomics.wait (an inference worker with nothing to run): left out like idle */
  waitS: number;
  stages: Map<string, number>;
  top: [string, number][];
}

/** The samples of the last `windowUs` before `endOffsetUs` before the profile's end: the load, not the start or the stop. */
function read(file: string, windowUs: number, endOffsetUs: number): ThreadShares {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const to = p.endTime - endOffsetUs;
  const from = to - windowUs;
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const stages = new Map<string, number>();
  const frames = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let wait = 0;
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i];
    if (t < from || t > to) return;
    const raw = byId.get(id)!;
    // the server runs dist/ (compiled src/, same tree): the rules and the table name src/*.ts
    const f = raw.url.includes('/dist/') ? { ...raw, url: raw.url.replace('/dist/', '/src/').replace(/\.js$/, '.ts') } : raw;
    const dt = p.timeDeltas[i];
    if (f.functionName === '(idle)') {
      idle += dt;
      return;
    }
    if (f.functionName === 'wait' && f.url.includes('/src/runtime/ring.')) {
      wait += dt;
      return;
    }
    busy += dt;
    const stage = STAGES.find(([, t]) => t(f))![0];
    stages.set(stage, (stages.get(stage) ?? 0) + dt);
    const k = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/(src|dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '(native)'}`;
    frames.set(k, (frames.get(k) ?? 0) + dt);
  });
  const top = [...frames].sort((a, b) => b[1] - a[1]).slice(0, 15);
  return { file, busyS: busy / 1e6, idleS: idle / 1e6, waitS: wait / 1e6, stages, top };
}

const pct = (v: number, of: number) => (of > 0 ? `${((100 * v) / of).toFixed(1)} %` : '-');

interface Scenario {
  key: 'features' | 'predict' | 'ws-events';
  what: string;
}
const SCENARIOS: Scenario[] = [
  { key: 'features', what: `feature reads, GET /v1/features/user/{id}, wrk -t1 -c${connections}` },
  { key: 'predict', what: `predicts, POST /v1/predict/fraud, wrk -t1 -c${connections}` },
  { key: 'ws-events', what: `binary WebSocket ingest, ${INGEST_BATCH} events per frame, ${INGEST_CONNECTIONS} connections (our generator)` },
];

const sections: string[] = [];
for (const s of SCENARIOS) {
  const dir = values.keep ? join(values.keep, s.key) : mkdtempSync(join(tmpdir(), `hotpath-prof-${s.key}-`));
  const server = await startHotpath(ROOT, 18650, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  let rate: string;
  let loadStart = 0;
  let loadEnd = 0;
  try {
    await loadStandardData(server.url);
    loadStart = performance.now();
    if (s.key === 'ws-events') {
      const host = new URL(server.url).host;
      const r = await runLoad({
        url: server.url, requests: buildRequests('ws-events', { ...OPTS, batch: INGEST_BATCH, host }), connections: INGEST_CONNECTIONS,
        durationMs: durationS * 1000, warmupMs: 1000, timeoutMs: 5000, ws: scenarioWsPath('ws-events'),
      });
      rate = `${((r.ok * INGEST_BATCH) / r.durationS / 1e6).toFixed(2)}M events/s`;
    } else {
      const o = { url: server.url, connections, script: s.key === 'features' ? 'bench/features.lua' : 'bench/predict.lua', cwd: ROOT };
      await runWrk({ ...o, durationS: 1 }); // warm-up, as the ws-events generator's
      const w = await runWrk({ ...o, durationS });
      rate = `${(w.rps / 1000).toFixed(1)}k req/s`;
    }
    loadEnd = performance.now();
  } finally {
    await server.stop(20_000);
  }
  const exited = performance.now();
  // the measured part of the load (after its 1 s warm-up), located from the end of each
  // profile: the process exits about when stop() resolves
  const windowUs = (loadEnd - loadStart - 1000) * 1000;
  const threads = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => read(join(dir, f), windowUs, (exited - loadEnd) * 1000));
  // the main thread is the busiest profile under feature reads and ingest; under predicts the
  // worker may be: name them by the thread id V8 puts in the file name (the lowest is main)
  threads.sort((a, b) => Number(/\.(\d+)\.cpuprofile$/.exec(a.file)?.[1] ?? 0) - Number(/\.(\d+)\.cpuprofile$/.exec(b.file)?.[1] ?? 0));
  const names = threads.map((_, i) => (i === 0 ? 'main thread' : `worker ${i}`));
  const stagesSeen = STAGES.map(([n]) => n).filter((n) => threads.some((t) => (t.stages.get(n) ?? 0) / (t.busyS * 1e6) >= 0.001));
  const lines = [
    `## ${s.what}`,
    '',
    `${rate} while profiled (the profiler costs some of it). Over the ${(windowUs / 1e6).toFixed(1)} s measured, busy time: ${threads.map((t, i) => `${names[i]} ${t.busyS.toFixed(2)} s (idle ${t.idleS.toFixed(2)} s${t.waitS > 0 ? `, in Atomics.wait ${t.waitS.toFixed(2)} s` : ''})`).join(', ')}.`,
    '',
    mdTable(['stage (share of the thread\'s busy time)', ...names], stagesSeen.map((n) => [n, ...threads.map((t) => pct(t.stages.get(n) ?? 0, t.busyS * 1e6))])),
    '',
    ...threads.flatMap((t, i) => [
      `Heaviest frames (self time), ${names[i]}:`,
      '',
      mdTable(['share', 'function'], t.top.map(([k, v]) => [pct(v, t.busyS * 1e6), `\`${k}\``])),
      '',
    ]),
  ];
  sections.push(lines.join('\n'));
  console.log(lines.join('\n'));
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}

const date = new Date().toISOString().slice(0, 10);
const base = resultBase(join(ROOT, 'bench', 'results'), date, values.name!);
writeFileSync(
  `${base}.md`,
  [
    `# CPU profiles per stage (${date})`,
    '',
    `\`npx tsx bench/profile.ts --duration ${durationS} --connections ${connections}\` on ${machine()}; build ${describeBuild(ROOT)}.`,
    'Each scenario: a fresh `node --cpu-prof` server of the shipped hotpath.yaml with the standard data, loaded, stopped; self time per stage (rules in bench/profile.ts), idle left out.',
    '',
    ...sections,
  ].join('\n'),
);
console.log(`wrote ${base}.md`);
