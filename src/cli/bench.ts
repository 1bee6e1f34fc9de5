// `hotpath bench`: drives any HTTP target (hotpath or another server) with one of the
// scenarios, closed-loop (--rate absent) or open-loop at a constant rate, and prints the
// latency percentiles, the throughput and the errors by class; --json writes them too.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import * as hdr from 'hdr-histogram-js';

import { parseDuration } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { type LoadResult, runLoad } from '../bench/loadgen.js';
import { buildRequests, type Scenario, SCENARIOS } from '../bench/scenarios.js';

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
  --batch N          events per request for the events scenario (default 100)
  --dim N            input width for the infer scenario (default 10)
  --file F           the file scenario: a JSON list of {method, path, body?, headers?}
  --json FILE        also write the result as JSON
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

export function formatResult(r: LoadResult): string {
  const us = (v: number) => (Number.isNaN(v) ? '-' : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v} us`);
  const errs = Object.entries(r.errors).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  const statuses = Object.entries(r.byStatus).map(([k, n]) => `${k}: ${n}`).join(', ') || 'none';
  const lines = [
    `${r.target}  ${r.mode === 'open' ? `open loop at ${r.rate} req/s` : 'closed loop'}, ${r.connections} connections, ${r.durationS.toFixed(1)} s measured`,
    `  throughput  ${Math.round(r.throughput)} req/s answered (${r.ok} 2xx of ${r.answered})`,
    `  latency     p50 ${us(r.latencyUs.p50)}  p90 ${us(r.latencyUs.p90)}  p99 ${us(r.latencyUs.p99)}  p99.9 ${us(r.latencyUs.p999)}  max ${us(r.latencyUs.max)}  (2xx only${r.mode === 'open' ? ', from the due time' : ''})`,
    `  statuses    ${statuses}`,
    `  errors      ${errs}`,
  ];
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
      dim: { type: 'string' },
      file: { type: 'string' },
      json: { type: 'string' },
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
  const requests = buildRequests(scenario, {
    host: url.host,
    ids: int(values.ids, 'ids', 1000),
    model: values.model!,
    entity: values.entity!,
    batch: int(values.batch, 'batch', 100),
    dim: int(values.dim, 'dim', 10),
    file: values.file,
  });
  const tty = process.stderr.isTTY;
  const result = await runLoad({
    url: url.origin,
    requests,
    connections: int(values.connections, 'connections', 64),
    durationMs: duration(values.duration, 'duration', '10s'),
    warmupMs: duration(values.warmup, 'warmup', '2s'),
    timeoutMs: duration(values.timeout, 'timeout', '5s'),
    rate,
    onProgress: (p) => {
      const line = `  ${(p.elapsedMs / 1000).toFixed(0)} s: ${p.completed} answered, ${p.errors} errors`;
      if (tty) process.stderr.write(`\r${line}   `);
      else process.stderr.write(`${line}\n`);
    },
  });
  if (tty) process.stderr.write('\n');
  process.stdout.write(`${formatResult(result)}\n`);
  if (values.json) {
    const { histogram, ...rest } = result;
    writeFileSync(values.json, JSON.stringify({ scenario, ...rest, histogramUs: hdr.encodeIntoCompressedBase64(histogram) }, null, 2));
  }
  if (result.answered === 0) process.exitCode = 1;
}
