// A/B experiments (docs/experiments.md): assign a unit to a variant, serve a request
// through the variant's target (a model, a recommender, a bandit), read each experiment's
// per-variant statistics, tests and decisions, and stop, resume or ramp it by hand.
import type { ExperimentDef } from '../../config/load.js';
import { HotpathError, showValue } from '../../errors.js';
import { unitHash } from '../../experiments/assignment.js';
import type { Experiment, Placement } from '../../experiments/experiment.js';
import { nowMs } from '../../runtime/records.js';
import { parseJsonBody } from '../http.js';
import type { ServerContext } from './context.js';
import type { Route } from './route.js';

const invalid = (why: string) => new HotpathError('HP_ERR_EXPERIMENT_INVALID', why);

function object(raw: unknown, what: string): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(`${what}: the body must be a JSON object`);
  return raw as Record<string, unknown>;
}

/** The unit id of an assign or serve body: a string (or an integer, as its decimal string) of 1..limits.id_bytes UTF-8 bytes. */
function unitOf(b: Record<string, unknown>, maxBytes: number): string {
  const u = b.unit;
  const id = typeof u === 'string' ? u : typeof u === 'number' && Number.isSafeInteger(u) ? String(u) : undefined;
  if (id === undefined) throw invalid('`unit` is required: the id of the unit (user, session, ...) to assign, a string or an integer');
  const n = Buffer.byteLength(id);
  if (n === 0 || n > maxBytes) throw invalid(`\`unit\` must be 1..${maxBytes} UTF-8 bytes`);
  return id;
}

function placementJson(x: Experiment, p: Placement): Record<string, unknown> {
  const v = x.def.variants[p.variant];
  return { experiment: x.def.name, variant: v.name, target: v.target, in_experiment: p.counted, ...(p.reason ? { reason: p.reason } : {}) };
}

/** placementJson's text without its braces, made once per (experiment, variant, reason): the serve path appends it to the target's answer. */
const placementTexts = new WeakMap<Experiment, Map<string, string>>();
function placementText(x: Experiment, p: Placement): string {
  let byKey = placementTexts.get(x);
  if (!byKey) placementTexts.set(x, (byKey = new Map()));
  const key = `${p.variant}:${p.reason}`;
  let t = byKey.get(key);
  if (t === undefined) byKey.set(key, (t = JSON.stringify(placementJson(x, p)).slice(1, -1)));
  return t;
}

/** A target's answer (a JSON object's text) with the placement's fields added. */
function withPlacement(answer: string, where: string): string {
  const end = answer.lastIndexOf('}');
  if (!answer.startsWith('{') || end < 0) throw new Error('a target answered with something other than a JSON object');
  return `${answer.slice(0, end)}${end > 1 ? ',' : ''}${where}}`;
}

function defJson(d: ExperimentDef): Record<string, unknown> {
  return {
    salt: d.salt,
    holdout: d.holdout,
    control: d.variants[d.control].name,
    variants: d.variants.map((v) => ({ name: v.name, weight: v.weight, target: v.target })),
    metric: d.metric ? { stream: d.metric.stream.name, unit: d.metric.unit, kind: d.metric.kind, field: d.metric.field < 0 ? null : d.metric.stream.fields[d.metric.field].name } : null,
    test: d.test,
    auto_stop: d.autoStop,
    ramp: d.ramp,
    guardrails: d.guardrails,
    max_units: d.maxUnits,
  };
}

/** An experiment's state, statistics, tests and decisions (GET). */
export function experimentJson(x: Experiment, now: number): Record<string, unknown> {
  x.advanceRamp(now);
  const variants = x.evaluate(now);
  return {
    experiment: x.def.name,
    status: x.status,
    winner: x.winner === null ? null : x.def.variants[x.winner].name,
    share: x.share,
    ramp_stage: x.stage,
    ramp_manual: x.manualShare !== null,
    exposures: x.exposures,
    events: x.events,
    srm: x.srm(),
    variants,
    decisions: x.decisions,
    decision_counts: x.decisionCounts,
    config: defJson(x.def),
  };
}

function variantIndex(x: Experiment, name: unknown): number {
  const i = x.def.variants.findIndex((v) => v.name === name);
  if (i < 0) throw invalid(`experiment ${x.def.name} has no variant ${showValue(name)} (variants: ${x.def.variants.map((v) => v.name).join(', ')})`);
  return i;
}

export const experimentRoutes: Route[] = [
  {
    method: 'post',
    path: '/v1/experiments/:name/assign',
    scope: 'experiments:{name}',
    body: 'bytes',
    about: 'assign a unit to a variant (sticky; counts its exposure): {"unit"} -> {experiment, variant, target, in_experiment}',
    handle(c, ctx) {
      const x = ctx.experiments.get(c.params[0]);
      const unit = unitOf(object(parseJsonBody(c.body), 'assign'), ctx.config.limits.idBytes);
      c.send(200, `{${placementText(x, x.assignHash(unitHash(unit), ctx.clock.now))}}`);
    },
  },
  {
    method: 'post',
    path: '/v1/experiments/:name/serve',
    scope: 'experiments:{name}',
    body: 'bytes',
    timed: true,
    about: 'assign a unit and serve the request through its variant\'s target: {"unit", ...the target\'s request} -> the target\'s answer + {experiment, variant}',
    handle(c, ctx) {
      const x = ctx.experiments.get(c.params[0]);
      const body = object(parseJsonBody(c.body), 'serve');
      const unit = unitOf(body, ctx.config.limits.idBytes);
      const h = unitHash(unit);
      // the coarse clock: Date.now() costs more than the place itself
      const p = x.place(h[0], h[1], ctx.clock.now);
      const target = ctx.experimentTargets.get(x.def.name)![p.variant];
      let answered = false;
      const done = (err: HotpathError | null, answer?: string, degraded = false) => {
        if (answered) return;
        answered = true;
        // the guardrails watch the experiment's own traffic: counted units only
        if (p.counted) x.served(p.variant, nowMs() - c.start, err !== null || degraded, ctx.clock.now);
        if (err) c.fail(err);
        else c.send(200, withPlacement(answer ?? '{}', placementText(x, p)));
      };
      try {
        target.serve(body, unit, done);
      } catch (err) {
        // a target that refuses the request before any work (a bad body): neither an
        // exposure nor the variant's failure
        answered = true;
        throw err;
      }
      x.expose(p);
    },
  },
  {
    method: 'get',
    path: '/v1/experiments',
    scope: 'metrics:read',
    body: 'none',
    about: 'every experiment: status, ramp, exposures, per-variant statistics and tests, SRM, decisions',
    handle(c, ctx) {
      const now = ctx.experiments.now();
      c.send(200, JSON.stringify({ experiments: [...ctx.experiments.byName.values()].map((x) => experimentJson(x, now)) }));
    },
  },
  {
    method: 'get',
    path: '/v1/experiments/:name',
    scope: 'metrics:read',
    body: 'none',
    about: 'one experiment: status, ramp, exposures, per-variant statistics and tests (mSPRT, confidence sequence, z), SRM, decisions',
    handle(c, ctx) {
      c.send(200, JSON.stringify(experimentJson(ctx.experiments.get(c.params[0]), ctx.experiments.now())));
    },
  },
  {
    method: 'post',
    path: '/v1/experiments/:name/stop',
    scope: 'admin',
    body: 'bytes',
    about: 'stop an experiment: {"winner"?: variant, "reason"?}; every unit is then served the winner (default control)',
    handle(c, ctx) {
      const x = ctx.experiments.get(c.params[0]);
      const b = c.body.length ? object(parseJsonBody(c.body), 'stop') : {};
      if (x.status === 'stopped') throw new HotpathError('HP_ERR_EXPERIMENT_STOPPED', `experiment ${x.def.name} is already stopped`);
      const winner = b.winner === undefined || b.winner === null ? null : variantIndex(x, b.winner);
      x.stop(ctx.experiments.now(), winner, typeof b.reason === 'string' ? b.reason.slice(0, 500) : 'stopped by hand');
      c.send(200, JSON.stringify(experimentJson(x, ctx.experiments.now())));
    },
  },
  {
    method: 'post',
    path: '/v1/experiments/:name/resume',
    scope: 'admin',
    body: 'bytes',
    about: 'resume a stopped experiment (its statistics carry on from where they stopped)',
    handle(c, ctx) {
      const x = ctx.experiments.get(c.params[0]);
      const b = c.body.length ? object(parseJsonBody(c.body), 'resume') : {};
      if (x.status === 'running') throw new HotpathError('HP_ERR_EXPERIMENT_STOPPED', `experiment ${x.def.name} is running`);
      x.resume(ctx.experiments.now(), typeof b.reason === 'string' ? b.reason.slice(0, 500) : 'resumed by hand');
      c.send(200, JSON.stringify(experimentJson(x, ctx.experiments.now())));
    },
  },
  {
    method: 'post',
    path: '/v1/experiments/:name/ramp',
    scope: 'admin',
    body: 'bytes',
    about: 'set the share of units in the experiment by hand: {"share": 0..1}, or {"share": null} to follow the schedule again',
    handle(c, ctx) {
      const x = ctx.experiments.get(c.params[0]);
      const b = object(parseJsonBody(c.body), 'ramp');
      const s = b.share;
      if (s !== null && (typeof s !== 'number' || !(s >= 0 && s <= 1))) throw invalid('`share` must be a number from 0 to 1, or null (back to the schedule)');
      x.ramp(ctx.experiments.now(), s as number | null);
      c.send(200, JSON.stringify(experimentJson(x, ctx.experiments.now())));
    },
  },
];
