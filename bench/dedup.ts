// What idempotent ingest (streams.<name>.dedup, src/ingest/event-ids.ts) costs on the ingest
// path: JSON event objects through the server's own Ingestor (decode, the id window, one
// native store call per batch), the same events on the same store layout with and without
// `dedup`, in alternating rounds; events/s and the ratio. Every event is new (with the
// defaults the window fills to its 1M-id cap by the end of a run), and a second pass sends
// each batch twice (half of the events dropped as duplicates).
//
//   npx tsx bench/dedup.ts [--rounds 5] [--events 1000000] [--batch 100] [--out FILE]
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';

import { loadConfigText } from '../src/config/load.js';
import { Ingestor } from '../src/ingest/ingestor.js';
import { createStore } from '../src/server/app.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('rounds', '5'));
const EVENTS = Number(opt('events', '1000000'));
const BATCH = Number(opt('batch', '100'));
const OUT = opt('out', '');

const yaml = (dedup: boolean) => `
store: { max_future: 1d }
streams:
  tx:
    keys: { user: user_id }
    time_field: ts
    allowed_lateness: 1d
    fields: { amount: number }${dedup ? '\n    dedup: { field: event_id, horizon: 1h, max_ids: 1000000 }' : ''}
entities:
  user:
    memory: 64MiB
    features:
      n_1h:   { agg: count, window: 1h, tile: 1m }
      sum_1h: { agg: sum, field: amount, window: 1h, tile: 1m }
`;

const T0 = Date.now() - 60_000;
// The events, made once: the same objects for every mode (ids are unique per event).
const batches: Record<string, unknown>[][] = [];
for (let i = 0; i < EVENTS; i += BATCH)
  batches.push(Array.from({ length: Math.min(BATCH, EVENTS - i) }, (_, j) => ({ event_id: `evt-${i + j}`, user_id: `u${(i + j) % 50_000}`, ts: T0 + ((i + j) % 60_000), amount: (i + j) % 17 })));

/** events/s applied by a fresh Ingestor (and store) over all batches; twice: each batch sent twice in a row */
function run(dedup: boolean, twice: boolean): number {
  const config = loadConfigText(yaml(dedup));
  const store = createStore(config);
  const ingest = new Ingestor(store, config);
  const now = Date.now();
  const t0 = process.hrtime.bigint();
  let sent = 0;
  for (const b of batches) {
    ingest.events(b, 'http', now);
    sent += b.length;
    if (twice) {
      ingest.events(b, 'http', now);
      sent += b.length;
    }
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return sent / s;
}

const modes = [
  { name: 'no dedup', dedup: false, twice: false },
  { name: 'dedup, every event new', dedup: true, twice: false },
  { name: 'no dedup, each batch twice', dedup: false, twice: true },
  { name: 'dedup, each batch twice (half dropped)', dedup: true, twice: true },
];
const rates = new Map<string, number[]>(modes.map((m) => [m.name, []]));
run(false, false); // warm the JIT
for (let r = 0; r < ROUNDS; r++) for (const m of modes) rates.get(m.name)!.push(run(m.dedup, m.twice));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(rates.get('no dedup')!);
const lines = [
  `# Idempotent ingest: the cost of streams.<name>.dedup on the ingest path`,
  '',
  `\`npx tsx bench/dedup.ts --rounds ${ROUNDS} --events ${EVENTS} --batch ${BATCH}\` (${cpus()[0].model}, ${cpus().length} cores, Node ${process.version}); one process, the Ingestor and the native store, JSON event objects, ${BATCH} per call, median of ${ROUNDS} alternating rounds.`,
  '',
  '| mode | events/s (median) | range | vs no dedup |',
  '|---|---|---|---|',
  ...modes.map((m) => {
    const xs = rates.get(m.name)!;
    return `| ${m.name} | ${(median(xs) / 1e3).toFixed(0)}k | ${(Math.min(...xs) / 1e3).toFixed(0)}k–${(Math.max(...xs) / 1e3).toFixed(0)}k | ${(median(xs) / base).toFixed(2)}× |`;
  }),
  '',
];
console.log(lines.join('\n'));
if (OUT) writeFileSync(OUT, lines.join('\n'));
