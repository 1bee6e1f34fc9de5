// POST /v1/events: one JSON event, a JSON array of them, or NDJSON; ?stream= names the
// stream of events that carry none. The body goes through the one ingest path, and the
// answer waits until the batch's log record is durable (at once without a data directory)
// and, with a shared log, until Redis took the batches or ack_timeout passed (`shared`).
import { HotpathError } from '../../errors.js';
import { nowMs } from '../../runtime/records.js';
import type { Route } from './route.js';

export const eventRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/events',
    scope: 'events:write',
    body: 'bytes',
    headers: ['content-type'],
    stages: 'events',
    about: 'ingest events: JSON, a JSON array, or NDJSON',
    handle(c, ctx) {
      ctx.ingest.checkLog();
      const t = c.trace;
      const p0 = t !== undefined ? nowMs() : 0;
      const q = c.query.length > 0 ? new URLSearchParams(c.query) : undefined;
      const stream = q?.get('stream') ?? undefined;
      c.subject = stream ?? '';
      const events = parseEventBody(c.body.toString('utf8'), c.headers[0]);
      // ?scores=true: each anomaly detector's scores of these events (in the order of its
      // stream's events in the body), as the detector taps computed them.
      const scores = q !== undefined && flag(q.get('scores'));
      const detectors = scores ? ctx.learning.detectors : [];
      for (const d of detectors) d.lastCount = 0;
      const i0 = (c.mark1 = c.markNow());
      if (t !== undefined) t.stage('parse', p0, i0);
      const r = ctx.ingest.events(events, 'http', Date.now(), stream);
      const d0 = (c.mark2 = c.markNow());
      if (t !== undefined) t.stage('ingest', i0, d0);
      let body = r.duplicates === undefined ? `{"accepted":${r.accepted},"late":${r.late}}` : `{"accepted":${r.accepted},"late":${r.late},"duplicates":${r.duplicates}}`;
      if (scores) {
        const out: Record<string, number[]> = {};
        for (const d of detectors) if (d.lastCount > 0) out[d.def.name] = Array.from(d.lastScores.subarray(0, d.lastCount));
        body = `${body.slice(0, -1)},"scores":${JSON.stringify(out)}}`;
      }
      // With a shared log (ingest.redis_streams) the answer says whether the batches reached it.
      ctx.ingest.settle(r, (err, shared) => {
        // durable: the log record written (and synced), and the shared log's verdict
        if (t !== undefined) t.stage('durable', d0);
        return err ? c.fail(err) : c.send(200, shared === undefined ? body : `${body.slice(0, -1)},"shared":${shared}}`);
      });
    },
  },
];

/** A boolean query flag: present and not "false" or "0". */
export function flag(v: string | null): boolean {
  return v !== null && v !== 'false' && v !== '0';
}

/** Parses a request body: one JSON object, a JSON array of them, or NDJSON. */
export function parseEventBody(body: string, contentType: string): unknown[] {
  const text = body.trim();
  if (text.length === 0) throw new HotpathError('HP_ERR_BODY_EMPTY', 'the request body is empty');
  if (contentType.includes('ndjson') || contentType.includes('jsonl')) {
    const out: unknown[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line.length === 0) continue;
      try {
        out.push(JSON.parse(line));
      } catch (err) {
        throw new HotpathError('HP_ERR_BAD_JSON', `NDJSON line ${i + 1}: ${(err as Error).message}`, { line: i + 1 });
      }
    }
    return out;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new HotpathError('HP_ERR_BAD_JSON', `body is not valid JSON: ${(err as Error).message}`);
  }
  return Array.isArray(parsed) ? parsed : [parsed];
}
