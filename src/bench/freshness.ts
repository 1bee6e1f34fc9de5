// Freshness: how long until an ingested event is visible in a feature read. One writer
// connection posts an event with a new value; one reader connection reads the feature
// until it shows that value. The time from the write's send to the first read that sees
// it goes into an HDR histogram. Shaped for the shipped demo config (user.last_amount);
// the entity, feature and event are options.
import * as hdr from 'hdr-histogram-js';

import { Connection, encodeRequest } from './http-client.js';

export interface FreshnessOptions {
  url: string;
  samples: number;
  entity: string;
  feature: string;
  /** builds the event for sample i carrying `value` for the id */
  event: (id: string, value: number) => Record<string, unknown>;
  timeoutMs: number;
}

export interface FreshnessResult {
  samples: number;
  /** reads that had to be repeated because the value was not visible yet */
  retries: number;
  failures: number;
  latencyUs: { p50: number; p99: number; max: number };
  histogram: hdr.Histogram;
}

export async function runFreshness(o: FreshnessOptions): Promise<FreshnessResult> {
  const u = new URL(o.url);
  const host = u.hostname;
  const port = Number(u.port || 80);
  const writer = new Connection(host, port, o.timeoutMs);
  const reader = new Connection(host, port, o.timeoutMs);
  await writer.ready();
  await reader.ready();
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  let retries = 0;
  let failures = 0;
  const run = Date.now().toString(36);
  for (let i = 0; i < o.samples; i++) {
    const id = `fresh-${run}-${i % 100}`;
    const value = i + 1;
    const body = JSON.stringify(o.event(id, value));
    const read = encodeRequest('GET', u.host, `/v1/features/${o.entity}/${encodeURIComponent(id)}?features=${o.feature}`);
    const t0 = performance.now();
    const w = await writer.request(encodeRequest('POST', u.host, '/v1/events', body, { 'content-type': 'application/json' }));
    if (typeof w === 'string' || w.status !== 200) {
      failures++;
      continue;
    }
    let seen = false;
    for (let k = 0; k < 1000 && !seen; k++) {
      const r = await reader.requestBody(read);
      if (typeof r === 'string') break;
      seen = r.status === 200 && (JSON.parse(r.body) as { features?: Record<string, unknown> }).features?.[o.feature] === value;
      if (!seen) retries++;
    }
    if (seen) hist.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    else failures++;
  }
  writer.close();
  reader.close();
  const pct = (p: number) => (hist.totalCount ? hist.getValueAtPercentile(p) : NaN);
  return { samples: hist.totalCount, retries, failures, latencyUs: { p50: pct(50), p99: pct(99), max: hist.totalCount ? hist.maxValue : NaN }, histogram: hist };
}
