// Prometheus metrics of the experiments, read at scrape time (scrape-metrics.ts): exposures,
// per-variant metric means and p-values, serves and serve failures, the share, the SRM
// p-value, and decisions by kind. A scrape evaluates the tests (a look, which always-valid
// p-values allow) but takes no decision.
import type client from 'prom-client';

import { DECISION_KINDS, type VariantResult } from '../experiments/experiment.js';
import type { Experiments } from '../experiments/experiments.js';
import { scraped } from './scrape-metrics.js';

export function registerExperimentMetrics(registry: client.Registry, experiments: Experiments): void {
  const xs = [...experiments.byName.values()];
  // one evaluation per experiment per scrape, shared by the gauges below
  let at = -1;
  let results = new Map<string, VariantResult[]>();
  const evaluated = (): Map<string, VariantResult[]> => {
    const now = experiments.now();
    if (now !== at) {
      at = now;
      results = new Map(xs.map((x) => [x.def.name, x.evaluate(now, false)]));
    }
    return results;
  };
  const perVariant = (value: (r: VariantResult) => number | null | undefined) => () =>
    xs.flatMap((x) => (evaluated().get(x.def.name) ?? []).map((r) => [{ experiment: x.def.name, variant: r.variant }, value(r) ?? NaN] as const));
  scraped(registry, 'counter', 'hotpath_experiment_exposures_total', 'Units exposed to a variant (first exposure of each unit, counted units only)', ['experiment', 'variant'],
    () => xs.flatMap((x) => x.def.variants.map((v, i) => [{ experiment: x.def.name, variant: v.name }, x.variants[i].exposures] as const)));
  scraped(registry, 'counter', 'hotpath_experiment_serves_total', 'Requests served through a variant\'s target (counted units)', ['experiment', 'variant'],
    () => xs.flatMap((x) => x.def.variants.map((v, i) => [{ experiment: x.def.name, variant: v.name }, x.variants[i].requests] as const)));
  scraped(registry, 'counter', 'hotpath_experiment_serve_failures_total', 'Serves through a variant\'s target that failed or fell back (the guardrails\' error rate)', ['experiment', 'variant'],
    () => xs.flatMap((x) => x.def.variants.map((v, i) => [{ experiment: x.def.name, variant: v.name }, x.variants[i].errors] as const)));
  scraped(registry, 'gauge', 'hotpath_experiment_metric_mean', 'A variant\'s metric: conversion rate (conversion metrics) or mean value per event (mean metrics)', ['experiment', 'variant'], perVariant((r) => r.mean));
  scraped(registry, 'gauge', 'hotpath_experiment_p_value', 'A variant\'s p-value against control: msprt and cs always valid (running minimum), z fixed-horizon (valid at one planned look only)', ['experiment', 'variant', 'test'],
    () => xs.flatMap((x) => (evaluated().get(x.def.name) ?? []).flatMap((r) => r.vs_control
      ? ([['msprt', r.vs_control.msprt.p], ['cs', r.vs_control.cs.p], ['z', r.vs_control.z.p]] as const).map(([test, p]) => [{ experiment: x.def.name, variant: r.variant, test }, p] as const)
      : [])));
  scraped(registry, 'gauge', 'hotpath_experiment_share', 'The share of (non-holdout) units in the experiment (its ramp)', ['experiment'], () => xs.map((x) => [{ experiment: x.def.name }, x.share] as const));
  scraped(registry, 'gauge', 'hotpath_experiment_running', '1 while the experiment runs, 0 once stopped', ['experiment'], () => xs.map((x) => [{ experiment: x.def.name }, x.status === 'running' ? 1 : 0] as const));
  scraped(registry, 'gauge', 'hotpath_experiment_srm_p_value', 'The sample-ratio-mismatch chi-square p-value of the exposures against the split', ['experiment'], () => xs.map((x) => [{ experiment: x.def.name }, x.srm().p] as const));
  scraped(registry, 'counter', 'hotpath_experiment_decisions_total', 'Decisions an experiment took, by kind (ramp, winner, rollback, srm, stop, resume)', ['experiment', 'kind'],
    () => xs.flatMap((x) => DECISION_KINDS.map((k) => [{ experiment: x.def.name, kind: k }, x.decisionCounts[k]] as const)));
}
