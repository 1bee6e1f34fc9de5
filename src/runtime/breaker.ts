// A circuit breaker per model. Closed: requests pass, and outcomes are counted in a rolling
// window of 10 buckets. It opens when the window holds at least minRequests outcomes and
// the share of failures (errors, deadlines, crashes, or answers slower than latencyMs)
// reaches errorRate; a request shed for load never reached the model and is no outcome. Open: requests go straight to the fallback for openForMs. Then
// half-open: up to halfOpenProbes requests pass; if all of them succeed it closes, and any
// failure opens it again.
import type { BreakerDef } from '../config/load.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

const BUCKETS = 10;

export class Breaker {
  readonly #def: BreakerDef;
  #state: BreakerState = 'closed';
  #openedAt = 0;
  #probesSent = 0;
  #probesOk = 0;
  readonly #total = new Float64Array(BUCKETS);
  readonly #bad = new Float64Array(BUCKETS);
  #bucketAt = 0; // start time of the current bucket
  #bucket = 0;
  transitions = 0;
  /** bumped on every state change: outcomes of requests let through before it are ignored */
  generation = 0;

  constructor(def: BreakerDef) {
    this.#def = def;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /**
   * Open, and still within open_for at `now`: requests go to the fallback. Past open_for the
   * next request moves it to half-open (allow()), so it no longer counts as open here, even
   * before a request comes: readiness (health.ts) must not keep away the traffic whose
   * probes would close it.
   */
  isOpen(now: number): boolean {
    return this.#state === 'open' && now - this.#openedAt < this.#def.openForMs;
  }

  /** Whether a request may go to the model now (else: the fallback). */
  allow(now: number): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (now - this.#openedAt < this.#def.openForMs) return false;
      this.#to('half_open');
      this.#probesSent = 0;
      this.#probesOk = 0;
    }
    if (this.#probesSent >= this.#def.halfOpenProbes) return false;
    this.#probesSent++;
    return true;
  }

  /**
   * Records the outcome of a request that allow() let through; `generation` is the value
   * it had then. A request let in before the last state change (e.g. while closed, ending
   * after the breaker opened) says nothing about the probes, and is ignored.
   */
  record(now: number, ok: boolean, latencyMs: number, generation = this.generation): void {
    if (generation !== this.generation) return;
    const good = ok && latencyMs <= this.#def.latencyMs;
    if (this.#state === 'half_open') {
      if (!good) this.#open(now);
      else if (++this.#probesOk >= this.#def.halfOpenProbes) {
        this.#to('closed');
        this.#total.fill(0);
        this.#bad.fill(0);
      }
      return;
    }
    if (this.#state === 'open') return; // a straggler from before it opened
    this.#advance(now);
    this.#total[this.#bucket]++;
    if (!good) this.#bad[this.#bucket]++;
    let total = 0;
    let bad = 0;
    for (let i = 0; i < BUCKETS; i++) {
      total += this.#total[i];
      bad += this.#bad[i];
    }
    if (total >= this.#def.minRequests && bad / total >= this.#def.errorRate) this.#open(now);
  }

  /**
   * A request allow() let through that never reached the model (shed for load): it says
   * nothing about the model. A probe gives its place back, so that a shed probe cannot
   * leave the breaker half-open with no outcome to come.
   */
  skip(generation = this.generation): void {
    if (generation === this.generation && this.#state === 'half_open' && this.#probesSent > 0) this.#probesSent--;
  }

  #open(now: number): void {
    this.#to('open');
    this.#openedAt = now;
  }

  #to(s: BreakerState): void {
    if (this.#state !== s) {
      this.transitions++;
      this.generation++;
    }
    this.#state = s;
  }

  /** Moves the window forward to now, clearing buckets that fell out of it. */
  #advance(now: number): void {
    const width = this.#def.windowMs / BUCKETS;
    if (this.#bucketAt === 0) this.#bucketAt = now;
    let steps = Math.floor((now - this.#bucketAt) / width);
    if (steps <= 0) return;
    this.#bucketAt += steps * width;
    if (steps > BUCKETS) steps = BUCKETS;
    for (let i = 0; i < steps; i++) {
      this.#bucket = (this.#bucket + 1) % BUCKETS;
      this.#total[this.#bucket] = 0;
      this.#bad[this.#bucket] = 0;
    }
  }
}
