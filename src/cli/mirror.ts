// `hotpath mirror`: copies one region's shared-log stream to another's (src/redis/mirror.ts,
// docs/multi-region.md), with its counters and lag on a small /metrics endpoint.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import client from 'prom-client';

import { parseDuration } from '../config/values.js';
import { HotpathError } from '../errors.js';
import { MIRROR_DEFAULTS, type MirrorOptions, StreamMirror } from '../redis/mirror.js';
import { DELAY_BUCKETS_MS } from '../redis/reporting.js';
import { scraped } from '../server/scrape-metrics.js';

export const MIRROR_USAGE = `usage: hotpath mirror --from URL --to URL --region A --to-region B [--key K] [--batch N]
                      [--metrics-port P] [--metrics-host H] [--max-len N] [--claim-min-idle D]
                      [--lag-interval D]

  Copies the entries of region A's shared-log stream to region B's (docs/multi-region.md):
  its own consumer group on A (mirror:<B>), XADDs to B with a field m=<A>, XACK on A once B
  replied. Entries that carry m (mirrored from another region) are never copied. Run one
  mirror per direction.
  --from URL           region A's Redis, redis://[user:password@]host:port[/db] (or rediss://)
  --to URL             region B's Redis
  --region A           A's name (written in m); letters, digits, _ . : @ -
  --to-region B        B's name (the consumer group on A is mirror:<B>)
  --key K              the stream in both regions (default ${MIRROR_DEFAULTS.key})
  --batch N            entries per read and XADDs per pipeline, 1..100000 (default ${MIRROR_DEFAULTS.batch})
  --metrics-port P     serve GET /metrics here (default 9470; 0 picks a free port, printed)
  --metrics-host H     its address (default 127.0.0.1)
  --max-len N          XADD MAXLEN ~ on B, at least 1000 (default ${MIRROR_DEFAULTS.maxLen})
  --claim-min-idle D   claim entries a dead mirror process left pending once idle this long
                       (default 5s)
  --lag-interval D     how often the lag is read (default 1s)

  SIGTERM / SIGINT: stops after the batch in hand; what is not acknowledged is copied by
  the next start.
`;

const NAME_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;

const bad = (option: string, message: string): never => {
  throw new HotpathError('HP_ERR_CONFIG_INVALID', `hotpath mirror: ${option}: ${message}`, { path: option });
};

function integer(option: string, text: string | undefined, def: number, min: number, max: number): number {
  if (text === undefined) return def;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !(n >= min && n <= max)) bad(option, `must be an integer ${min}..${max}, got '${text}'`);
  return n;
}

function duration(option: string, text: string | undefined, def: number, min: number): number {
  if (text === undefined) return def;
  let ms: number;
  try {
    ms = parseDuration(/^\d+(\.\d+)?$/.test(text) ? Number(text) : text);
  } catch {
    return bad(option, `not a duration: '${text}' (use e.g. 250ms, 5s)`);
  }
  if (ms < min) bad(option, `must be at least ${min} ms, got '${text}'`);
  return ms;
}

function redisUrl(option: string, text: string | undefined): string {
  if (text === undefined) return bad(option, 'is required');
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return bad(option, `not a URL: '${text}' (redis://host:port)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') bad(option, `must be a redis:// or rediss:// URL, got '${text}'`);
  if (!u.hostname) bad(option, `has no host: '${text}'`);
  return text;
}

function name(option: string, text: string | undefined): string {
  if (text === undefined) return bad(option, 'is required');
  if (!NAME_RE.test(text)) bad(option, `'${text}' is not a region name (1-64 of letters, digits, _ . : @ -)`);
  return text;
}

/** The options as MirrorOptions and the metrics endpoint's address; throws naming the bad option. */
export function mirrorOptions(argv: string[], log: (line: string) => void): { options: MirrorOptions; metricsPort: number; metricsHost: string } | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      key: { type: 'string' },
      region: { type: 'string' },
      'to-region': { type: 'string' },
      batch: { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      'max-len': { type: 'string' },
      'claim-min-idle': { type: 'string' },
      'lag-interval': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const from = redisUrl('--from', values.from);
  const to = redisUrl('--to', values.to);
  const region = name('--region', values.region);
  const toRegion = name('--to-region', values['to-region']);
  if (region === toRegion) bad('--to-region', `must differ from --region ('${region}')`);
  const key = values.key ?? MIRROR_DEFAULTS.key;
  if (key.length === 0 || key.length > 256) bad('--key', 'must be 1..256 characters');
  if (from === to) bad('--to', `is the same Redis as --from ('${from}'): the mirror would copy the stream onto itself`);
  const options: MirrorOptions = {
    from,
    to,
    key,
    region,
    toRegion,
    batch: integer('--batch', values.batch, MIRROR_DEFAULTS.batch, 1, 100_000),
    maxLen: integer('--max-len', values['max-len'], MIRROR_DEFAULTS.maxLen, 1000, 1e12),
    blockMs: MIRROR_DEFAULTS.blockMs,
    claimMinIdleMs: duration('--claim-min-idle', values['claim-min-idle'], MIRROR_DEFAULTS.claimMinIdleMs, 10),
    lagIntervalMs: duration('--lag-interval', values['lag-interval'], MIRROR_DEFAULTS.lagIntervalMs, 10),
    commandTimeoutMs: MIRROR_DEFAULTS.commandTimeoutMs,
    log,
  };
  return { options, metricsPort: integer('--metrics-port', values['metrics-port'], 9470, 0, 65535), metricsHost: values['metrics-host'] ?? '127.0.0.1' };
}

/** The mirror's metrics, read from its counters at scrape time. */
export function mirrorRegistry(m: StreamMirror, o: MirrorOptions): client.Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ from_region: o.region, to_region: o.toRegion });
  const s = m.stats;
  scraped(registry, 'counter', 'hotpath_mirror_entries_total', 'Entries of the source stream by what the mirror did: mirrored (XADD to the destination replied), skipped (mirrored from another region: never copied), trimmed (trimmed from the source before copied: lost to the destination)', ['outcome'], () => [
    [{ outcome: 'mirrored' }, s.mirrored], [{ outcome: 'skipped' }, s.skipped], [{ outcome: 'trimmed' }, s.trimmed],
  ]);
  scraped(registry, 'counter', 'hotpath_mirror_failures_total', 'Failed reads or XACKs on the source (side="from") and failed XADD pipelines to the destination (side="to"); each is retried', ['side'], () => [
    [{ side: 'from' }, s.failuresFrom], [{ side: 'to' }, s.failuresTo],
  ]);
  scraped(registry, 'counter', 'hotpath_mirror_claimed_total', 'Entries claimed (XAUTOCLAIM) from an earlier mirror process that read and never acknowledged them', [], () => s.claimed);
  scraped(registry, 'counter', 'hotpath_mirror_acked_total', 'Entries acknowledged (XACK) on the source', [], () => s.acked);
  // NaN until the lag was first read (a gauge set to nothing would read 0: no lag)
  const gauge = (name: string, help: string, value: () => number) =>
    new client.Gauge({ name, help, registers: [registry], collect() { this.set(value()); } });
  gauge('hotpath_mirror_lag_entries', 'Entries of the source stream not yet copied: not yet delivered to the mirror group plus pending (NaN until first read)', () => m.lag.entries);
  gauge('hotpath_mirror_lag_seconds', 'Age of the oldest of them (its id: the source Redis clock); 0 when none', () => m.lag.ms / 1000);
  gauge('hotpath_mirror_lag_read_age_seconds', 'How old the lag reading is (it is kept while the source is down)', () => (m.lag.at ? (Date.now() - m.lag.at) / 1000 : Number.NaN));
  scraped(registry, 'gauge', 'hotpath_mirror_connected', '1 while the connection to the source (side="from") or destination (side="to") Redis is up', ['side'], () => [
    [{ side: 'from' }, m.connectedFrom ? 1 : 0], [{ side: 'to' }, m.connectedTo ? 1 : 0],
  ]);
  // from an entry's id on the source (its append time) to the destination's XADD reply;
  // built from the plain counts at scrape time, as src/server/redis-metrics.ts does
  const name = 'hotpath_mirror_delay_seconds';
  const help = 'From an entry\'s append on the source (its id: the source Redis clock) to the XADD reply of the destination';
  registry.registerMetric({
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
      let acc = 0;
      DELAY_BUCKETS_MS.forEach((le, i) => {
        acc += s.delayCounts[i];
        values.push({ value: acc, labels: { le: le / 1000 }, metricName: `${name}_bucket` });
      });
      values.push({ value: s.delayCount, labels: { le: '+Inf' }, metricName: `${name}_bucket` });
      values.push({ value: s.delaySumMs / 1000, labels: {}, metricName: `${name}_sum` });
      values.push({ value: s.delayCount, labels: {}, metricName: `${name}_count` });
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
    reset() {},
  } as unknown as client.Metric);
  return registry;
}

export async function mirror(argv: string[]): Promise<void> {
  const log = (line: string) => console.error(`hotpath: ${line}`);
  const parsed = mirrorOptions(argv, log);
  if (!parsed) {
    process.stdout.write(MIRROR_USAGE);
    return;
  }
  const { options: o, metricsPort, metricsHost } = parsed;
  const m = new StreamMirror(o);
  const registry = mirrorRegistry(m, o);
  const http = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else res.writeHead(404).end('GET /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', (err) => reject(new HotpathError('HP_ERR_CONFIG_INVALID', `hotpath mirror: --metrics-port: cannot listen on ${metricsHost}:${metricsPort}: ${err.message}`, { path: '--metrics-port' })));
    http.listen(metricsPort, metricsHost, () => resolve());
  });
  const port = (http.address() as { port: number }).port;
  m.start();
  const hide = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');
  console.log(`hotpath mirror ${o.region} -> ${o.toRegion}: ${o.key} from ${hide(o.from)} to ${hide(o.to)}; metrics on http://${metricsHost}:${port}/metrics`);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(`${signal}: stopping the mirror`);
    m.close().then(() => {
      http.close();
      process.exit(0);
    }, () => process.exit(1));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
