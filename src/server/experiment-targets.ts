// The targets experiment variants serve through (src/experiments/targets.ts), built here
// because they wrap the server's pipelines: a model through PredictPipeline (request, then
// submit: the one place a request meets inference, with its deadline, breaker and
// fallback). A recommender or bandit adapter is one more case in `targetFactory` that
// returns an ExperimentTarget over its route's handler.
import type { ExperimentDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import type { ExperimentTarget, TargetFactory } from '../experiments/targets.js';
import { nowMs } from '../runtime/records.js';
import { type PredictPipeline, predictText } from './predict.js';

/** A model as an experiment target: the serve body is a predict body ({entities, fields}). */
export function modelTarget(pipeline: PredictPipeline, name: string): ExperimentTarget {
  return {
    kind: 'model',
    name,
    serve(body, _unit, done) {
      const start = nowMs();
      const r = pipeline.request(name, body);
      pipeline.submit(r, (err, out) => (err ? done(err) : done(null, predictText(out!, start), out!.fallback)));
    },
  };
}

/** The factory app.ts hands the experiments: the kinds this server has adapters for. */
export function targetFactory(pipeline: PredictPipeline): TargetFactory {
  return (kind, name) => (kind === 'model' ? modelTarget(pipeline, name) : undefined);
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
