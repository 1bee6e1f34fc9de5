// What the shared-log and dedup tests compare: the count and sum per user that a list of
// events makes (each event once), and what a server reads for them.
import { expect } from 'vitest';

import { postJson } from './inference-server.js';

/**
 * The time the tests' events start at, features read an hour later: a whole hour two to
 * three hours before the run. Not a fixed date: the online store writes the features' text
 * as of the wall clock, and n_1d by then no longer held events of a day-old fixed date.
 */
const HOUR = 3_600_000;
export const T0 = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;

/** One stream `tx` keyed by user (`streamExtra`: more lines of the stream) and the user's n_1d and sum_1d. */
export const countsYaml = (streamExtra = '') => `
server: { workers: 1, max_batch: 10000 }
store: { max_future: 1d }
streams:
  tx:
    keys: { user: user_id }
    time_field: ts
    allowed_lateness: 1d
    fields: { amount: number }${streamExtra}
entities:
  user:
    memory: 16MiB
    shards: 4
    features:
      n_1d:   { agg: count, window: 1d, tile: 1h }
      sum_1d: { agg: sum, field: amount, window: 1d, tile: 1h }
`;

export type Counts = Map<string, { n: number; sum: number }>;

/** n_1d and sum_1d per user, each event counted once. */
export function expectedCounts(events: readonly { user_id: string; amount: number }[]): Counts {
  const m: Counts = new Map();
  for (const e of events) {
    const x = m.get(e.user_id) ?? { n: 0, sum: 0 };
    x.n++;
    x.sum += e.amount;
    m.set(e.user_id, x);
  }
  return m;
}

/** n_1d and sum_1d of users as the server at base reads them at time `at` (an hour after T0 by default). */
export async function readCounts(base: string, users: string[], at = T0 + 3_600_000): Promise<Counts> {
  const a = await postJson(base, '/v1/features', { entity: 'user', ids: users, at });
  expect(a.status).toBe(200);
  return new Map(a.body.results.map((x: { id: string; features: { n_1d: number; sum_1d: number } }) => [x.id, { n: x.features.n_1d ?? 0, sum: x.features.sum_1d ?? 0 }]));
}
