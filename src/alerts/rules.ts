// One alert rule's state machine, per entity (or one for the rule): ok → firing when
// for_count consecutive observations are past the threshold and the cooldown since the last
// firing has passed; firing → ok (resolved) when a value is back at or past the clear level.
// docs/alerts.md describes the model.
//
// Cost on the ingest path: an observation of an entity the rule does not track and whose
// value is not past the threshold touches nothing and allocates nothing (a Map lookup). A
// state is made when an entity first crosses the threshold and forgotten when it is ok
// again, not counting, and out of its cooldown; so the map holds only entities that are
// firing, counting towards for_count, or cooling down. It is bounded (alerts.max_entities):
// a new entity past the bound evicts the oldest tracked one that is not firing (counted);
// when every tracked entity is firing, the new one is not tracked (counted too), so a
// firing alert always gets its `resolved`.
import type { AlertRuleDef } from '../config/load.js';

export interface EntityState {
  firing: boolean;
  /** consecutive observations past the threshold while not firing */
  count: number;
  /** when this rule last fired (or raised an event) for the entity; -Infinity: never */
  lastFired: number;
}

/** What an observation did: nothing, or the transition to emit. */
export const Transition = { None: 0, Fired: 1, Resolved: 2 } as const;
export type Transition = (typeof Transition)[keyof typeof Transition];

/** The key of the single state of a rule that is not per entity, and of per-entity observations that name none. */
const NO_ENTITY = '';

export class RuleTracker {
  readonly def: AlertRuleDef;
  readonly #max: number;
  readonly #states = new Map<string, EntityState>();
  #firing = 0;
  /** the state an observe() or event() last touched: the emitter reads it */
  last: EntityState | undefined;
  /** entities forgotten to make room (alerts.max_entities) */
  evicted = 0;
  /** observations of new entities not tracked because every tracked one was firing */
  untracked = 0;
  /** firings (and events) held back by the cooldown */
  suppressed = 0;

  constructor(def: AlertRuleDef, maxEntities: number) {
    this.def = def;
    this.#max = def.perEntity ? maxEntities : 1;
  }

  /** Entities with a state (firing, counting, or cooling down). */
  get tracked(): number {
    return this.#states.size;
  }

  /** Entities (or the rule, when not per entity) firing now. */
  get firing(): number {
    return this.#firing;
  }

  /** The state of `entity` (the rule's, when not per entity), or undefined when it is ok and forgotten. */
  state(entity: string | undefined): EntityState | undefined {
    return this.#states.get(this.#key(entity));
  }

  #key(entity: string | undefined): string {
    return this.def.perEntity && entity !== undefined ? entity : NO_ENTITY;
  }

  /** Evaluates one observation at `now` (ms). Sets `last` when it returns a transition. */
  observe(value: number, entity: string | undefined, now: number): Transition {
    const d = this.def;
    if (d.direction === 'event' || value !== value) return Transition.None; // event rules and NaN: nothing to compare
    const key = this.#key(entity);
    let s = this.#states.get(key);
    const past = d.direction === 'above' ? value > d.threshold : value < d.threshold;
    if (s === undefined) {
      if (!past) return Transition.None; // ok and untracked: the common case, no allocation
      s = this.#track(key);
      if (s === undefined) return Transition.None;
    }
    if (s.firing) {
      const cleared = d.direction === 'above' ? value <= d.clear : value >= d.clear;
      if (!cleared) return Transition.None;
      s.firing = false;
      s.count = 0;
      this.#firing--;
      this.last = s;
      this.#forget(key, s, now);
      return Transition.Resolved;
    }
    if (!past) {
      s.count = 0;
      this.#forget(key, s, now);
      return Transition.None;
    }
    if (s.count < d.forCount) s.count++;
    if (s.count < d.forCount) return Transition.None;
    if (now - s.lastFired < d.cooldownMs) {
      // Held back: the count stays at for_count, so the first observation past the
      // threshold after the cooldown fires.
      this.suppressed++;
      return Transition.None;
    }
    s.firing = true;
    s.count = 0;
    s.lastFired = now;
    this.#firing++;
    this.last = s;
    return Transition.Fired;
  }

  /**
   * A raised event for `entity` at `now`: true when it may be emitted (the cooldown since
   * this rule last fired for the entity has passed), and then it counts as a firing.
   */
  event(entity: string | undefined, now: number): boolean {
    const key = this.#key(entity);
    const s = this.#states.get(key);
    if (s !== undefined && now - s.lastFired < this.def.cooldownMs) {
      this.suppressed++;
      return false;
    }
    if (this.def.cooldownMs === 0) return true; // nothing to remember
    const t = s ?? this.#track(key);
    if (t !== undefined) {
      t.lastFired = now;
      this.last = t;
    }
    return true;
  }

  /** Forgets an ok state that remembers nothing more: not counting, out of its cooldown. */
  #forget(key: string, s: EntityState, now: number): void {
    if (s.count === 0 && now - s.lastFired >= this.def.cooldownMs) this.#states.delete(key);
  }

  /** A new state for `key`, making room if the map is full; undefined when it cannot. */
  #track(key: string): EntityState | undefined {
    const states = this.#states;
    if (states.size >= this.#max) {
      if (this.#firing >= states.size) {
        this.untracked++;
        return undefined;
      }
      // Oldest first (insertion order). A firing state met on the way moves to the back,
      // so later scans do not walk over it again: amortised O(1) per eviction.
      for (const [k, s] of states) {
        states.delete(k);
        if (!s.firing) break;
        states.set(k, s);
      }
      this.evicted++;
    }
    const s: EntityState = { firing: false, count: 0, lastFired: -Infinity };
    states.set(key, s);
    return s;
  }
}
