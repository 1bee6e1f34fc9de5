// The built-in demo generator (`hotpath serve --demo`): synthetic card transactions for
// the config's demo stream, fed through the same decode-and-ingest path as POST
// /v1/events, so the shipped config shows live features and live scoring without any
// client. It plants the fraud patterns the demo model was trained on
// (scripts/train-fraud-model.py): card-testing bursts of small amounts, and account
// takeovers (large amounts from new countries). With `demo.model` set, it scores every
// transaction before ingesting it, and logs what the model flagged every 10 seconds.
import type { Config } from '../config/load.js';
import type { FeatureStore } from '../native/binding.js';
import type { InferenceService } from '../runtime/inference.js';
import type { ModelRegistry } from '../runtime/registry.js';
import { parsePredict } from './predict-parse.js';
import { ingestEvents } from './events.js';

const COUNTRIES = ['FR', 'DE', 'US', 'GB', 'ES', 'IT', 'NL', 'BR', 'IN', 'JP'];
const RARE_COUNTRIES = ['KP', 'NG', 'RU', 'VN', 'PH', 'UA'];
const CHANNELS = ['web', 'app', 'pos'];
/** Score at which the demo counts a transaction as flagged (the model's prior is ~3%). */
const FLAG_AT = 0.1;

export interface DemoStats {
  sent: number;
  scored: number;
  flagged: number;
  planted: number;
  caught: number;
  falseAlarms: number;
  /** sums of the scores, for the mean per class */
  fraudScore: number;
  normalScore: number;
}

export interface Demo {
  stop(): void;
  readonly stats: DemoStats;
}

export function startDemo(store: FeatureStore, config: Config, log: (line: string) => void, models?: ModelRegistry, inference?: InferenceService): Demo {
  const demo = config.demo ?? { stream: config.streams[0].name, rate: 1000, ids: 1000 };
  const stream = config.streams[config.streamIndex.get(demo.stream)!];
  const tickMs = 50;
  const perTick = Math.max(1, Math.round((demo.rate * tickMs) / 1000));
  let seed = 42;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
    const pick = (n: number) => 1 + Math.floor(n * rand());
  const model = demo.model !== undefined && models ? models.get(demo.model) : undefined;
  const stats: DemoStats = { sent: 0, scored: 0, flagged: 0, planted: 0, caught: 0, falseAlarms: 0, fraudScore: 0, normalScore: 0 };
  let tick = 0;

  const event = (now: number, over: Record<string, unknown> = {}): Record<string, unknown> => {
    const e: Record<string, unknown> = { stream: stream.name };
    stream.keyFields.forEach((field, k) => {
      e[field] = `${config.entities[stream.tables[k]].name}-${pick(k === 0 ? demo.ids : Math.max(1, Math.round(demo.ids / 50)))}`;
    });
    if (stream.timeField) e[stream.timeField] = now - Math.floor(rand() * 2000);
    for (const f of stream.fields) {
      if (e[f.name] !== undefined) continue; // a key field also declared as a category
      if (f.type === 'number') e[f.name] = Math.round(Math.exp(3 + 1.2 * (rand() + rand() + rand() - 1.5)) * 100) / 100;
      else e[f.name] = f.name.includes('channel') ? CHANNELS[Math.floor(rand() * CHANNELS.length)] : COUNTRIES[Math.floor(rand() ** 2 * COUNTRIES.length)];
    }
    return Object.assign(e, over);
  };

  const ingest = (events: Record<string, unknown>[], now: number): void => {
    try {
      stats.sent += ingestEvents(store, config, events, now).accepted;
    } catch (err) {
      log(`demo: ${(err as Error).message}`);
    }
  };

  /** Scores a transaction on the features before it, then ingests it. */
  const score = (e: Record<string, unknown>, fraud: boolean, now: number): void => {
    if (!model) {
      ingest([e], now);
      return;
    }
    const entities: Record<string, unknown> = {};
    stream.keyFields.forEach((field, k) => (entities[config.entities[stream.tables[k]].name] = e[field]));
    let parsed;
    try {
      parsed = parsePredict(model, { entities, fields: e });
    } catch (err) {
      log(`demo: cannot score: ${(err as Error).message}`);
      ingest([e], now);
      return;
    }
    inference!.predictAsync(model, parsed).then(
      (r) => {
        stats.scored++;
        const flagged = r.values[0] >= FLAG_AT;
        if (fraud) stats.fraudScore += r.values[0];
        else stats.normalScore += r.values[0];
        if (flagged) stats.flagged++;
        if (fraud && flagged) stats.caught++;
        if (!fraud && flagged) stats.falseAlarms++;
        ingest([e], Date.now());
      },
      () => ingest([e], Date.now()),
    );
  };

  const amountField = stream.fields.find((f) => f.type === 'number')?.name;
  const countryField = stream.fields.find((f) => f.name.includes('country'))?.name;
  const userField = stream.keyFields[0];
  const userOf = (): string => `${config.entities[stream.tables[0]].name}-${1 + Math.floor(rand() * demo.ids)}`;
  // Planted fraud runs as campaigns that emit one transaction every `every` ticks, so each
  // is scored on the features its earlier transactions built.
  const campaigns: { step: number; every: number; next: (step: number) => [Record<string, unknown>, boolean] | null }[] = [];

  const timer = setInterval(() => {
    const now = Date.now();
    tick++;
    const events = new Array(perTick);
    for (let i = 0; i < perTick; i++) events[i] = event(now);
    if (model) for (const e of events) score(e, false, now);
    else ingest(events, now);
    if (!amountField) return;
    // Card testing, every 5 s: one card, 30 small amounts at different merchants, 10 a second.
    if (tick % 100 === 0) {
      const user = userOf();
      campaigns.push({
        step: 0,
        every: 2,
        next: (i) => (i < 30 ? [{ [userField]: user, [amountField]: 1 + Math.round(rand() * 400) / 100 }, true] : null),
      });
    }
    // Account takeover, every 5 s: a user with a history (three ordinary purchases at home)
    // suddenly spends 10-40x as much from countries they never used.
    if (tick % 100 === 50) {
      const user = userOf();
      const usual = 20 + Math.round(rand() * 40);
      campaigns.push({
        step: 0,
        every: 10,
        next: (i) => {
          if (i >= 8) return null;
          const home = i < 3;
          const e: Record<string, unknown> = { [userField]: user, [amountField]: home ? usual : usual * (10 + Math.round(rand() * 30)) };
          if (countryField) e[countryField] = home ? 'FR' : RARE_COUNTRIES[Math.floor(rand() * RARE_COUNTRIES.length)];
          return [e, !home];
        },
      });
    }
    for (let i = campaigns.length - 1; i >= 0; i--) {
      const c = campaigns[i];
      if (tick % c.every !== 0) continue;
      const got = c.next(c.step++);
      if (!got) {
        campaigns.splice(i, 1);
        continue;
      }
      if (got[1]) stats.planted++;
      score(event(now, got[0]), got[1], now);
    }
    if (model && tick % 200 === 0) {
      const normal = stats.scored - stats.planted;
      log(
        `demo: ${stats.sent} events sent, ${stats.scored} scored; planted fraud ${stats.planted}: ${stats.caught} flagged (score >= ${FLAG_AT}), ` +
          `mean score ${(stats.fraudScore / Math.max(1, stats.planted)).toFixed(3)}; normal ${normal}: ` +
          `${stats.falseAlarms} flagged, mean score ${(stats.normalScore / Math.max(1, normal)).toFixed(4)}`,
      );
    }
  }, tickMs);
  log(`demo: ${demo.rate} events/s into stream '${stream.name}' (ids ${config.entities[stream.tables[0]].name}-1..${demo.ids})${model ? `, scored by model '${model.def.name}'` : ''}`);
  return {
    stop: () => clearInterval(timer),
    stats,
  };
}
