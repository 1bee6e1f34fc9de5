// What an experiment's variant serves: a model (through the predict pipeline), a
// recommender or a bandit. src/experiments knows only this interface; the adapters live
// where their pipelines are (src/server/experiment-targets.ts builds the model one), and a
// new kind is one function there that returns an ExperimentTarget.
import type { HotpathError } from '../errors.js';
import type { TargetKind } from '../config/load.js';

/**
 * The answer of a target: its JSON text, an object (`{...}`: the serve route adds the
 * experiment's fields to it). `degraded`: the target answered but not as itself (a model's
 * fallback): the guardrails count it as an error.
 */
export type TargetDone = (err: HotpathError | null, answerJson?: string, degraded?: boolean) => void;

export interface ExperimentTarget {
  readonly kind: TargetKind;
  readonly name: string;
  /**
   * Serves one request: `body` is the serve request's JSON (the target's own request, with
   * the unit beside it), `unit` the unit id the experiment assigned. `done` runs once, with
   * the target's answer as JSON text, or its error; a target may throw a HotpathError for a
   * request it refuses before doing any work (a bad body). The answer is JSON text so that a
   * target with a fast writer (predict's) keeps it.
   */
  serve(body: Record<string, unknown>, unit: string, done: TargetDone): void;
}

/** Builds the target a variant names (undefined: no adapter for that kind in this server). */
export type TargetFactory = (kind: TargetKind, name: string) => ExperimentTarget | undefined;
