// Bandits, composed: one Bandit per entry of the config's `bandits:`, the reward taps that
// read rewards from event streams, and their snapshot part. app.ts builds one Bandits after
// the store; the routes (src/server/routes/bandits.ts) and other capabilities (experiments)
// use get(name).choose(...) and .reward(...).
import type { Config } from '../config/load.js';
import { HotpathError, showValue } from '../errors.js';
import type { AppliedBatch, IngestTap } from '../ingest/ingestor.js';
import type { FeatureStore } from '../native/binding.js';
import { packParts, unpackParts } from '../state-parts.js';
import { Bandit } from './bandit.js';

const MAGIC = 0x42445331; // "BDS1"

/**
 * Rewards carried by events of one stream: each event's decision id and reward, given to the
 * first bandit reading the stream that knows the decision (the others never gave that id).
 * Replayed events (the log after the snapshot) reward again what they rewarded before the
 * crash; decisions made after the snapshot were lost with it and count as unknown.
 */
export class RewardTap implements IngestTap {
  readonly name: string;
  readonly columns = true;
  readonly streams: readonly string[];
  readonly #bandits: Bandit[];

  constructor(stream: string, bandits: Bandit[]) {
    this.name = `rewards:${stream}`;
    this.streams = [stream];
    this.#bandits = bandits;
  }

  onBatch(b: AppliedBatch): void {
    if (b.kind !== 'columns') throw new Error(`a reward tap was handed ${b.kind}; it reads columns`);
    const nFields = b.stream.fields.length;
    const n = b.ts.length;
    const bandits = this.#bandits;
    for (let i = 0; i < n; i++) {
      const row = i * nFields;
      // several bandits on one stream: the one whose ring holds the id (ids do not overlap),
      // each reading its own id field
      let owner = bandits[0];
      for (let j = 1; j < bandits.length && !owner.knows(b.values[row + owner.def.rewards!.idField]); j++)
        if (bandits[j].knows(b.values[row + bandits[j].def.rewards!.idField])) owner = bandits[j];
      const r = owner.def.rewards!;
      owner.rewardOutcome(b.values[row + r.idField], b.values[row + r.field], b.ts[i]);
    }
  }
}

export class Bandits {
  readonly all = new Map<string, Bandit>();
  readonly taps: RewardTap[] = [];
  readonly #log: (line: string) => void;

  constructor(config: Config, store: FeatureStore | null, log: (line: string) => void) {
    this.#log = log;
    const byStream = new Map<string, Bandit[]>();
    config.bandits.forEach((def, index) => {
      const b = new Bandit(def, store, { index });
      this.all.set(def.name, b);
      if (def.rewards) byStream.set(def.rewards.stream.name, [...(byStream.get(def.rewards.stream.name) ?? []), b]);
    });
    for (const [stream, bandits] of byStream) this.taps.push(new RewardTap(stream, bandits));
  }

  get empty(): boolean {
    return this.all.size === 0;
  }

  /** The bandit, or HP_ERR_BANDIT_UNKNOWN. */
  get(name: string): Bandit {
    const b = this.all.get(name);
    if (!b) throw new HotpathError('HP_ERR_BANDIT_UNKNOWN', `unknown bandit ${showValue(name).slice(0, 80)}; bandits: ${[...this.all.keys()].join(', ') || 'none'}`);
    return b;
  }

  /** One snapshot part for every bandit (src/durability/snapshots.ts). */
  snapshotParticipant(): { name: string; capture(): Uint8Array; restore(part: { bytes?: Uint8Array }): void } {
    return {
      name: 'bandits',
      capture: () => packParts(MAGIC, [...this.all].map(([name, b]) => [name, b.serialize()])),
      restore: ({ bytes }) => {
        for (const [name, part] of unpackParts(MAGIC, bytes ?? new Uint8Array(0), 'bandits')) {
          const b = this.all.get(name);
          if (b) b.restore(part);
          else this.#log(`snapshot: bandit ${name} is no longer in the config; its state is dropped`);
        }
      },
    };
  }
}
