// Recommenders in hotpath.yaml: the top-level `recommenders:` section. Each recommender
// learns item-to-item co-visitation from one stream's events (src/recommend/, native
// covisit.h), reads the user's recent items from a `last_n` feature of the store, and may
// blend in an item-embedding source (dot-product top-k over a matrix file).
import { resolve } from 'node:path';
import { constants } from '../native/binding.js';
import type { EntityDef, StreamDef } from './load.js';
import { fail, parseDuration } from './values.js';

const name = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } as const;
const duration = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: '^(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)$' }] } as const;
const nonNegative = { type: 'number', minimum: 0 } as const;

/** The native table's limits (native/core/constants.h kCovisit*, read from the addon). */
const RECOMMEND_LIMITS = constants.covisit;

export const recommendersSchema = {
  type: 'object',
  propertyNames: name,
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    required: ['stream', 'user', 'item'],
    properties: {
      stream: name,
      user: name,
      item: name,
      category: name,
      recent: name,
      half_life: duration,
      neighbours: { type: 'integer', minimum: 1, maximum: RECOMMEND_LIMITS.maxNeighbours },
      window: { type: 'integer', minimum: 1, maximum: RECOMMEND_LIMITS.maxWindow },
      max_items: { type: 'integer', minimum: 1, maximum: RECOMMEND_LIMITS.maxItems },
      max_users: { type: 'integer', minimum: 1, maximum: RECOMMEND_LIMITS.maxUsers },
      symmetric: { type: 'boolean' },
      recency: { type: 'number', minimum: 0, maximum: 1 },
      popularity: { type: 'boolean' },
      k: { type: 'integer', minimum: 1, maximum: RECOMMEND_LIMITS.maxK },
      max_k: { type: 'integer', minimum: 1, maximum: RECOMMEND_LIMITS.maxK },
      embedding: {
        type: 'object',
        additionalProperties: false,
        required: ['file', 'ids'],
        properties: { file: { type: 'string', minLength: 1 }, ids: { type: 'string', minLength: 1 }, users: { type: 'string', minLength: 1 }, user_ids: { type: 'string', minLength: 1 } },
      },
      blend: {
        type: 'object',
        additionalProperties: false,
        properties: { covisit: nonNegative, embedding: nonNegative },
      },
      description: { type: 'string' },
    },
  },
} as const;

export interface RawRecommender {
  stream: string;
  user: string;
  item: string;
  category?: string;
  recent?: string;
  half_life?: number | string;
  neighbours?: number;
  window?: number;
  max_items?: number;
  max_users?: number;
  symmetric?: boolean;
  recency?: number;
  popularity?: boolean;
  k?: number;
  max_k?: number;
  embedding?: { file: string; ids: string; users?: string; user_ids?: string };
  blend?: { covisit?: number; embedding?: number };
  description?: string;
}

export interface RecommenderDef {
  name: string;
  stream: StreamDef;
  /** the stream's key column of the user, and the user entity */
  userColumn: number;
  userEntity: EntityDef;
  /** the stream field of the item (a category field) */
  itemField: number;
  itemFieldName: string;
  /** the stream's key column that carries the item id too (its strings name items), or -1 */
  itemKeyColumn: number;
  /** the stream field of the item's category, or -1 */
  categoryField: number;
  /** the user entity's last_n feature over the item field (the recommend history), or -1: the table's own ring */
  recentFeature: number;
  halfLifeMs: number;
  neighbours: number;
  window: number;
  maxItems: number;
  maxUsers: number;
  symmetric: boolean;
  /** weight of the p-th most recent history item: recency^p */
  recency: number;
  /** fill up to k with the most popular items (and answer cold users with them) */
  popularity: boolean;
  k: number;
  maxK: number;
  /** an item-embedding source: matrix (.npy float32, items x dim) and its row ids (one per line) */
  embedding: { file: string; ids: string; users?: string; userIds?: string } | null;
  blend: { covisit: number; embedding: number };
}

export function compileRecommenders(
  raw: Record<string, RawRecommender> | undefined,
  streams: StreamDef[],
  streamIndex: Map<string, number>,
  entities: EntityDef[],
  baseDir: string,
): RecommenderDef[] {
  const out: RecommenderDef[] = [];
  for (const [rname, r] of Object.entries(raw ?? {})) {
    const path = `/recommenders/${rname}`;
    const s = streamIndex.get(r.stream);
    if (s === undefined) fail(`${path}/stream`, `no stream '${r.stream}' is declared under /streams`);
    const stream = streams[s];
    const userColumn = stream.tables.findIndex((t) => entities[t].name === r.user);
    if (userColumn < 0) fail(`${path}/user`, `stream '${stream.name}' has no key '${r.user}' (its keys: ${stream.tables.map((t) => entities[t].name).join(', ')})`);
    const userEntity = entities[stream.tables[userColumn]];
    const categoryField = (f: string, at: string): number => {
      const i = stream.fields.findIndex((x) => x.name === f);
      if (i < 0) fail(at, `stream '${stream.name}' has no field '${f}'`);
      if (stream.fields[i].type !== 'category') fail(at, `'${f}' must be a category field of stream '${stream.name}'`);
      return i;
    };
    const itemField = categoryField(r.item, `${path}/item`);
    const catField = r.category === undefined ? -1 : categoryField(r.category, `${path}/category`);
    if (catField === itemField) fail(`${path}/category`, 'the category field must not be the item field');
    let recentFeature = -1;
    if (r.recent !== undefined) {
      recentFeature = userEntity.featureIndex.get(r.recent) ?? -1;
      if (recentFeature < 0) fail(`${path}/recent`, `entity '${userEntity.name}' has no feature '${r.recent}'`);
      const f = userEntity.features[recentFeature];
      if (f.agg !== 'last_n' || f.field !== r.item || f.stream !== stream.name)
        fail(`${path}/recent`, `'${r.recent}' must be a last_n feature over field '${r.item}' of stream '${stream.name}'`);
    }
    const halfLifeMs = r.half_life === undefined ? 86_400_000 : parseDuration(r.half_life);
    if (!(halfLifeMs > 0)) fail(`${path}/half_life`, 'must be > 0');
    const k = r.k ?? 20;
    const maxK = r.max_k ?? Math.max(100, k);
    if (k > maxK) fail(`${path}/k`, `the default k (${k}) is above max_k (${maxK})`);
    const embedding = r.embedding
      ? {
          file: resolve(baseDir, r.embedding.file),
          ids: resolve(baseDir, r.embedding.ids),
          users: r.embedding.users === undefined ? undefined : resolve(baseDir, r.embedding.users),
          userIds: r.embedding.user_ids === undefined ? undefined : resolve(baseDir, r.embedding.user_ids),
        }
      : null;
    if (embedding && (embedding.users === undefined) !== (embedding.userIds === undefined))
      fail(`${path}/embedding/${embedding.users === undefined ? 'users' : 'user_ids'}`, 'users and user_ids come together (a user matrix and its row ids)');
    const blend = { covisit: r.blend?.covisit ?? 1, embedding: r.blend?.embedding ?? (embedding ? 1 : 0) };
    if (r.blend?.embedding !== undefined && r.blend.embedding > 0 && !embedding) fail(`${path}/blend/embedding`, 'needs an embedding source (embedding: {file, ids})');
    if (blend.covisit === 0 && blend.embedding === 0) fail(`${path}/blend`, 'at least one source needs a weight above 0');
    out.push({
      name: rname,
      stream,
      userColumn,
      userEntity,
      itemField,
      itemFieldName: r.item,
      itemKeyColumn: stream.keyFields.indexOf(r.item),
      categoryField: catField,
      recentFeature,
      halfLifeMs,
      neighbours: r.neighbours ?? 32,
      window: r.window ?? 5,
      maxItems: r.max_items ?? 100_000,
      maxUsers: r.max_users ?? 100_000,
      symmetric: r.symmetric ?? true,
      recency: r.recency ?? 0.7,
      popularity: r.popularity ?? true,
      k,
      maxK,
      embedding,
      blend,
    });
  }
  return out;
}
