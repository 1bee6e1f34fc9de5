// One configured bandit: its policy, its arms by name, and the decisions waiting for their
// rewards. choose() gathers the context from the feature store (contextual policies),
// asks the policy, and keeps the decision (its arm, the arm's generation, its time and
// context) in a ring of pending decisions under a fresh id; reward() finds the decision by
// id and teaches the policy once. A decision's reward counts within the horizon; a second
// reward, an unknown id, a value out of range or the reward of a decision whose arm was
// retired since are refused with a code and change nothing.
//
// Decision ids are integers from the wall clock in µs at start (above any id an earlier
// run gave: restore() raises the counter past the restored one), each bandit offset by
// 2^40 from the one before, so that one stream can carry the rewards of several bandits.
// An id's ring slot is id mod pending.
import { ARM_NAME_RE } from '../config/bandits.js';
import type { BanditDef } from '../config/load.js';
import { HotpathError, showValue } from '../errors.js';
import { type FeatureStore, Gather } from '../native/binding.js';
import { gatherSpec } from '../runtime/registry.js';
import { nowMs } from '../runtime/records.js';
import { makePolicy, type Policy } from './policies.js';

/** What happens to a reward (hotpath_bandit_rewards_total outcomes). */
export const REWARD_OUTCOMES = ['applied', 'unknown', 'expired', 'duplicate', 'invalid', 'retired'] as const;
export type RewardOutcome = (typeof REWARD_OUTCOMES)[number];

const OUTCOME_ERRORS = {
  unknown: ['HP_ERR_BANDIT_DECISION_UNKNOWN', 'no such decision'],
  expired: ['HP_ERR_BANDIT_DECISION_EXPIRED', 'the decision is past the bandit\'s horizon or out of its pending ring'],
  duplicate: ['HP_ERR_BANDIT_REWARD_DUPLICATE', 'the decision already has its reward'],
  retired: ['HP_ERR_BANDIT_ARM_RETIRED', 'the arm of the decision was retired since'],
} as const;

/** What choose() reads: entity ids (by entity name; `entity` when the context has one entity) and request fields. */
export interface ChooseContext {
  entities?: Record<string, unknown>;
  entity?: unknown;
  fields?: Record<string, unknown>;
}

export interface Decision {
  decisionId: number;
  arm: string;
  /** the probability the policy gave this arm (epsilon_greedy; 1 for the deterministic ucb1 and linucb) */
  p?: number;
}

const ENCODER = new TextEncoder();
const STATE_MAGIC = 0x42444e31; // "BDN1"
/** bandit i's ids start 2^40 above bandit i-1's */
export const ID_STRIDE = 2 ** 40;

export class Bandit {
  readonly def: BanditDef;
  readonly policy: Policy;
  /** arm name per slot (undefined: free) and by name */
  readonly arms: (string | undefined)[];
  readonly #slotOf = new Map<string, number>();
  /** arms retired by name (kept in snapshots: a config arm retired at run time stays retired after a restart) */
  readonly #retiredNames = new Set<string>();
  /** per slot: bumps when the slot gets a new arm, so a reward of the old arm's decision is refused */
  readonly #gen: Float64Array;
  readonly counts = { decisions: 0, added: 0, retired: 0 };
  readonly rewards: Record<RewardOutcome, number> = { applied: 0, unknown: 0, expired: 0, duplicate: 0, invalid: 0, retired: 0 };
  // The pending ring: decision id (negated once rewarded), wall time, slot, the slot's
  // generation, and the context it was chosen on.
  readonly #cap: number;
  readonly #pid: Float64Array;
  readonly #ptime: Float64Array;
  readonly #parm: Int32Array;
  readonly #pgen: Float64Array;
  readonly #pctx: Float64Array;
  #firstId: number;
  #nextId: number;
  /** after a restore: ids from the snapshot's counter to this run's first id were never given in the restored history (lost with a crash) */
  #lostFrom = 0;
  #lostTo = 0;
  // The context: the gather, its id and field buffers, and the row it writes.
  readonly #gather: Gather | null;
  #ids = new Uint8Array(256);
  readonly #refs: Uint32Array;
  readonly #fields: Float32Array;
  readonly #row: Float32Array;
  readonly #x: Float64Array | null;
  /** the context of the decision being rewarded (a copy out of the ring, no view allocated) */
  readonly #rx: Float64Array | null;
  readonly #scale: number;
  readonly #lo: number;

  /** store: where the context features are read (needed for a context with features) */
  constructor(def: BanditDef, store: FeatureStore | null, opts: { index?: number; nowWallMs?: number } = {}) {
    this.def = def;
    const seed = def.seed >= 0 ? def.seed : Math.floor(Math.random() * 2 ** 32);
    this.policy = makePolicy(
      {
        kind: def.policy, capacity: def.maxArms, dim: def.dim, seed, epsilon: def.epsilon, alpha: def.alpha, v: def.v, lambda: def.lambda,
        priorAlpha: def.prior.alpha, priorBeta: def.prior.beta, priorMean: def.prior.mean, priorKappa: def.prior.kappa,
      },
      def.arms.length,
    );
    this.arms = new Array(def.maxArms).fill(undefined);
    def.arms.forEach((a, i) => {
      this.arms[i] = a;
      this.#slotOf.set(a, i);
    });
    this.#gen = new Float64Array(def.maxArms);
    const [lo, hi] = def.rewardRange;
    const unit = def.policy === 'epsilon_greedy' || def.policy === 'ucb1' || def.policy === 'thompson';
    this.#lo = unit ? lo : 0;
    this.#scale = unit ? 1 / (hi - lo) : 1;
    this.#cap = def.pending;
    this.#pid = new Float64Array(this.#cap);
    this.#ptime = new Float64Array(this.#cap);
    this.#parm = new Int32Array(this.#cap);
    this.#pgen = new Float64Array(this.#cap);
    this.#pctx = new Float64Array(this.#cap * def.dim);
    this.#firstId = this.#nextId = Math.floor((opts.nowWallMs ?? Date.now()) * 1000) + (opts.index ?? 0) * ID_STRIDE;
    const c = def.context;
    const needsStore = c !== null && c.keys.length > 0;
    if (needsStore && !store) throw new Error(`bandit ${def.name}: its context reads features and no store was given`);
    this.#gather = c && store ? new Gather(store.id, gatherSpec({ inputs: c.inputs, keys: c.keys, fields: c.fields }, store)!) : null;
    this.#refs = new Uint32Array(Math.max(1, c?.keys.length ?? 0) * 2);
    this.#fields = new Float32Array(Math.max(1, c?.fields.length ?? 0));
    this.#row = new Float32Array(c?.inputs.length ?? 0);
    this.#x = def.dim > 0 ? new Float64Array(def.dim) : null;
    this.#rx = def.dim > 0 ? new Float64Array(def.dim) : null;
  }

  get name(): string {
    return this.def.name;
  }

  /** Decisions in the ring waiting for their reward (past their horizon too, until a reward or a newer decision finds them). */
  get pending(): number {
    let n = 0;
    for (let i = 0; i < this.#cap; i++) if (this.#pid[i] > 0) n++;
    return n;
  }

  /** Picks an arm for a request and keeps the decision for its reward. Throws HP_ERR_BANDIT_REQUEST_INVALID for a context it lacks. */
  choose(ctx: ChooseContext = {}, nowWall: number = Date.now()): Decision {
    if (this.#x) this.#context(ctx);
    if (this.policy.nLive === 0) throw new HotpathError('HP_ERR_BANDIT_ARMS_LIMIT', `bandit ${this.name} has no arm in play`);
    const slot = this.policy.choose(this.#x);
    const id = this.#nextId++;
    const at = this.#slot(id);
    this.#pid[at] = id;
    this.#ptime[at] = nowWall;
    this.#parm[at] = slot;
    this.#pgen[at] = this.#gen[slot];
    if (this.#x) this.#pctx.set(this.#x, at * this.def.dim);
    this.counts.decisions++;
    const p = this.policy.lastP;
    return p === p ? { decisionId: id, arm: this.arms[slot]!, p } : { decisionId: id, arm: this.arms[slot]! };
  }

  /** Whether decision `id` is this bandit's and still in its ring (rewarded or not). */
  knows(id: number): boolean {
    if (!Number.isSafeInteger(id) || id <= 0) return false;
    const p = this.#pid[this.#slot(id)];
    return p === id || p === -id;
  }

  /** The reward of decision `id` (at: the reward's time, epoch ms); its outcome, counted. Never throws. */
  rewardOutcome(id: number, value: number, at: number): RewardOutcome {
    if (!Number.isSafeInteger(id) || id <= 0) return this.#count('unknown');
    const slot = this.#slot(id);
    const pid = this.#pid[slot];
    if (pid === -id) return this.#count('duplicate');
    if (pid !== id) return this.#count(id < this.#nextId && id >= this.#firstId - ID_STRIDE / 2 && !(id >= this.#lostFrom && id < this.#lostTo) ? 'expired' : 'unknown');
    if (!this.#inRange(value)) return this.#count('invalid');
    if (at - this.#ptime[slot] > this.def.horizonMs) {
      this.#pid[slot] = -id;
      return this.#count('expired');
    }
    const arm = this.#parm[slot];
    this.#pid[slot] = -id;
    if (this.#pgen[slot] !== this.#gen[arm] || !this.policy.alive[arm]) return this.#count('retired');
    let x: Float64Array | null = null;
    if (this.#rx) {
      x = this.#rx;
      for (let j = 0, at = slot * this.def.dim; j < x.length; j++) x[j] = this.#pctx[at + j];
    }
    this.policy.update(arm, (value - this.#lo) * this.#scale, x);
    return this.#count('applied');
  }

  /** The reward of decision `id`; throws the outcome's HotpathError unless it was applied. */
  reward(id: unknown, value: unknown, at: number = Date.now()): void {
    if (typeof id !== 'number') throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', `decision_id must be the integer choose answered with, not ${showValue(id)?.slice(0, 64)}`);
    if (typeof value !== 'number' || !this.#inRange(value)) {
      this.#count('invalid');
      throw new HotpathError('HP_ERR_BANDIT_REWARD_INVALID', `bandit ${this.name}: the reward must be a finite number in [${this.def.rewardRange.join(', ')}], not ${showValue(value)?.slice(0, 64)}`);
    }
    const o = this.rewardOutcome(id, value, at);
    if (o === 'applied') return;
    const [code, why] = OUTCOME_ERRORS[o as keyof typeof OUTCOME_ERRORS];
    throw new HotpathError(code, `bandit ${this.name}, decision ${id}: ${why}`);
  }

  /**
   * id mod pending for an id below 2^53: V8 computes % of a double through fmod (tens of
   * ns); a floor division corrected by one step is exact (q * cap is) and a few ns.
   */
  #slot(id: number): number {
    const cap = this.#cap;
    let r = id - Math.floor(id / cap) * cap;
    if (r < 0) r += cap;
    else if (r >= cap) r -= cap;
    return r;
  }

  #inRange(v: number): boolean {
    return Number.isFinite(v) && v >= this.def.rewardRange[0] && v <= this.def.rewardRange[1];
  }

  #count(o: RewardOutcome): RewardOutcome {
    this.rewards[o]++;
    return o;
  }

  /** Puts a new arm in play in a free slot, from the prior. */
  addArm(name: string): void {
    this.changeArms([name], []);
  }

  /** Takes an arm out of play; rewards of its pending decisions are refused (retired). */
  retireArm(name: string): void {
    this.changeArms([], [name]);
  }

  #add(name: string): void {
    this.#retiredNames.delete(name);
    const slot = this.arms.indexOf(undefined);
    this.arms[slot] = name;
    this.#slotOf.set(name, slot);
    this.#gen[slot]++;
    this.policy.open(slot);
    this.counts.added++;
  }

  #retire(slot: number): void {
    this.#retiredNames.add(this.arms[slot]!);
    this.#slotOf.delete(this.arms[slot]!);
    this.policy.close(slot);
    this.arms[slot] = undefined;
    this.counts.retired++;
  }

  /**
   * Adds and retires arms together, or none of them: every name is checked first
   * (HP_ERR_BANDIT_REQUEST_INVALID, _ARM_EXISTS, _ARM_UNKNOWN, _ARMS_LIMIT).
   */
  changeArms(add: readonly string[], retire: readonly string[]): void {
    const bad = [...add, ...retire].find((a) => typeof a !== 'string' || !ARM_NAME_RE.test(a));
    if (bad !== undefined) throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', `${showValue(bad)?.slice(0, 80)} is not an arm name (1-64 letters, digits, _ . : -)`);
    if (new Set(add).size !== add.length || new Set(retire).size !== retire.length) throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', 'an arm is named twice');
    for (const a of add) if (this.#slotOf.has(a) && !retire.includes(a)) throw new HotpathError('HP_ERR_BANDIT_ARM_EXISTS', `bandit ${this.name} already has an arm '${a}'`);
    for (const a of retire) if (!this.#slotOf.has(a)) throw new HotpathError('HP_ERR_BANDIT_ARM_UNKNOWN', `bandit ${this.name} has no arm '${a}'; arms: ${this.liveArms().join(', ')}`);
    const live = this.policy.nLive - retire.length + add.length;
    if (live < 1) throw new HotpathError('HP_ERR_BANDIT_ARMS_LIMIT', `bandit ${this.name} would have no arm in play`);
    const free = this.arms.filter((a) => a === undefined).length + retire.length;
    if (add.length > free) throw new HotpathError('HP_ERR_BANDIT_ARMS_LIMIT', `bandit ${this.name} has room for ${free} more arms (max_arms ${this.def.maxArms})`);
    for (const a of retire) this.#retire(this.#slotOf.get(a)!);
    for (const a of add) this.#add(a);
  }

  liveArms(): string[] {
    return Array.from(this.policy.live.subarray(0, this.policy.nLive)).sort((a, b) => a - b).map((s) => this.arms[s]!);
  }

  /** Per live arm: pulls (rewards learned) and the mean reward in the reward's own units. */
  armStats(): { arm: string; pulls: number; mean_reward: number | null }[] {
    const p = this.policy;
    return this.liveArms().map((arm) => {
      const s = this.#slotOf.get(arm)!;
      const m = p.mean(s);
      return { arm, pulls: p.pulls[s], mean_reward: Number.isFinite(m) ? m / this.#scale + this.#lo : null };
    });
  }

  /** The context row for the policy: gathered features and fields, then the intercept. */
  #context(ctx: ChooseContext): void {
    const c = this.def.context!;
    if (typeof ctx !== 'object' || ctx === null) throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', 'the choose request must be an object {"entities": {...}, "fields": {...}}');
    const ents = ctx.entities ?? (ctx.entity !== undefined && c.keys.length === 1 ? { [c.keys[0].entity]: ctx.entity } : {});
    const flds = ctx.fields ?? {};
    if (typeof ents !== 'object' || ents === null || Array.isArray(ents)) throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', '`entities` must be an object of entity -> id');
    if (typeof flds !== 'object' || flds === null || Array.isArray(flds)) throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', '`fields` must be an object of field -> number');
    let at = 0;
    for (let k = 0; k < c.keys.length; k++) {
      const v = ents[c.keys[k].entity];
      const id = typeof v === 'string' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : undefined;
      if (id === undefined) throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', `bandit ${this.name} needs entities.${c.keys[k].entity}: a string id or an integer`);
      const n = Buffer.byteLength(id);
      if (n === 0 || n > 256) throw new HotpathError('HP_ERR_ID_INVALID', `entities.${c.keys[k].entity}: an entity id must be 1..256 UTF-8 bytes`);
      if (this.#ids.length < at + n) {
        const grown = new Uint8Array((at + n) * 2);
        grown.set(this.#ids.subarray(0, at));
        this.#ids = grown;
      }
      ENCODER.encodeInto(id, this.#ids.subarray(at));
      this.#refs[k * 2] = at;
      this.#refs[k * 2 + 1] = n;
      at += n;
    }
    for (let f = 0; f < c.fields.length; f++) {
      const v = flds[c.fields[f]];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new HotpathError('HP_ERR_BANDIT_REQUEST_INVALID', `bandit ${this.name} needs fields.${c.fields[f]}: a finite number`);
      this.#fields[f] = v;
    }
    const x = this.#x!;
    if (this.#gather) {
      this.#gather.run(this.#ids, this.#refs, this.#fields, 1, nowMs(), this.#row);
      for (let j = 0; j < this.#row.length; j++) x[j] = this.#row[j];
    } else {
      // no store (a context of request fields only, outside a server): the gather's columns by hand
      for (let j = 0; j < c.inputs.length; j++) {
        const v = this.#fields[c.inputs[j].index];
        x[j] = c.inputs[j].transform === 'log1p' ? Math.log1p(Math.max(v, 0)) : v;
      }
    }
    if (this.def.intercept) x[this.def.dim - 1] = 1;
  }

  /** The snapshot part: the policy's arrays, its generator, the arms, the pending ring and the counters. */
  serialize(): Uint8Array {
    const arrays = [...this.policy.arrays(), this.#gen, this.#pid, this.#ptime, this.#pgen, this.#pctx];
    const ints = [this.#parm];
    const head = Buffer.from(JSON.stringify({
      policy: this.def.policy, capacity: this.def.maxArms, dim: this.def.dim, learned: this.#learned(), cap: this.#cap, arms: this.arms.map((a) => a ?? null),
      rng: this.policy.rng.state(), nextId: this.#nextId, counts: this.counts, rewards: this.rewards, retired: [...this.#retiredNames],
      sizes: [...arrays, ...ints].map((a) => a.byteLength),
    }));
    const bodyAt = (8 + head.length + 7) & ~7;
    const total = [...arrays, ...ints].reduce((n, a) => n + ((a.byteLength + 7) & ~7), bodyAt);
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, STATE_MAGIC, true);
    dv.setUint32(4, head.length, true);
    out.set(head, 8);
    let at = bodyAt;
    for (const a of [...arrays, ...ints]) {
      out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
      at += (a.byteLength + 7) & ~7;
    }
    return out;
  }

  /** Restores serialize()'s bytes; a part made for another policy, arm capacity or context is refused whole. */
  /** What the learned state means: the reward range its rewards were scaled by, the context's inputs in order. */
  #learned(): string {
    const d = this.def;
    return JSON.stringify({ reward_range: d.rewardRange.map((v) => (Number.isFinite(v) ? v : String(v))), context: d.context?.inputs.map((i) => `${i.name}:${i.transform}:${i.fill}`) ?? null, intercept: d.intercept });
  }

  restore(bytes: Uint8Array): void {
    const fail = (why: string): never => {
      throw new HotpathError('HP_ERR_STATE_LAYOUT', `bandit ${this.name}: ${why}`);
    };
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 8 || dv.getUint32(0, true) !== STATE_MAGIC) throw new HotpathError('HP_ERR_STATE_CORRUPT', `bandit ${this.name}: the snapshot part is not a bandit state`);
    const headLen = dv.getUint32(4, true);
    const head = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headLen)).toString('utf8')) as {
      policy: string; capacity: number; dim: number; learned?: string; cap: number; arms: (string | null)[]; rng: number[]; nextId: number;
      counts: Bandit['counts']; rewards: Bandit['rewards']; retired?: string[]; sizes: number[];
    };
    if (head.policy !== this.def.policy) fail(`the snapshot's policy is ${head.policy}, the config's ${this.def.policy}`);
    if (head.capacity !== this.def.maxArms) fail(`the snapshot has ${head.capacity} arm slots (max_arms), the config ${this.def.maxArms}`);
    if (head.dim !== this.def.dim) fail(`the snapshot's context has ${head.dim} values, the config's ${this.def.dim}`);
    if (head.learned !== undefined && head.learned !== this.#learned())
      fail(`the snapshot learned from another reward range or context (${head.learned}; the config: ${this.#learned()})`);
    // The policy's arrays and the generations must fit; the pending ring carries over when it
    // has the same size (else rewards of decisions made before the restart count as expired).
    const fixed = [...this.policy.arrays(), this.#gen];
    const ring = [this.#pid, this.#ptime, this.#pgen, this.#pctx, this.#parm];
    const sizes = head.sizes;
    if (!Array.isArray(sizes) || sizes.length !== fixed.length + ring.length) fail('the snapshot part has another set of arrays');
    const keepRing = head.cap === this.#cap;
    // Read every array aside first: a part that does not check out leaves the bandit as it was.
    let at = (8 + headLen + 7) & ~7;
    const copies: [Float64Array | Uint8Array | Int32Array, Uint8Array][] = [];
    for (let i = 0; i < sizes.length; i++) {
      const target = i < fixed.length ? fixed[i] : keepRing ? ring[i - fixed.length] : null;
      if (target && sizes[i] !== target.byteLength) fail('the snapshot part has arrays of other sizes');
      if (at + sizes[i] > bytes.length) throw new HotpathError('HP_ERR_STATE_CORRUPT', `bandit ${this.name}: the snapshot part is cut short`);
      if (target) copies.push([target, bytes.slice(at, at + sizes[i])]);
      at += (sizes[i] + 7) & ~7;
    }
    for (const [a, b] of copies) new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(b);
    this.policy.rebuild();
    this.policy.rng.restore(head.rng);
    this.#slotOf.clear();
    head.arms.forEach((a, s) => {
      this.arms[s] = a ?? undefined;
      if (a !== null) this.#slotOf.set(a, s);
    });
    Object.assign(this.counts, head.counts);
    Object.assign(this.rewards, head.rewards);
    if (this.#nextId > head.nextId) {
      this.#lostFrom = head.nextId;
      this.#lostTo = this.#nextId;
    }
    this.#nextId = Math.max(this.#nextId, head.nextId);
    this.#firstId = Math.min(this.#firstId, head.nextId - Math.min(head.cap, this.#cap));
    if (!keepRing) this.#pid.fill(0);
    // The snapshot's arms stand (the admin route's changes persist); an arm the config has
    // added since, and that was not retired at run time, joins from the prior.
    this.#retiredNames.clear();
    for (const a of head.retired ?? []) this.#retiredNames.add(a);
    for (const a of this.def.arms) if (!this.#slotOf.has(a) && !this.#retiredNames.has(a) && this.arms.includes(undefined)) this.#add(a);
  }
}
