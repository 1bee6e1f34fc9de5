// Types that moved out of the old `Models` class, re-exported for call sites not yet moved
// to registry.ts (ModelRegistry, ModelEntry) and inference.ts (InferenceService and its
// types). Delete this file once nothing imports it.
export type { Answer, FailReason, InferenceObserver, InferResult, ParsedPredict } from './inference.js';
export type { LoadedVersion, ModelEntry } from './registry.js';
