// The server the HTTP/WebSocket fuzzer runs against: the standard test store, a native
// dense model, a native int8 model with a constant fallback, an onnxruntime model that is
// only reachable by KServe tensors (it declares no inputs), an online learner (served
// inline, labels and detectors as taps on every event, an alert rule); an experiment over
// two models with a metric tap on the same stream; durability on (a write-ahead
// log in 1 MiB segments, snapshots on demand) in the repository's directory; auth on (API
// keys and HS256 JWTs) with per-address rate limits too high to trip, so that the policy
// and its buckets run on every request. Small limits so that "too large" and "too many"
// are cheap to reach: 64 KiB bodies, batches of 64.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { SignJWT } from 'jose';

import { FRAUD_INPUTS, FRAUD_V1, fixtureModel, makeRepo, RULES_V1, STORE_YAML } from '../support/inference-server.js';

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_BATCH = 64;
/** The models the seeds name; `leaky` runs on onnxruntime, the others natively. */
export const MODELS = {
  fraud: { inDim: 10, input: 'features', output: 'score' },
  rules: { inDim: 10, input: 'features', output: 'score' },
  leaky: { inDim: 5, input: 'x', output: 'y' },
  online: { inDim: 10, input: 'input', output: 'output' },
} as const;

export const JWT_ENV = 'HOTPATH_FUZZ_JWT_SECRET';
const ISSUER = 'fuzz';
const AUDIENCE = 'hotpath';

export const FUZZ_YAML = `
server: { workers: 1, max_body_bytes: ${MAX_BODY_BYTES}, max_batch: ${MAX_BATCH}, wait_queue: 256 }
durability: { data_dir: state, fsync: 'off', segment_bytes: 1MiB, snapshot_interval: 0 }
auth:
  keys_file: keys.yaml
  jwt: { secret_env: ${JWT_ENV}, issuer: ${ISSUER}, audience: ${AUDIENCE} }
limits:
  rate:
    per_address: { open: { rate: 1000000 }, events: { rate: 1000000 }, features: { rate: 1000000 }, predict: { rate: 1000000 }, admin: { rate: 1000000 } }
    per_credential: { features: { rate: 1000000 } }
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
    # int8 weights and activations (precision: int8 needs runtime native)
    runtime: native
    precision: int8
  leaky:
    repository: leaky
    timeout: 5s
  online:
    # an online learner served inline; its labels are the tx stream's amounts joined by
    # user (mostly not 0/1: the invalid-label path), with drift on its error stream
    learner: { algorithm: ftrl, labels: { stream: tx, field: amount, join: entity, entity: user, pending: 1024 }, metrics_window: 64, drift: { detector: adwin, policy: promote, window: 64 } }
    inputs: ${FRAUD_INPUTS}
    fallback: { constant: 0.5 }
detectors:
  amount_user: { kind: robust_z, stream: tx, fields: [amount], per_entity: user, max_entities: 256, window: 16 }
  amount_hst: { kind: hst, stream: tx, fields: [amount], limits: [[0, 1000]] }
  amount_adwin: { kind: adwin, stream: tx, fields: [amount] }
experiments:
  # an A/B test over two models, its conversions the tx stream's events of exposed users,
  # with guardrails, a ramp and automatic stops (the admin routes undo them)
  ab:
    holdout: 0.1
    variants:
      control: { weight: 50, model: fraud }
      treatment: { weight: 50, model: rules }
    metric: { stream: tx, unit: user, kind: mean, field: amount }
    test: { min_samples: 20 }
    auto_stop: true
    ramp: [{ share: 0.5 }, { share: 1, min_exposures: 30 }]
    guardrails: { max_error_rate: 0.5, max_latency: 1s, min_requests: 16 }
    max_units: 10000
# recommenders: merchants whose users also paid at ...; users are the items,
# their country the category; small tables so that they fill up
recommenders:
  shop: { stream: tx, user: merchant, item: user_id, category: country, max_items: 512, max_users: 64, neighbours: 8, k: 5, max_k: 50 }
alerts:
  keep: 64
  rules:
    - { name: odd, source: amount_user, above: 6, per_entity: true, cooldown: 1s }
# bandits: a non-contextual one whose arms the admin route changes, and a
# contextual one reading features of both entities and a request field
bandits:
  home: { policy: thompson, arms: [a, b, c], max_arms: 6, pending: 256, horizon: 1m }
  offer:
    policy: lin_thompson
    arms: [x, y]
    context: [{ feature: user.txn_count_1h }, { feature: merchant.amount_mean_1h, transform: log1p }, { field: amount }]
`;

/** The credentials the fuzzer presents: good ones, and each way a credential can be wrong. */
export interface FuzzAuth {
  /** the HS256 secret the server reads from JWT_ENV */
  secret: string;
  /** name -> the headers that present it (none: no credential) */
  credentials: Record<string, [string, string][]>;
  /** a subprotocol list that carries the admin key (browsers' WebSocket) */
  wsProtocols: string[];
  /** the headers for WebSocket connections and anything that must get in */
  admin: [string, string][];
}

const sha256 = (k: string) => createHash('sha256').update(k).digest('hex');

export async function fuzzAuth(): Promise<FuzzAuth> {
  const secret = randomBytes(32).toString('base64url');
  const key = (name: string) => `hp_${name}_${randomBytes(18).toString('base64url')}`;
  const admin = key('admin');
  const features = key('features');
  const now = Math.floor(Date.now() / 1000);
  const jwt = (scope: string, o: { exp?: number; aud?: string; secret?: string; noExp?: boolean } = {}) => {
    const t = new SignJWT({ scope }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setAudience(o.aud ?? AUDIENCE).setSubject('fuzzer').setIssuedAt();
    if (!o.noExp) t.setExpirationTime(now + (o.exp ?? 3600));
    return t.sign(Buffer.from(o.secret ?? secret));
  };
  const bearer = (v: string): [string, string][] => [['authorization', `Bearer ${v}`]];
  const token = await jwt('admin');
  return {
    secret,
    admin: bearer(admin),
    wsProtocols: ['hotpath', `bearer.${admin}`],
    credentials: {
      'admin key': bearer(admin),
      'admin key (x-api-key)': [['x-api-key', admin]],
      'admin JWT': bearer(token),
      'features-only key': bearer(features),
      'predict:fraud JWT': bearer(await jwt('predict:fraud events:write')),
      none: [],
      'unknown key': bearer(key('nobody')),
      'expired JWT': bearer(await jwt('admin', { exp: -3600 })),
      'JWT without exp': bearer(await jwt('admin', { noExp: true })),
      'JWT for another audience': bearer(await jwt('admin', { aud: 'elsewhere' })),
      'JWT signed with another secret': bearer(await jwt('admin', { secret: randomBytes(32).toString('base64url') })),
      'alg none JWT': bearer(`${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"scope":"admin","iss":"${ISSUER}","aud":"${AUDIENCE}"}`).toString('base64url')}.`),
      'truncated JWT': bearer(token.slice(0, token.length - 7)),
      'garbage bearer': [['authorization', `Bearer ${'%'.repeat(5)}\u00e9`]],
      'basic scheme': [['authorization', `Basic ${Buffer.from('a:b').toString('base64')}`]],
      'two credentials': [...bearer(admin), ['x-api-key', features]],
    },
  };
}

/** A model repository, its keys file and the config file naming them: [repo, config path]. */
export function writeFuzzConfig(auth: FuzzAuth): [string, string] {
  const repo = makeRepo({ fraud: { 1: FRAUD_V1 }, rules: { 1: RULES_V1 }, leaky: { 1: fixtureModel('unsupported_leakyrelu') } });
  const keys = [['admin', auth.admin[0][1].slice('Bearer '.length), 'admin'], ['features', auth.credentials['features-only key'][0][1].slice('Bearer '.length), 'features:read']];
  writeFileSync(join(repo, 'keys.yaml'), `keys:\n${keys.map(([name, k, scope]) => `  - { name: ${name}, sha256: ${sha256(k)}, scopes: [${scope}] }`).join('\n')}\n`);
  const path = join(repo, 'fuzz.yaml');
  writeFileSync(path, FUZZ_YAML);
  return [repo, path];
}
