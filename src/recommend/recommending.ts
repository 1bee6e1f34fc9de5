// Recommenders, composed: one Recommender per entry of the config's `recommenders:`
// section, their ingest taps and their snapshot part. app.ts builds one Recommending after
// the store and before the routes; POST /v1/recommend/:name (routes/recommend.ts) asks it.
import type { Config } from '../config/load.js';
import type { IngestTap } from '../ingest/ingestor.js';
import type { FeatureStore } from '../native/binding.js';
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
      capture: () => {
        const parts = [...this.recommenders].map(([name, r]) => [Buffer.from(name), r.serialize()] as const);
        const size = 8 + parts.reduce((s, [n, b]) => s + 8 + n.length + b.length, 0);
        const out = Buffer.alloc(size);
        out.writeUInt32LE(MAGIC, 0);
        out.writeUInt32LE(parts.length, 4);
        let at = 8;
        for (const [n, b] of parts) {
          out.writeUInt32LE(n.length, at);
          n.copy(out, at + 4);
          at += 4 + n.length;
          out.writeUInt32LE(b.length, at);
          out.set(b, at + 4);
          at += 4 + b.length;
        }
        return out;
      },
      restore: ({ bytes }) => {
        if (!bytes || bytes.length === 0) return;
        const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        if (b.length < 8 || b.readUInt32LE(0) !== MAGIC) throw new Error('not a recommenders state');
        const n = b.readUInt32LE(4);
        let at = 8;
        for (let i = 0; i < n; i++) {
          const nl = b.readUInt32LE(at);
          const name = b.toString('utf8', at + 4, at + 4 + nl);
          at += 4 + nl;
          const bl = b.readUInt32LE(at);
          const part = b.subarray(at + 4, at + 4 + bl);
          at += 4 + bl;
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
