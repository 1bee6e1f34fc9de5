// `hotpath bench`: drives any HTTP target (hotpath or another server) with one of the
// scenarios, closed-loop (--rate absent) or open-loop at a constant rate, and prints the
// latency percentiles, the throughput and the errors by class; --json writes them too.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import * as hdr from 'hdr-histogram-js';

import { parseDuration } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { type LoadResult, runLoad } from '../bench/loadgen.js';
import { runFreshness } from '../bench/freshness.js';
import { batchSizes, scrapeCounts } from '../bench/metrics-scrape.js';
import { cpuSeconds, pidListeningOn } from '../bench/proc.js';
import { htmlReport, type PlotSeries } from '../bench/report-html.js';
import { buildRequests, eventsPerRequest, type Scenario, SCENARIOS, scenarioWsPath } from '../bench/scenarios.js';
import { compareSummary, strip } from '../bench/stats.js';

export const BENCH_USAGE = `usage: hotpath bench --url URL [--scenario S] [--rate R] [--connections C]
                     [--duration D] [--warmup D] [--timeout D] [--json FILE]

  --url URL          target, e.g. http://127.0.0.1:8080
  --scenario S       ${SCENARIOS.join(' | ')} (default features)
  --rate R           open loop at R requests/s in total, latency from the due time
                     (coordinated omission corrected); without it, closed loop
  --connections C    keep-alive connections, one request in flight each (default 64)
  --duration D       measured time (default 10s); --warmup D before it (default 2s)
  --timeout D        a request not answered by then counts as a timeout (default 5s)
  --ids N            entity ids to cycle: user-1..user-N (default 1000)
  --model M          model for predict and infer (default fraud); --entity E for features (default user)
  --batch N          events per request (or binary frame) for events and ws-events (default 100)
  --stream S         the stream ws-events frames name (default transactions)
  --dim N            input width for the infer scenario (default 10)
  --file F           the file scenario: a JSON list of {method, path, body?, headers?}
  --samples N        the freshness scenario: write-then-read samples (default 2000); it
                     posts demo transactions and reads user.<--feature> (default last_amount)
                     until the new value shows
  --compare URL2     also drive URL2 with the same requests, alternating rounds
                     (A, B, A, B, ...), and print each one's median, the ratio, and
                     each target's noise against itself (spread between its rounds)
  --rounds N         rounds per target with --compare (default 3)
  --json FILE        also write the result as JSON
  --html FILE        also write an HTML page: the results table and the latency-by-
                     percentile plot (inline SVG, viewable offline)

A local target's CPU cost (seconds per 1,000 requests, from /proc of the process
listening on its port) is reported when it can be found.
`;

function bad(message: string): never {
  throw new HotpathError('HP_ERR_QUERY_INVALID', message);
}

function int(v: string | undefined, name: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) bad(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

function duration(v: string | undefined, name: string, dflt: string): number {
  try {
    return parseDuration(/^\d+(\.\d+)?$/.test(v ?? '') ? `${v}s` : (v ?? dflt));
  } catch {
    return bad(`--${name} must be a duration like 10s or 500ms, got '${v}'`);
  }
}

export interface Measured extends LoadResult {
  /** CPU seconds of the target's process per 1,000 answers, when it could be read */
  cpuPer1000?: number;
  /** events scenarios: events in 2xx-answered requests per second */
  eventsPerS?: number;
  /** hotpath targets: batch sizes per model during the run, from /metrics */
  batches?: Record<string, { rows: number; batches: number; mean: number }>;
}

/** Microseconds for people: "840 us", "2.31 ms"; "-" when there is no value. */
const us = (v: number) => (Number.isNaN(v) ? '-' : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v} us`);

export function formatResult(r: Measured): string {
  const errs = Object.entries(r.errors).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  const statuses = Object.entries(r.byStatus).map(([k, n]) => `${k}: ${n}`).join(', ') || 'none';
  const lines = [
    `${r.target}  ${r.mode === 'open' ? `open loop at ${r.rate} req/s` : 'closed loop'}, ${r.connections} connections, ${r.durationS.toFixed(1)} s measured`,
    `  throughput  ${Math.round(r.throughput)} req/s answered (${r.ok} 2xx of ${r.answered})${r.eventsPerS === undefined ? '' : `; ${Math.round(r.eventsPerS)} events/s accepted`}`,
    `  latency     p50 ${us(r.latencyUs.p50)}  p90 ${us(r.latencyUs.p90)}  p99 ${us(r.latencyUs.p99)}  p99.9 ${us(r.latencyUs.p999)}  max ${us(r.latencyUs.max)}  (2xx only${r.mode === 'open' ? ', from the due time' : ''})`,
    ...(r.sendLagUs ? [`  send lag    p50 ${us(r.sendLagUs.p50)}  p99 ${us(r.sendLagUs.p99)}  max ${us(r.sendLagUs.max)}  (due time -> sent; part of the latency)`] : []),
    `  statuses    ${statuses}`,
    `  errors      ${errs}`,
  ];
  if (r.cpuPer1000 !== undefined) lines.push(`  server CPU  ${r.cpuPer1000.toFixed(3)} s per 1,000 requests (from /proc)`);
  for (const [model, b] of Object.entries(r.batches ?? {}))
    lines.push(`  batches     ${model}: ${b.rows} rows in ${b.batches} batches, mean ${b.mean.toFixed(1)} (from /metrics)`);
  for (const n of r.notes) lines.push(`  NOTE        ${n}`);
  return lines.join('\n');
}

function parseBenchArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      scenario: { type: 'string', default: 'features' },
      rate: { type: 'string' },
      connections: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      timeout: { type: 'string' },
      ids: { type: 'string' },
      model: { type: 'string', default: 'fraud' },
      entity: { type: 'string', default: 'user' },
      batch: { type: 'string' },
      stream: { type: 'string', default: 'transactions' },
      dim: { type: 'string' },
      file: { type: 'string' },
      json: { type: 'string' },
      html: { type: 'string' },
      compare: { type: 'string' },
      samples: { type: 'string' },
      feature: { type: 'string', default: 'last_amount' },
      rounds: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
}

export async function bench(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseBenchArgs(argv);
  } catch (err) {
    return bad((err as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(BENCH_USAGE);
    return;
  }
  if (!values.url) bad('--url is required (e.g. --url http://127.0.0.1:8080)');
  let url: URL;
  try {
    url = new URL(values.url);
  } catch {
    return bad(`--url is not a URL: '${values.url}'`);
  }
  if (url.protocol !== 'http:') bad('--url must be http:// (TLS is not supported by the generator)');
  const scenario = values.scenario as Scenario;
  if (!SCENARIOS.includes(scenario)) bad(`--scenario must be one of ${SCENARIOS.join(', ')}, got '${values.scenario}'`);
  const rate = values.rate === undefined ? undefined : int(values.rate, 'rate', 0);
  const batch = int(values.batch, 'batch', 100);
  const requests = buildRequests(scenario, {
    host: url.host,
    ids: int(values.ids, 'ids', 1000),
    model: values.model!,
    entity: values.entity!,
    batch,
    stream: values.stream!,
    dim: int(values.dim, 'dim', 10),
    file: values.file,
  });
  const perRequest = eventsPerRequest(scenario, { batch });
  if (scenario === 'freshness') {
    const f = await runFreshness({
      url: url.origin,
      samples: int(values.samples, 'samples', 2000),
      entity: values.entity!,
      feature: values.feature!,
      timeoutMs: duration(values.timeout, 'timeout', '5s'),
      event: (id, value) => ({ user_id: id, merchant_id: 'fresh-merchant', amount: value, country: 'FR', channel: 'web' }),
    });
    process.stdout.write(
      `${url.origin}  freshness: write an event, read until its value shows; ${f.samples} samples\n` +
        `  latency     p50 ${us(f.latencyUs.p50)}  p99 ${us(f.latencyUs.p99)}  max ${us(f.latencyUs.max)}  (write sent -> first read that sees it)\n` +
        `  re-reads    ${f.retries} (reads that did not see the value yet)\n  failures    ${f.failures}\n`,
    );
    if (values.json) writeJson(values.json, { scenario, ...f, histogram: undefined, histogramUs: hdr.encodeIntoCompressedBase64(f.histogram) });
    if (values.html)
      writeFileSync(values.html, htmlReport({
        title: `hotpath bench: freshness of ${url.origin}`,
        about: [`Write an event, read ${values.entity}.${values.feature} until its value shows; ${f.samples} samples. ${new Date().toISOString()}`],
        tables: [{ head: ['samples', 'p50 µs', 'p99 µs', 'max µs', 're-reads', 'failures'], rows: [[String(f.samples), String(f.latencyUs.p50), String(f.latencyUs.p99), String(f.latencyUs.max), String(f.retries), String(f.failures)]] }],
        plots: [{ title: 'Freshness', series: [{ label: 'write -> first read that sees it', histogram: f.histogram }] }],
      }));
    if (f.samples === 0) process.exitCode = 1;
    return;
  }
  const tty = process.stderr.isTTY;
  const load = {
    requests,
    connections: int(values.connections, 'connections', 64),
    durationMs: duration(values.duration, 'duration', '10s'),
    warmupMs: duration(values.warmup, 'warmup', '2s'),
    timeoutMs: duration(values.timeout, 'timeout', '5s'),
    rate,
    ws: scenarioWsPath(scenario),
    onProgress: (p: { elapsedMs: number; completed: number; errors: number }) => {
      const line = `  ${(p.elapsedMs / 1000).toFixed(0)} s: ${p.completed} answered, ${p.errors} errors`;
      if (tty) process.stderr.write(`\r${line}   `);
      else process.stderr.write(`${line}\n`);
    },
  };
  const measure = async (target: URL): Promise<Measured> => {
    const local = ['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname);
    const pid = local ? pidListeningOn(Number(target.port || 80)) : undefined;
    const counts0 = await scrapeCounts(target.origin);
    const cpu0 = pid === undefined ? undefined : safeCpu(pid);
    const r: Measured = await runLoad({ ...load, url: target.origin });
    if (perRequest > 0) r.eventsPerS = (r.ok * perRequest) / r.durationS;
    const cpu1 = pid === undefined ? undefined : safeCpu(pid);
    const counts1 = counts0 ? await scrapeCounts(target.origin) : null;
    if (counts0 && counts1) r.batches = batchSizes(counts0, counts1);
    if (cpu0 !== undefined && cpu1 !== undefined && r.answeredTotal > 0) r.cpuPer1000 = ((cpu1 - cpu0) / r.answeredTotal) * 1000;
    if (tty) process.stderr.write('\n');
    return r;
  };

  if (!values.compare) {
    const result = await measure(url);
    process.stdout.write(`${formatResult(result)}\n`);
    if (values.json) writeJson(values.json, { scenario, ...strip(result) });
    if (values.html) writeHtml(values.html, scenario, [[url.origin, result]]);
    if (result.answered === 0) process.exitCode = 1;
    return;
  }
  let other: URL;
  try {
    other = new URL(values.compare);
  } catch {
    return bad(`--compare is not a URL: '${values.compare}'`);
  }
  if (other.protocol !== 'http:') bad('--compare must be http://');
  const rounds = int(values.rounds, 'rounds', 3);
  const a: Measured[] = [];
  const b: Measured[] = [];
  for (let i = 0; i < rounds; i++) {
    a.push(await measure(url));
    b.push(await measure(other));
  }
  const summary = compareSummary(a, b);
  process.stdout.write(`${formatComparison(url.origin, other.origin, a, b, summary)}\n`);
  if (values.json) writeJson(values.json, { scenario, a: a.map(strip), b: b.map(strip), ...summary });
  if (values.html)
    writeHtml(values.html, scenario, a.flatMap((r, i) => [[`A ${url.origin} round ${i + 1}`, r], [`B ${other.origin} round ${i + 1}`, b[i]]] as [string, Measured][]), [
      `ratio A/B: throughput ${summary.throughput.ratio.toFixed(2)}x, p99 ${summary.p99Us.ratio.toFixed(2)}x (medians of ${rounds} alternating rounds)`,
    ]);
  if (a.every((r) => r.answered === 0) || b.every((r) => r.answered === 0)) process.exitCode = 1;
}

function safeCpu(pid: number): number | undefined {
  try {
    return cpuSeconds(pid);
  } catch {
    return undefined;
  }
}

/** The HTML page of one or more measured runs (label, result). */
function writeHtml(file: string, scenario: string, runs: [string, Measured][], notes: string[] = []): void {
  const r0 = runs[0][1];
  const num = (v: number | undefined, d = 0) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d));
  const series: PlotSeries[] = runs.map(([label, r]) => ({ label, histogram: r.histogram }));
  writeFileSync(file, htmlReport({
    title: `hotpath bench: ${scenario}`,
    about: [
      `${r0.mode === 'open' ? `Open loop at ${r0.rate} req/s, latency from the due time (coordinated omission corrected)` : 'Closed loop'}; ${r0.connections} connections; ${r0.durationS.toFixed(1)} s measured per run.`,
      `${new Date().toISOString()}; generator on ${process.version}.`,
    ],
    tables: [{
      head: ['run', 'req/s', 'events/s', 'p50 µs', 'p90 µs', 'p99 µs', 'p99.9 µs', 'max µs', 'send lag p99 µs', '2xx', 'non-2xx', 'errors', 'server CPU s/1k'],
      rows: runs.map(([label, r]) => [
        label, num(r.throughput), num(r.eventsPerS), num(r.latencyUs.p50), num(r.latencyUs.p90), num(r.latencyUs.p99), num(r.latencyUs.p999), num(r.latencyUs.max),
        num(r.sendLagUs?.p99), String(r.ok), String(r.answered - r.ok), String(Object.values(r.errors).reduce((x, y) => x + y, 0)), num(r.cpuPer1000, 3),
      ]),
    }],
    plots: [{ title: scenario, series }],
    notes: [...notes, ...runs.flatMap(([, r]) => r.notes)],
  }));
}

function writeJson(file: string, v: unknown): void {
  writeFileSync(file, JSON.stringify(v, null, 2));
}

function formatComparison(ua: string, ub: string, a: Measured[], b: Measured[], s: ReturnType<typeof compareSummary>): string {
  const pct = (x: number) => (Number.isNaN(x) ? '-' : `${(x * 100).toFixed(1)} %`);
  const cpu = (r: Measured) => (r.cpuPer1000 === undefined ? '' : `, ${r.cpuPer1000.toFixed(3)} CPU s/1k`);
  const rows = a.map((r, i) => `  round ${i + 1}   A ${Math.round(r.throughput)} req/s, p99 ${r.latencyUs.p99} us${cpu(r)}   B ${Math.round(b[i].throughput)} req/s, p99 ${b[i].latencyUs.p99} us${cpu(b[i])}`);
  return [
    `A = ${ua}\nB = ${ub}\n${a[0].mode === 'open' ? `open loop at ${a[0].rate} req/s` : 'closed loop'}, ${a[0].connections} connections, ${a.length} alternating rounds`,
    ...rows,
    `  median      A ${Math.round(s.throughput.a)} req/s, p99 ${s.p99Us.a} us   B ${Math.round(s.throughput.b)} req/s, p99 ${s.p99Us.b} us`,
    `  ratio A/B   throughput ${s.throughput.ratio.toFixed(2)}x, p99 ${s.p99Us.ratio.toFixed(2)}x`,
    `  noise       A against itself: throughput ${pct(s.throughput.noiseA)}, p99 ${pct(s.p99Us.noiseA)}; B: ${pct(s.throughput.noiseB)}, ${pct(s.p99Us.noiseB)}`,
    ...[...a, ...b].flatMap((r) => r.notes.map((n) => `  NOTE        ${n}`)),
  ].join('\n');
}
