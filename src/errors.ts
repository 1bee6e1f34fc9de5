// Every error hotpath reports, defined once: a stable code, its HTTP status and what it
// means. docs/errors.md documents each code (test/unit/errors.test.ts checks that).
// Callers match on `code`, never on message text.

export const ERRORS = {
  HP_ERR_BAD_JSON: { status: 400, about: 'The request body is not valid JSON (or NDJSON).' },
  HP_ERR_BODY_EMPTY: { status: 400, about: 'The request needs a body and it was empty.' },
  HP_ERR_BODY_TOO_LARGE: { status: 413, about: 'The request body is larger than server.max_body_bytes.' },
  HP_ERR_BATCH_EMPTY: { status: 400, about: 'A batch (events or ids) had no elements.' },
  HP_ERR_BATCH_TOO_LARGE: { status: 413, about: 'A batch has more elements than server.max_batch, or a tensor request does not fit a worker ring.' },
  HP_ERR_EVENT_INVALID: { status: 400, about: 'An event is not an object, lacks a key or field, or a value has the wrong type. Nothing in the batch was applied.' },
  HP_ERR_EVENT_TIMESTAMP: { status: 400, about: 'An event timestamp is not a time, is negative, or is further in the future than store.max_future. Nothing in the batch was applied.' },
  HP_ERR_STREAM_UNKNOWN: { status: 400, about: 'An event names a stream the config does not declare, or names none while several exist.' },
  HP_ERR_ENTITY_UNKNOWN: { status: 404, about: 'The entity type is not declared in the config.' },
  HP_ERR_FEATURE_UNKNOWN: { status: 400, about: 'A requested feature name is not declared for the entity.' },
  HP_ERR_ID_INVALID: { status: 400, about: 'An entity id is empty, not a string or integer, or longer than 256 UTF-8 bytes (limits.id_bytes in requests that read).' },
  HP_ERR_FEATURES_TOO_MANY: { status: 400, about: 'A request names more features than limits.features_per_request.' },
  HP_ERR_QUERY_INVALID: { status: 400, about: 'A query parameter or request field has the wrong form (e.g. `at` is not a time, `since` is not an alert id).' },
  HP_ERR_ROUTE_NOT_FOUND: { status: 404, about: 'No route matches the method and path.' },
  HP_ERR_NOT_READY: { status: 503, about: 'The server is starting or shutting down, a model is not ready, or every circuit breaker is open.' },
  HP_ERR_CONFIG_INVALID: { status: 400, about: 'The config file is missing, not YAML, or fails validation; the message names the field.' },
  HP_ERR_MODEL_NAME_INVALID: { status: 400, about: 'A model name in the path is not a name (letters, digits and _, not starting with a digit): it holds a separator, a dot or an escape.' },
  HP_ERR_MODEL_UNKNOWN: { status: 404, about: 'The model (or the model version) is not in the registry.' },
  HP_ERR_MODEL_NOT_LEARNER: { status: 409, about: 'The model is served from a repository, not an online learner: it has no labels, metrics, reset or export.' },
  HP_ERR_MODEL_NOT_READY: { status: 503, about: 'The model is loading, reloading after a worker restart, or failed to load.' },
  HP_ERR_MODEL_LOAD_FAILED: { status: 400, about: 'A model version could not be loaded (missing file, not ONNX, inputs that do not match the config); the previous version keeps serving.' },
  HP_ERR_PREDICT_INVALID: { status: 400, about: 'A predict request lacks an entity id or request field the model needs, or a value has the wrong type.' },
  HP_ERR_TENSOR_INVALID: { status: 400, about: 'An inference tensor has the wrong name, datatype, shape or data length for the model.' },
  HP_ERR_OVERLOADED: { status: 503, about: 'The request was shed: the worker rings and the wait queue are full, or the queue delay is over server.queue_delay_budget. Retry after the Retry-After header.' },
  HP_ERR_DEADLINE: { status: 504, about: 'The request passed its deadline (the model timeout) before it ran, and the model has no fallback.' },
  HP_ERR_CIRCUIT_OPEN: { status: 503, about: 'The model circuit breaker is open after errors or slow answers, and the model has no fallback.' },
  HP_ERR_WORKER_CRASHED: { status: 503, about: 'The inference worker running the request died; it is restarted, and the model has no fallback.' },
  HP_ERR_INFERENCE_FAILED: { status: 500, about: 'The model raised an error while running the batch, and the model has no fallback.' },
  HP_ERR_FAULT_INJECTION_OFF: { status: 404, about: 'POST /v1/debug/fault was called while server.fault_injection is off.' },
  HP_ERR_WAL_UNAVAILABLE: { status: 503, about: 'The write-ahead log cannot take events (the disk under durability.data_dir is full or failing): the batch was refused before it was applied and nothing in it is acknowledged. Reads keep serving. Retry after the Retry-After header.' },
  HP_ERR_SHARED_LOG_FULL: { status: 503, about: 'The shared ingest log (ingest.redis_streams) is refusing events: Redis has not taken the batches already waiting in the backlog and on_backlog_full is refuse. Nothing in the batch was applied. Retry after the Retry-After header.' },
  HP_ERR_SNAPSHOT_IN_PROGRESS: { status: 409, about: 'A snapshot is being written; a second one is refused until it is done.' },
  HP_ERR_SNAPSHOT_FAILED: { status: 500, about: 'A snapshot could not be written (the message says why, e.g. the disk is full); the previous snapshots and the log are kept, so nothing is lost.' },
  HP_ERR_DURABILITY_OFF: { status: 409, about: 'The server runs without a data directory (durability.data_dir or --data-dir): there is nothing to snapshot.' },
  HP_ERR_STATE_LAYOUT: { status: 409, about: 'At start: the snapshot or log in the data directory was made with another feature layout (the message names the first difference by its config path). Start with --discard-state to begin empty.' },
  HP_ERR_STATE_CORRUPT: { status: 500, about: 'At start: no snapshot in the data directory checks out and the log does not reach back far enough to rebuild the state. Start with --discard-state to begin empty.' },
  HP_ERR_WS_FRAME_INVALID: { status: 400, about: 'A WebSocket frame is not valid JSON or binary protocol, or lacks its id or op.' },
  HP_ERR_AUTH_REQUIRED: { status: 401, about: 'The route needs a credential and the request carried none.' },
  HP_ERR_AUTH_INVALID: { status: 401, about: 'The credential is not a known API key, or the token is malformed, has no exp, or its signature, algorithm, issuer, audience or not-before time is wrong.' },
  HP_ERR_AUTH_EXPIRED: { status: 401, about: 'The token has expired (its exp is past, beyond auth.jwt.clock_skew).' },
  HP_ERR_AUTH_FORBIDDEN: { status: 403, about: 'The credential is valid but lacks the scope the route or WebSocket frame needs.' },
  HP_ERR_RATE_LIMITED: { status: 429, about: 'Too many requests of a route class from this credential or client address (limits.rate), or too many frames on one WebSocket. Retry after the Retry-After header.' },
  HP_ERR_CONNECTIONS_LIMITED: { status: 429, about: 'The client address already holds limits.ws_connections_per_address WebSocket connections.' },
  // Embedding index (src/native/embedding.ts, docs/embeddings.md)
  HP_ERR_EMBEDDING_FILE: { status: 400, about: 'An item embedding file could not be loaded: missing, not a 2-D little-endian float32 C-order .npy, truncated, or with a NaN or infinite value; the message names the file and the problem.' },
  HP_ERR_BANDIT_UNKNOWN: { status: 404, about: 'The bandit is not declared under bandits: in the config.' },
  HP_ERR_BANDIT_REQUEST_INVALID: { status: 400, about: 'A bandit request is malformed: a choose lacks an entity id or request field its context needs, or a reward or arms request lacks its fields or has the wrong types.' },
  HP_ERR_BANDIT_DECISION_UNKNOWN: { status: 404, about: 'No decision of this bandit has that decision_id.' },
  HP_ERR_BANDIT_DECISION_EXPIRED: { status: 410, about: 'The decision is older than the bandit\'s horizon, or was overwritten in its ring of pending decisions: its reward is not learned.' },
  HP_ERR_BANDIT_REWARD_DUPLICATE: { status: 409, about: 'The decision already had its reward (or was refused as expired); a decision is rewarded once.' },
  HP_ERR_BANDIT_REWARD_INVALID: { status: 400, about: 'The reward is not a finite number inside the bandit\'s reward range ([0, 1] for epsilon_greedy, ucb1 and thompson unless reward_range says otherwise). Nothing was learned.' },
  HP_ERR_BANDIT_ARM_UNKNOWN: { status: 404, about: 'The bandit has no arm of that name in play.' },
  HP_ERR_BANDIT_ARM_EXISTS: { status: 409, about: 'The bandit already has an arm of that name.' },
  HP_ERR_BANDIT_ARM_RETIRED: { status: 410, about: 'The arm of the decision was retired after the decision: its reward is not learned.' },
  HP_ERR_BANDIT_ARMS_LIMIT: { status: 409, about: 'Adding the arm would pass the bandit\'s max_arms, or retiring it would leave the bandit with no arm in play.' },
  HP_ERR_NATIVE_INVALID_ARG: { status: 400, about: 'The native engine refused an argument (a backstop behind the TypeScript checks).' },
  HP_ERR_NATIVE_NOT_FOUND: { status: 404, about: 'The native engine could not find the object asked for.' },
  HP_ERR_NATIVE_UNAVAILABLE: { status: 503, about: 'A native resource is unavailable (read-only handle, no CUDA device).' },
  HP_ERR_NATIVE_UNSUPPORTED: { status: 501, about: 'The operation is not supported by this build (e.g. CUDA on a CPU-only build).' },
  HP_ERR_NATIVE_RESOURCE_EXHAUSTED: { status: 503, about: 'The native engine ran out of memory or capacity.' },
  HP_ERR_NATIVE_INTERNAL: { status: 500, about: 'An internal error in the native engine.' },
  // experiments (src/experiments/, docs/experiments.md)
  HP_ERR_EXPERIMENT_UNKNOWN: { status: 404, about: 'The experiment named in the path is not in the config.' },
  HP_ERR_EXPERIMENT_INVALID: { status: 400, about: 'An experiment request lacks its unit (a non-empty string id), or an admin request names an unknown variant or a share outside 0..1.' },
  HP_ERR_EXPERIMENT_STOPPED: { status: 409, about: 'The experiment is already in the state the admin request asks for (stopped, or running).' },
  HP_ERR_RECOMMENDER_UNKNOWN: { status: 404, about: 'The recommender named in the path is not declared under recommenders: in the config.' },
  HP_ERR_RECOMMEND_INVALID: { status: 400, about: 'A recommend request body is not an object with a string or integer user, or its exclude_seen, category or items has the wrong type.' },
  HP_ERR_RECOMMEND_K_INVALID: { status: 400, about: "A recommend request's k is not an integer from 1 to the recommender's max_k." },
  HP_ERR_INTERNAL: { status: 500, about: 'An unexpected server error; it is logged.' },
} as const satisfies Record<string, { status: number; about: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class HotpathError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HotpathError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }

  toJSON(): { error: { code: ErrorCode; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** The HTTP status of a code (500 for a code this build does not know, from another server). */
export function errorStatus(code: string): number {
  return isErrorCode(code) ? ERRORS[code].status : 500;
}

/**
 * A client's value as an error message quotes it: its JSON, or a placeholder for a value
 * JSON.stringify cannot write (nested thousands deep it overflows the stack; a client can
 * send such a value in a few kilobytes of JSON, which JSON.parse reads without recursing).
 */
export function showValue(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return Array.isArray(v) ? '(an array nested too deep to show)' : '(an object nested too deep to show)';
  }
}

/** Any thrown value as a HotpathError: native errors keep their HP_ERR_NATIVE_* code. */
export function toHotpathError(err: unknown): HotpathError {
  if (err instanceof HotpathError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (isErrorCode(code)) return new HotpathError(code, message);
  return new HotpathError('HP_ERR_INTERNAL', message);
}
