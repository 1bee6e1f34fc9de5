// Bandits in hotpath.yaml: the top-level `bandits:` section. Each bandit names its policy,
// its arms, the policy's parameters, the context the contextual policies read from the
// feature store (inputs like a model's), how long a decision waits for its reward, and the
// event stream that may carry rewards. src/bandits/ serves them.
import type { EntityDef, StreamDef } from './load.js';
import type { ModelInputDef } from './models.js';
import { fail, parseDuration } from './values.js';

// The schema is in schema.ts (banditsSchema): this module imports values.ts, which imports
// schema.ts, so a schema here would be read before it is defined when this module loads first.
import { BANDIT_POLICIES, MAX_ARMS } from './schema.js';

export { BANDIT_POLICIES, MAX_ARMS };
export type BanditPolicy = (typeof BANDIT_POLICIES)[number];
const LINEAR: readonly BanditPolicy[] = ['linucb', 'lin_thompson'];
/** an arm's name: what a client sees and a metric label carries */
export const ARM_NAME_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

export interface RawBandit {
  policy: BanditPolicy;
  arms: string[];
  max_arms?: number;
  epsilon?: number;
  alpha?: number;
  v?: number;
  lambda?: number;
  prior?: { alpha?: number; beta?: number; mean?: number; kappa?: number };
  reward_range?: [number, number];
  context?: { feature?: string; field?: string; transform?: 'none' | 'log1p'; fill?: number }[];
  intercept?: boolean;
  horizon?: number | string;
  pending?: number;
  rewards?: { stream: string; id_field?: string; field?: string };
  seed?: number;
  description?: string;
}

export interface BanditDef {
  name: string;
  policy: BanditPolicy;
  /** the arms in play at start, in slot order */
  arms: string[];
  /** arm slots (arms added through the admin route take free ones) */
  maxArms: number;
  epsilon: number;
  alpha: number;
  v: number;
  lambda: number;
  prior: { alpha: number; beta: number; mean: number; kappa: number };
  /** rewards outside it are refused; the [0, 1] policies see (r - lo) / (hi - lo) */
  rewardRange: [number, number];
  /** the contextual policies' inputs, gathered from the store as a model's are (null: none) */
  context: { inputs: ModelInputDef[]; keys: { entity: string; table: number }[]; fields: string[] } | null;
  /** a constant 1 appended to the context (linear policies) */
  intercept: boolean;
  /** the context dimension the policy sees (inputs + intercept; 0 for the others) */
  dim: number;
  horizonMs: number;
  /** decisions kept for their rewards (a ring: the oldest is overwritten) */
  pending: number;
  /** rewards carried by events: the stream, its decision-id field and its reward field */
  rewards: { stream: StreamDef; idField: number; field: number } | null;
  /** the generator's seed (-1: a random one at start) */
  seed: number;
}

export function compileBandits(raw: Record<string, RawBandit> | undefined, entities: EntityDef[], entityIndex: Map<string, number>, streams: StreamDef[], streamIndex: Map<string, number>): BanditDef[] {
  const out: BanditDef[] = [];
  for (const [bname, b] of Object.entries(raw ?? {})) {
    const path = `/bandits/${bname}`;
    const linear = LINEAR.includes(b.policy);
    const seen = new Set<string>();
    b.arms.forEach((a, i) => {
      if (seen.has(a)) fail(`${path}/arms/${i}`, `arm '${a}' is listed twice`);
      seen.add(a);
    });
    const maxArms = b.max_arms ?? Math.min(MAX_ARMS, Math.max(16, 2 * b.arms.length));
    if (maxArms < b.arms.length) fail(`${path}/max_arms`, `must be at least the number of arms (${b.arms.length})`);
    const only = (key: keyof RawBandit, policies: readonly BanditPolicy[]): void => {
      if (b[key] !== undefined && !policies.includes(b.policy)) fail(`${path}/${key}`, `only ${policies.join(' and ')} take${policies.length > 1 ? '' : 's'} ${key} (this bandit's policy is ${b.policy})`);
    };
    only('epsilon', ['epsilon_greedy']);
    only('alpha', ['linucb']);
    only('v', ['lin_thompson']);
    only('lambda', LINEAR);
    only('intercept', LINEAR);
    only('context', LINEAR);
    only('prior', ['thompson', 'gaussian_thompson']);
    if (b.prior) {
      const keys = b.policy === 'thompson' ? ['alpha', 'beta'] : ['mean', 'kappa', 'alpha', 'beta'];
      for (const k of Object.keys(b.prior)) if (!keys.includes(k)) fail(`${path}/prior/${k}`, `a ${b.policy} prior takes ${keys.join(', ')}`);
    }
    const unit = b.policy === 'epsilon_greedy' || b.policy === 'ucb1' || b.policy === 'thompson';
    let rewardRange: [number, number] = unit ? [0, 1] : [-Infinity, Infinity];
    if (b.reward_range) {
      const [lo, hi] = b.reward_range;
      if (!(hi > lo)) fail(`${path}/reward_range`, 'give [low, high] with high above low');
      rewardRange = [lo, hi];
    }
    let context: BanditDef['context'] = null;
    if (linear) {
      if (!b.context) fail(`${path}/context`, `${b.policy} needs a context: the features (entity.feature) and request fields it reads`);
      const keys: { entity: string; table: number }[] = [];
      const fields: string[] = [];
      const inputs = b.context.map((c, i): ModelInputDef => {
        const at = `${path}/context/${i}`;
        if ((c.feature === undefined) === (c.field === undefined)) fail(at, 'give exactly one of feature (entity.feature) or field (a request field)');
        const transform = c.transform ?? 'none';
        const fill = c.fill ?? 0;
        if (c.field !== undefined) {
          let index = fields.indexOf(c.field);
          if (index < 0) index = fields.push(c.field) - 1;
          return { name: c.field, source: 'field', index, transform, fill };
        }
        const [ename, fname] = c.feature!.split('.');
        const table = entityIndex.get(ename);
        if (table === undefined) fail(`${at}/feature`, `no entity '${ename}' is declared under /entities`);
        const feature = entities[table].featureIndex.get(fname);
        if (feature === undefined) fail(`${at}/feature`, `entity '${ename}' has no feature '${fname}'`);
        if (entities[table].features[feature].agg === 'last_n') fail(`${at}/feature`, `'${fname}' is a last_n list; a context value is one number`);
        let index = keys.findIndex((k) => k.entity === ename);
        if (index < 0) index = keys.push({ entity: ename, table }) - 1;
        return { name: c.feature!, source: 'feature', index, table, feature, transform, fill };
      });
      context = { inputs, keys, fields };
    }
    const intercept = linear && (b.intercept ?? true);
    let rewards: BanditDef['rewards'] = null;
    if (b.rewards) {
      const rp = `${path}/rewards`;
      const s = streamIndex.get(b.rewards.stream);
      if (s === undefined) fail(`${rp}/stream`, `no stream '${b.rewards.stream}' is declared under /streams`);
      const stream = streams[s];
      const numberField = (f: string, at: string): number => {
        const i = stream.fields.findIndex((x) => x.name === f);
        if (i < 0) fail(at, `stream '${stream.name}' has no field '${f}'`);
        if (stream.fields[i].type !== 'number') fail(at, `'${f}' must be a number field of stream '${stream.name}'`);
        return i;
      };
      const idField = numberField(b.rewards.id_field ?? 'decision_id', `${rp}/id_field`);
      const field = numberField(b.rewards.field ?? 'reward', `${rp}/field`);
      if (idField === field) fail(`${rp}/field`, 'the reward and the decision id must be different fields');
      rewards = { stream, idField, field };
    }
    const horizonMs = b.horizon === undefined ? 3_600_000 : parseDuration(b.horizon);
    if (!(horizonMs > 0)) fail(`${path}/horizon`, 'must be > 0');
    out.push({
      name: bname,
      policy: b.policy,
      arms: [...b.arms],
      maxArms,
      epsilon: b.epsilon ?? 0.1,
      alpha: b.alpha ?? 1,
      v: b.v ?? 1,
      lambda: b.lambda ?? 1,
      prior: { alpha: b.prior?.alpha ?? 1, beta: b.prior?.beta ?? 1, mean: b.prior?.mean ?? 0, kappa: b.prior?.kappa ?? 1 },
      rewardRange,
      context,
      intercept,
      dim: context ? context.inputs.length + (intercept ? 1 : 0) : 0,
      horizonMs,
      pending: b.pending ?? 65_536,
      rewards,
      seed: b.seed ?? -1,
    });
  }
  return out;
}
