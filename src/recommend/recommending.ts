// Recommenders, composed: one Recommender per entry of the config's `recommenders:`
// section, their ingest taps and their snapshot part. app.ts builds one Recommending after
// the store and before the routes; POST /v1/recommend/:name (routes/recommend.ts) asks it.
import type { Config } from '../config/load.js';
import type { IngestTap } from '../ingest/ingestor.js';
import type { FeatureStore } from '../native/binding.js';
import { packParts, unpackParts } from '../state-parts.js';
import { Recommender } from './recommender.js';

const MAGIC = 0x43455231; // "REC1"

export class Recommending {
  readonly recommenders = new Map<string, Recommender>();
  readonly #log: (line: string) => void;

  constructor(config: Config, store: FeatureStore, log: (line: string) => void) {
    this.#log = log;
    for (const def of config.recommenders) this.recommenders.set(def.name, new Recommender(def, store));
  }

  get empty(): boolean {
    return this.recommenders.size === 0;
  }

  taps(): IngestTap[] {
    return [...this.recommenders.values()];
  }

  get(name: string): Recommender | undefined {
    return this.recommenders.get(name);
  }

  /** One snapshot part for every recommender (src/durability/snapshots.ts). */
  snapshotParticipant(): { name: string; capture(): Uint8Array; restore(part: { bytes?: Uint8Array }): void } {
    return {
      name: 'recommend',
      capture: () => packParts(MAGIC, [...this.recommenders].map(([name, r]) => [name, r.serialize()] as const)),
      restore: ({ bytes }) => {
        for (const [name, part] of unpackParts(MAGIC, bytes ?? new Uint8Array(0), 'recommenders')) {
          const r = this.recommenders.get(name);
          if (!r) {
            this.#log(`snapshot: recommender ${name} is no longer in the config; its state is dropped`);
            continue;
          }
          try {
            r.restore(part);
          } catch (err) {
            // e.g. the table's parameters changed: its counts are rebuilt from the log replay only
            this.#log(`snapshot: recommender ${name}: ${(err as Error).message}; it starts empty`);
            r.table.clear();
            r.names.clear();
          }
        }
      },
    };
  }
}
