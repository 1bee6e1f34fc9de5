// The server the HTTP/WebSocket fuzzer runs against: the standard test store, a native
// dense model, a native model with a constant fallback, and an onnxruntime model that is
// only reachable by KServe tensors (it declares no inputs); durability on (a write-ahead
// log in 1 MiB segments, snapshots on demand) in the repository's directory. Small limits
// so that "too large" and "too many" are cheap to reach: 64 KiB bodies, batches of 64.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { FRAUD_INPUTS, FRAUD_V1, fixtureModel, makeRepo, RULES_V1, STORE_YAML } from '../support/inference-server.js';

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_BATCH = 64;
/** The models the seeds name; `leaky` runs on onnxruntime, the others natively. */
export const MODELS = {
  fraud: { inDim: 10, input: 'features', output: 'score' },
  rules: { inDim: 10, input: 'features', output: 'score' },
  leaky: { inDim: 5, input: 'x', output: 'y' },
} as const;

export const FUZZ_YAML = `
server: { workers: 1, max_body_bytes: ${MAX_BODY_BYTES}, max_batch: ${MAX_BATCH}, wait_queue: 256 }
durability: { data_dir: state, fsync: 'off', segment_bytes: 1MiB, snapshot_interval: 0 }
${STORE_YAML.replaceAll('memory: 8MiB', 'memory: 1MiB')}
models:
  fraud:
    repository: fraud
    inputs: ${FRAUD_INPUTS}
    timeout: 5s
  rules:
    repository: rules
    inputs: ${FRAUD_INPUTS}
    timeout: 5s
    fallback: { constant: 0.5 }
  leaky:
    repository: leaky
    timeout: 5s
`;

/** A model repository and the config file naming it: [repo, config path]. */
export function writeFuzzConfig(): [string, string] {
  const repo = makeRepo({ fraud: { 1: FRAUD_V1 }, rules: { 1: RULES_V1 }, leaky: { 1: fixtureModel('unsupported_leakyrelu') } });
  const path = join(repo, 'fuzz.yaml');
  writeFileSync(path, FUZZ_YAML);
  return [repo, path];
}
