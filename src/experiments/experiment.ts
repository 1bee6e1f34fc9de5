// One experiment's live state: where units go (assignment.ts), what each variant has seen
// (exposures, the metric's sufficient statistics, the serve path's errors and latencies),
// the tests (stats.ts), and the decisions it takes by itself: advance the ramp, stop for a
// winner, roll a variant back on a guardrail breach, flag a sample-ratio mismatch. Every
// decision is kept (the last DECISIONS_KEPT), counted by kind and reported to `onDecision`.
//
// Memory is fixed per experiment: two unit sets (exposed, converted) sized by max_units,
// and per variant a ring of the last GUARD_WINDOW serve outcomes.
import type { ExperimentDef } from '../config/load.js';
import { Splitter, UnitSet } from './assignment.js';
import { csHalfWidth, csP, csRho, difference, type Moments, msprtLambda, msprtP, msprtTau2, srm, variance, zTest } from './stats.js';

export const DECISION_KINDS = ['ramp', 'winner', 'rollback', 'srm', 'stop', 'resume'] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

export interface Decision {
  seq: number;
  /** ms since the epoch */
  at: number;
  kind: DecisionKind;
  variant?: string;
  /** a ramp's new share */
  share?: number;
  by: 'auto' | 'admin';
  reason: string;
}

/** Where a unit goes: the variant it is served, and whether it counts in the experiment. */
export interface Placement {
  variant: number;
  counted: boolean;
  /** why it is served control (or the winner) without counting */
  reason: 'holdout' | 'not_ramped' | 'rolled_back' | 'stopped' | null;
  /** the unit's salted key (counted placements): what expose() adds to the exposed set */
  keyLo: number;
  keyHi: number;
}

export const DECISIONS_KEPT = 1000;
/** serve outcomes per variant the guardrails look at */
export const GUARD_WINDOW = 512;
/** the guardrails are checked every this many serves of a variant */
const GUARD_EVERY = 16;

class VariantState {
  exposures = 0;
  /** mean metric: per event; conversion: sum = converted units (n = exposures at evaluation) */
  moments: Moments = { n: 0, sum: 0, sumSq: 0 };
  /** running minimum of the always-valid p-values (mSPRT, confidence sequence) */
  pMsprt = 1;
  pCs = 1;
  /** the sign of the difference (variant − control) when each running minimum was set: what the test found */
  signMsprt = 0;
  signCs = 0;
  requests = 0;
  errors = 0;
  /** serves in the window (the rings start empty at a restore: the counters above do not) */
  windowed = 0;
  latencyMs = new Float64Array(GUARD_WINDOW);
  failed = new Uint8Array(GUARD_WINDOW);
  rolledBack = false;
}

export interface VariantResult {
  variant: string;
  exposures: number;
  n: number;
  mean: number | null;
  /** against control; null for control itself or before two samples per arm */
  vs_control: {
    diff: number;
    se: number;
    msprt: { p: number; p_now: number; lambda: number; tau2: number };
    cs: { p: number; p_now: number; ci: [number, number]; rho: number };
    z: { z: number; p: number; ci: [number, number] };
    significant: boolean;
  } | null;
  guardrails: { requests: number; errors: number; window_error_rate: number | null; window_latency_p95_ms: number | null };
  rolled_back: boolean;
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

export class Experiment {
  readonly def: ExperimentDef;
  readonly split: Splitter;
  readonly variants: VariantState[];
  exposed: UnitSet;
  converted: UnitSet | null;
  status: 'running' | 'stopped' = 'running';
  /** after a stop: the variant everyone is served (null: control) */
  winner: number | null = null;
  stage = 0;
  stageStartedAt: number;
  /** an admin's share, which replaces the schedule (null: the schedule's) */
  manualShare: number | null = null;
  srmFlagged = false;
  /** a resume by hand holds the automatic stop for a winner */
  autoStopHeld = false;
  decisions: Decision[] = [];
  decisionCounts: Record<DecisionKind, number> = { ramp: 0, winner: 0, rollback: 0, srm: 0, stop: 0, resume: 0 };
  /** events of the metric stream attributed to an exposed unit, and those that were not */
  events = { attributed: 0, unexposed: 0 };
  #seq = 0;
  onDecision: (x: Experiment, d: Decision) => void = () => {};
  readonly #scratch = new Float64Array(GUARD_WINDOW);

  constructor(def: ExperimentDef, now: number) {
    this.def = def;
    this.split = new Splitter(def.salt, def.holdout, def.variants.map((v) => v.weight));
    this.variants = def.variants.map(() => new VariantState());
    this.exposed = new UnitSet(def.maxUnits);
    this.converted = def.metric?.kind === 'conversion' ? new UnitSet(def.maxUnits) : null;
    this.stageStartedAt = now;
  }

  get share(): number {
    return this.manualShare ?? this.def.ramp[this.stage].share;
  }

  get exposures(): number {
    return this.variants.reduce((s, v) => s + v.exposures, 0);
  }

  /**
   * Where the unit whose store hash is (lo, hi) goes now, without counting it (serve counts
   * the exposure once the target took the request: expose()).
   */
  place(lo: number, hi: number, now: number): Placement {
    this.advanceRamp(now);
    const control = this.def.control;
    if (this.status === 'stopped') return { variant: this.winner ?? control, counted: false, reason: 'stopped', keyLo: 0, keyHi: 0 };
    const b = this.split;
    b.buckets(lo, hi);
    if (b.held(b.entry)) return { variant: control, counted: false, reason: 'holdout', keyLo: 0, keyHi: 0 };
    if (!b.admitted(b.entry, this.share)) return { variant: control, counted: false, reason: 'not_ramped', keyLo: 0, keyHi: 0 };
    const v = b.variantOf(b.variant);
    if (this.variants[v].rolledBack) return { variant: control, counted: false, reason: 'rolled_back', keyLo: 0, keyHi: 0 };
    return { variant: v, counted: true, reason: null, keyLo: b.keyLo, keyHi: b.keyHi };
  }

  /** Counts a counted placement's exposure (once per unit). */
  expose(p: Placement): void {
    if (p.counted && this.status === 'running' && this.exposed.add(p.keyLo, p.keyHi)) this.variants[p.variant].exposures++;
  }

  /** place() and expose(): the assign route. */
  assign(lo: number, hi: number, now: number): Placement {
    const p = this.place(lo, hi, now);
    this.expose(p);
    return p;
  }

  /** assign() of a hash as (lo, hi) words (unitHash's answer). */
  assignHash(h: Uint32Array, now: number): Placement {
    return this.assign(h[0], h[1], now);
  }

  /** The metric stream's events: each unit's hash as (lo, hi) words, and its value (NaN: none). */
  observe(units: Uint32Array, values: ArrayLike<number>, n: number): void {
    if (this.status === 'stopped' || !this.def.metric) return;
    const conversion = this.def.metric.kind === 'conversion';
    const b = this.split;
    for (let i = 0; i < n; i++) {
      b.buckets(units[2 * i], units[2 * i + 1]);
      if (!this.exposed.has(b.keyLo, b.keyHi)) {
        this.events.unexposed++;
        continue;
      }
      this.events.attributed++;
      const v = this.variants[b.variantOf(b.variant)];
      const x = values[i];
      if (conversion) {
        // a conversion: an event of the stream (with a field: whose value is above 0), once per unit
        if ((Number.isNaN(x) || x > 0) && this.converted!.add(b.keyLo, b.keyHi)) v.moments.sum++;
      } else if (Number.isFinite(x)) {
        v.moments.n++;
        v.moments.sum += x;
        v.moments.sumSq += x * x;
      }
    }
  }

  /** A serve through variant v's target: its latency and whether it failed (an error or a fallback). */
  served(v: number, latencyMs: number, failed: boolean, now: number): void {
    const s = this.variants[v];
    const at = s.requests % GUARD_WINDOW;
    s.requests++;
    if (s.windowed < GUARD_WINDOW) s.windowed++;
    if (failed) s.errors++;
    s.latencyMs[at] = latencyMs;
    s.failed[at] = failed ? 1 : 0;
    const g = this.def.guardrails;
    if (!g || v === this.def.control || s.rolledBack || this.status === 'stopped') return;
    if (s.windowed < Math.min(g.minRequests, GUARD_WINDOW) || s.requests % GUARD_EVERY !== 0) return;
    const w = this.#window(s);
    if (g.maxErrorRate !== null && w.errorRate > g.maxErrorRate)
      this.#rollback(v, now, `error rate ${w.errorRate.toFixed(4)} over the last ${w.count} serves is above guardrails.max_error_rate ${g.maxErrorRate}`);
    else if (g.maxLatencyMs !== null && w.p95 > g.maxLatencyMs)
      this.#rollback(v, now, `p95 latency ${w.p95.toFixed(3)} ms over the last ${w.count} serves is above guardrails.max_latency ${g.maxLatencyMs} ms`);
  }

  #window(s: VariantState): { count: number; errorRate: number; p95: number } {
    // the last `windowed` serves: the slots before requests % GUARD_WINDOW, wrapping
    const count = s.windowed;
    if (count === 0) return { count, errorRate: NaN, p95: NaN };
    const end = s.requests % GUARD_WINDOW;
    let failed = 0;
    const lat = this.#scratch.subarray(0, count);
    for (let i = 0; i < count; i++) {
      const slot = (end - 1 - i + GUARD_WINDOW) % GUARD_WINDOW;
      failed += s.failed[slot];
      lat[i] = s.latencyMs[slot];
    }
    lat.sort();
    return { count, errorRate: failed / count, p95: lat[Math.min(count - 1, Math.floor(0.95 * count))] };
  }

  #rollback(v: number, now: number, reason: string): void {
    this.variants[v].rolledBack = true;
    this.decide({ kind: 'rollback', variant: this.def.variants[v].name, by: 'auto', reason: `${reason}: its units get control (${this.def.variants[this.def.control].name})` }, now);
  }

  /** Moves the schedule on when its next step is due (time since the last step, exposures). */
  advanceRamp(now: number): void {
    if (this.manualShare !== null || this.status === 'stopped') return;
    const ramp = this.def.ramp;
    while (this.stage + 1 < ramp.length) {
      const next = ramp[this.stage + 1];
      if (now - this.stageStartedAt < next.afterMs || this.exposures < next.minExposures) return;
      this.stage++;
      this.stageStartedAt = now;
      this.decide({ kind: 'ramp', share: next.share, by: 'auto', reason: `ramp step ${this.stage}: ${next.afterMs} ms after the last step and ${this.exposures} exposures (step needs ${next.minExposures})` }, now);
    }
  }

  /** The moments the tests read for variant v. */
  moments(v: number): Moments {
    const s = this.variants[v];
    if (this.def.metric?.kind === 'conversion') return { n: s.exposures, sum: s.moments.sum, sumSq: s.moments.sum };
    return s.moments;
  }

  /**
   * The tests per variant against control; updates the running p-values (every look is
   * one an always-valid p-value allows) and, with `decide`, takes the automatic decisions
   * (a metrics scrape looks without deciding).
   */
  evaluate(now: number, decide = true): VariantResult[] {
    const def = this.def;
    const t = def.test;
    const k = def.variants.length;
    // Bonferroni across the k − 1 comparisons with control
    const alpha = t.alpha / Math.max(1, k - 1);
    const c = this.moments(def.control);
    const out: VariantResult[] = [];
    let best: { v: number; gain: number } | null = null;
    for (let v = 0; v < k; v++) {
      const s = this.variants[v];
      const m = this.moments(v);
      const w = this.#window(s);
      const r: VariantResult = {
        variant: def.variants[v].name,
        exposures: s.exposures,
        n: m.n,
        mean: m.n > 0 ? m.sum / m.n : null,
        vs_control: null,
        guardrails: { requests: s.requests, errors: s.errors, window_error_rate: finite(w.errorRate), window_latency_p95_ms: finite(w.p95) },
        rolled_back: s.rolledBack,
      };
      out.push(r);
      if (v === def.control || !def.metric || c.n < 2 || m.n < 2) continue;
      const d = difference(c, m);
      const se2 = d.se * d.se;
      if (!(se2 > 0)) continue;
      const sigma = t.sigma ?? Math.sqrt((variance(c) + variance(m)) / 2);
      const tau2 = msprtTau2(alpha, sigma, t.truncation);
      const lambda = msprtLambda(d.diff, se2, tau2);
      const pNow = msprtP(lambda);
      const rho = csRho(alpha, t.tuning);
      const half = csHalfWidth(se2, d.n, rho, alpha);
      const csNow = csP(d.diff, se2, d.n, rho);
      if (this.status === 'running') {
        if (pNow < s.pMsprt) [s.pMsprt, s.signMsprt] = [pNow, Math.sign(d.diff)];
        if (csNow < s.pCs) [s.pCs, s.signCs] = [csNow, Math.sign(d.diff)];
      }
      const p = t.method === 'msprt' ? s.pMsprt : s.pCs;
      const found = t.method === 'msprt' ? s.signMsprt : s.signCs;
      const enough = c.n >= t.minSamples && m.n >= t.minSamples;
      const significant = enough && p < alpha;
      r.vs_control = {
        diff: d.diff,
        se: d.se,
        msprt: { p: s.pMsprt, p_now: pNow, lambda, tau2 },
        cs: { p: s.pCs, p_now: csNow, ci: [d.diff - half, d.diff + half], rho },
        z: zTest(d, alpha),
        significant,
      };
      // a winner is better now and was better when its test became significant (a running
      // minimum set by a worse variant does not crown it once the difference drifts up)
      const up = t.direction === 'increase' ? 1 : -1;
      const gain = up * d.diff;
      if (significant && gain > 0 && up * found > 0 && !s.rolledBack && (!best || gain > best.gain)) best = { v, gain };
    }
    if (this.status === 'running' && decide) {
      this.#checkSrm(now);
      if (def.autoStop && !this.autoStopHeld && best) {
        const name = def.variants[best.v].name;
        this.status = 'stopped';
        this.winner = best.v;
        this.decide({ kind: 'winner', variant: name, by: 'auto', reason: `${t.method} always-valid p-value ${(t.method === 'msprt' ? this.variants[best.v].pMsprt : this.variants[best.v].pCs).toExponential(3)} < α ${alpha} (Bonferroni over ${k - 1}) with at least ${t.minSamples} samples per arm; ${name} is served to every unit from now on` }, now);
      }
    }
    return out;
  }

  /** The SRM check of the exposures against the split (variants rolled back are left out). */
  srm(): { chi2: number; p: number; df: number; flagged: boolean } {
    const live = this.variants.map((s) => !s.rolledBack);
    const total = this.def.variants.reduce((a, v, i) => a + (live[i] ? v.weight : 0), 0);
    const r = srm(this.variants.map((s) => s.exposures), this.def.variants.map((v, i) => (live[i] && total > 0 ? v.weight / total : 0)));
    return { ...r, flagged: this.srmFlagged };
  }

  #checkSrm(now: number): void {
    if (this.srmFlagged || this.exposures < this.def.test.minSamples) return;
    const r = this.srm();
    if (r.p < this.def.test.srmAlpha) {
      this.srmFlagged = true;
      this.decide({ kind: 'srm', by: 'auto', reason: `sample ratio mismatch: exposures ${this.variants.map((s) => s.exposures).join('/')} against weights ${this.def.variants.map((v) => v.weight).join('/')}, chi-square ${r.chi2.toFixed(2)} (df ${r.df}), p ${r.p.toExponential(3)} < ${this.def.test.srmAlpha}: the assignment or the exposure logging is biased; results are suspect` }, now);
    }
  }

  /** Stops by hand: every unit is then served `winner` (default control). */
  stop(now: number, winner: number | null, reason: string): void {
    this.status = 'stopped';
    this.winner = winner;
    this.decide({ kind: 'stop', variant: winner === null ? undefined : this.def.variants[winner].name, by: 'admin', reason }, now);
  }

  /**
   * Resumes by hand. Automatic stops for a winner are then held (the running p-values would
   * stop it again at its next look: the operator chose to keep measuring); guardrails and
   * the SRM check still act, and a stop by hand still works.
   */
  resume(now: number, reason: string): void {
    this.status = 'running';
    this.winner = null;
    this.autoStopHeld = true;
    this.decide({ kind: 'resume', by: 'admin', reason }, now);
  }

  /** Sets the share by hand (the schedule is then left alone), or hands it back to the schedule (null). */
  ramp(now: number, share: number | null): void {
    this.manualShare = share;
    if (share === null) this.stageStartedAt = now;
    this.decide({ kind: 'ramp', share: this.share, by: 'admin', reason: share === null ? `back to the schedule at step ${this.stage}` : `share set to ${share} by hand` }, now);
  }

  decide(d: Omit<Decision, 'seq' | 'at'>, now: number): Decision {
    const full: Decision = { seq: ++this.#seq, at: now, ...d };
    this.decisions.push(full);
    if (this.decisions.length > DECISIONS_KEPT) this.decisions.splice(0, this.decisions.length - DECISIONS_KEPT);
    this.decisionCounts[d.kind]++;
    this.onDecision(this, full);
    return full;
  }

  /** The state a snapshot keeps (the unit sets travel beside it as bytes). */
  state(): Record<string, unknown> {
    return {
      status: this.status,
      winner: this.winner,
      stage: this.stage,
      stageStartedAt: this.stageStartedAt,
      manualShare: this.manualShare,
      srmFlagged: this.srmFlagged,
      autoStopHeld: this.autoStopHeld,
      seq: this.#seq,
      decisions: this.decisions,
      decisionCounts: this.decisionCounts,
      events: this.events,
      variants: this.def.variants.map((vd, i) => {
        const s = this.variants[i];
        return { name: vd.name, exposures: s.exposures, moments: s.moments, pMsprt: s.pMsprt, pCs: s.pCs, signMsprt: s.signMsprt, signCs: s.signCs, requests: s.requests, errors: s.errors, rolledBack: s.rolledBack };
      }),
      measure: this.#measure(),
      weights: this.def.variants.map((v) => v.weight),
      salt: this.def.salt,
      holdout: this.def.holdout,
      maxUnits: this.def.maxUnits,
    };
  }

  /** What the statistics measure: a state taken under another metric, control or test keeps its exposures only. */
  #measure(): string {
    const { metric, control, test: t } = this.def;
    // what the moments and the running p-values depend on (not min_samples or srm_alpha, which only gate decisions)
    const test = { alpha: t.alpha, method: t.method, direction: t.direction, sigma: t.sigma, truncation: t.truncation, tuning: t.tuning };
    return JSON.stringify({ metric: metric ? { stream: metric.stream.name, unit: metric.unit, kind: metric.kind, field: metric.field } : null, control, test });
  }

  /**
   * Restores a snapshot's state. A state taken under another split (salt, holdout, weights,
   * variants or unit-set size) would attribute units to the wrong variants: it is refused
   * (the caller logs and starts the experiment afresh). One taken under another metric,
   * control or test keeps its exposures, guardrail counters and decisions, and starts the
   * statistics afresh: false is returned then, for the caller to log.
   */
  restore(st: Record<string, unknown>, exposed: Uint32Array, converted: Uint32Array | null): boolean {
    const vs = st.variants as { name: string; exposures: number; moments: Moments; pMsprt: number; pCs: number; signMsprt?: number; signCs?: number; requests: number; errors: number; rolledBack: boolean }[];
    const same =
      st.salt === this.def.salt && st.holdout === this.def.holdout && st.maxUnits === this.def.maxUnits &&
      JSON.stringify(st.weights) === JSON.stringify(this.def.variants.map((v) => v.weight)) &&
      vs.length === this.def.variants.length && vs.every((v, i) => v.name === this.def.variants[i].name);
    if (!same) throw new Error(`experiment ${this.def.name}: the snapshot was taken under another split (salt, holdout, variants or weights changed)`);
    this.status = st.status as 'running' | 'stopped';
    this.winner = st.winner as number | null;
    this.stage = Math.min(st.stage as number, this.def.ramp.length - 1);
    this.stageStartedAt = st.stageStartedAt as number;
    this.manualShare = st.manualShare as number | null;
    this.srmFlagged = st.srmFlagged as boolean;
    this.autoStopHeld = st.autoStopHeld === true;
    this.#seq = st.seq as number;
    this.decisions = st.decisions as Decision[];
    this.decisionCounts = { ...this.decisionCounts, ...(st.decisionCounts as Record<DecisionKind, number>) };
    this.events = st.events as { attributed: number; unexposed: number };
    // another metric, control or test: the exposures stand, the statistics start afresh
    const measured = st.measure === this.#measure();
    vs.forEach((v, i) => {
      const s = this.variants[i];
      s.exposures = v.exposures;
      s.requests = v.requests;
      s.errors = v.errors;
      s.rolledBack = v.rolledBack;
      if (!measured) return;
      s.moments = { ...v.moments };
      s.pMsprt = v.pMsprt;
      s.pCs = v.pCs;
      s.signMsprt = v.signMsprt ?? 0;
      s.signCs = v.signCs ?? 0;
    });
    this.exposed = new UnitSet(this.def.maxUnits, exposed);
    if (this.converted) this.converted = new UnitSet(this.def.maxUnits, measured ? (converted ?? undefined) : undefined);
    return measured;
  }
}
