// The built-in demo generator (`hotpath serve --demo`): synthetic events for the config's
// demo stream, fed through the same decode-and-ingest path as POST /v1/events, so the
// shipped config shows live features without any client.
import type { Config } from '../config/load.js';
import type { FeatureStore } from '../native/binding.js';
import { ingestEvents } from './events.js';

const COUNTRIES = ['FR', 'DE', 'US', 'GB', 'ES', 'IT', 'NL', 'BR', 'IN', 'JP'];
const CHANNELS = ['web', 'app', 'pos'];

export interface Demo {
  stop(): void;
  readonly sent: number;
}

export function startDemo(store: FeatureStore, config: Config, log: (line: string) => void): Demo {
  const demo = config.demo ?? { stream: config.streams[0].name, rate: 1000, ids: 1000 };
  const stream = config.streams[config.streamIndex.get(demo.stream)!];
  const tickMs = 50;
  const perTick = Math.max(1, Math.round((demo.rate * tickMs) / 1000));
  let seed = 42;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  // Ids skewed toward the low numbers (a few busy entities, a long tail): entity-1 is busy.
  const pick = (n: number) => 1 + Math.floor(n * rand() ** 3);
  let sent = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    const events = new Array(perTick);
    for (let i = 0; i < perTick; i++) {
      const e: Record<string, unknown> = { stream: stream.name };
      stream.keyFields.forEach((field, k) => {
        e[field] = `${config.entities[stream.tables[k]].name}-${pick(k === 0 ? demo.ids : Math.max(1, demo.ids / 10))}`;
      });
      if (stream.timeField) e[stream.timeField] = now - Math.floor(rand() * 2000);
      for (const f of stream.fields) {
        if (e[f.name] !== undefined) continue; // a key field also declared as a category
        if (f.type === 'number') e[f.name] = Math.round(Math.exp(3 + 1.2 * (rand() + rand() + rand() - 1.5)) * 100) / 100;
        else e[f.name] = f.name.includes('channel') ? CHANNELS[Math.floor(rand() * CHANNELS.length)] : COUNTRIES[Math.floor(rand() ** 2 * COUNTRIES.length)];
      }
      events[i] = e;
    }
    try {
      sent += ingestEvents(store, config, events, now).accepted;
    } catch (err) {
      log(`demo: ${(err as Error).message}`);
    }
  }, tickMs);
  log(`demo: ${demo.rate} events/s into stream '${stream.name}' (ids ${config.entities[stream.tables[0]].name}-1..${demo.ids})`);
  return {
    stop: () => clearInterval(timer),
    get sent() {
      return sent;
    },
  };
}
