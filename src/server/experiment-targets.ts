// The targets experiment variants serve through (src/experiments/targets.ts), built here
// because they wrap the server's pipelines: a model through PredictPipeline (request, then
// submit: the one place a request meets inference, with its deadline, breaker and
// fallback); a recommender through its route's parser and one native call; a bandit's
// choose. Each adapter takes the serve body less `unit`, the target's own request.
import type { ExperimentDef } from '../config/load.js';
import { HotpathError, toHotpathError } from '../errors.js';
import type { ExperimentTarget, TargetFactory } from '../experiments/targets.js';
import type { Bandits } from '../bandits/bandits.js';
import type { Recommending } from '../recommend/recommending.js';
import { nowMs } from '../runtime/records.js';
import { type PredictPipeline, predictText } from './predict.js';
import { chooseText } from './routes/bandits.js';
import { parseRecommend, recommendText } from './routes/recommend.js';

/** A model as an experiment target: the serve body is a predict body ({entities, fields}). */
export function modelTarget(pipeline: PredictPipeline, name: string): ExperimentTarget {
  return {
    kind: 'model',
    name,
    serve(body, _unit, done) {
      const start = nowMs();
      const r = pipeline.request(name, body);
      // the model's own routing variant (primary, a canary) is `model_variant` here: `variant` is the experiment's
      pipeline.submit(r, (err, out) => (err ? done(err) : done(null, predictText(out!, start, 'model_variant'), out!.fallback)));
    },
  };
}

/** The serve body without the experiment's `unit`: the target's own request. */
function ownRequest(body: Record<string, unknown>): Record<string, unknown> {
  const { unit: _unit, ...rest } = body;
  return rest;
}

/**
 * A recommender as an experiment target: the serve body is a recommend body, whose `user`
 * defaults to the unit. The answer is the recommend route's.
 */
export function recommenderTarget(recommending: Recommending, name: string): ExperimentTarget | undefined {
  const r = recommending.get(name);
  if (!r) return undefined;
  return {
    kind: 'recommender',
    name,
    serve(body, unit, done) {
      const own = ownRequest(body);
      if (own.user === undefined) own.user = unit;
      const req = parseRecommend(r, own, Date.now());
      r.recommendAsync(req, (err, out) => (err ? done(toHotpathError(err)) : done(null, recommendText(r, req, out!))));
    },
  };
}

/**
 * A bandit as an experiment target: the serve body is a choose body ({entities, fields}
 * for a contextual bandit); the answer is the choose route's, with the decision id the
 * caller rewards through POST /v1/bandits/{name}/reward or a reward event.
 */
export function banditTarget(bandits: Bandits, name: string): ExperimentTarget | undefined {
  const b = bandits.all.get(name);
  if (!b) return undefined;
  return {
    kind: 'bandit',
    name,
    serve(body, _unit, done) {
      done(null, chooseText(b, b.choose(ownRequest(body))));
    },
  };
}

/** What the factory can build targets over. */
export interface TargetSources {
  predict: PredictPipeline;
  recommending: Recommending;
  bandits: Bandits;
}

/** The factory app.ts hands the experiments: the kinds this server has adapters for. */
export function targetFactory(s: TargetSources): TargetFactory {
  return (kind, name) => {
    switch (kind) {
      case 'model':
        return modelTarget(s.predict, name);
      case 'recommender':
        return recommenderTarget(s.recommending, name);
      case 'bandit':
        return banditTarget(s.bandits, name);
      default:
        return undefined;
    }
  };
}

/** Each experiment's targets, by variant; a variant whose kind has no adapter is a config error. */
export function buildTargets(defs: readonly ExperimentDef[], factory: TargetFactory): Map<string, ExperimentTarget[]> {
  const out = new Map<string, ExperimentTarget[]>();
  for (const d of defs)
    out.set(
      d.name,
      d.variants.map((v) => {
        const t = factory(v.target.kind, v.target.name);
        if (!t) {
          const path = `/experiments/${d.name}/variants/${v.name}/${v.target.kind}`;
          throw new HotpathError('HP_ERR_CONFIG_INVALID', `${path}: this server has no ${v.target.kind} adapter for experiments`, { path });
        }
        return t;
      }),
    );
  return out;
}
