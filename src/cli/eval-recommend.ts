// hotpath eval --recommender NAME --sessions FILE.csv: next-item Recall@k and MRR@k of the
// recommender's co-visitation table (and its embedding source, when it has one) against
// the paper's popularity baseline (src/recommend/session-eval.ts); and
// hotpath eval --generate-sessions FILE.csv: the seeded dataset with planted structure
// (src/bench/sessions.ts), with its planted item embedding beside it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { generateSessions, npyBytes, SESSION_GEN_DEFAULTS } from '../bench/sessions.js';
import type { Config } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { readCsv } from '../learn/csv.js';
import { covisitMethod, embeddingMethod, evalSessions, popularityMethod, sessionClicks } from '../recommend/session-eval.js';

/** The usage lines of the recommender evaluation (after eval's own), and its options (after eval's). */
export const EVAL_RECOMMEND_USAGE = `       hotpath eval --config F --recommender R --sessions FILE.csv [--k 20] [--test-fraction 0.1] [--frozen] [--json]
       hotpath eval --generate-sessions FILE.csv [--seed 1] [--gen-sessions 50000] [--gen-items 5000]
`;
export const EVAL_RECOMMEND_OPTIONS = `  --recommender R  next-item Recall@k and MRR@k of recommender R (co-visitation, and its
                   embedding source when it has one) and of the popularity baseline over
                   a session CSV (session_id,ts,item_id[,category]): the sessions of the
                   last --test-fraction of the time span are predicted click by click
                   (docs/recommend.md); --frozen learns nothing from the test sessions
  --generate-sessions FILE.csv  writes the seeded dataset with planted structure, and its
                   planted item embedding as FILE.npy + FILE.ids.txt
`;

export interface RecommendEvalArgs {
  recommender?: string;
  sessions?: string;
  'generate-sessions'?: string;
  k?: string;
  'test-fraction'?: string;
  frozen?: boolean;
  seed?: string;
  'gen-sessions'?: string;
  'gen-items'?: string;
  json?: boolean;
}

const num = (v: string | undefined, what: string, dflt: number): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new HotpathError('HP_ERR_QUERY_INVALID', `${what} must be a positive number, not '${v}'`);
  return n;
};

export function generateSessionsFile(args: RecommendEvalArgs): string {
  const path = args['generate-sessions']!;
  const g = generateSessions({
    seed: num(args.seed, '--seed', SESSION_GEN_DEFAULTS.seed),
    sessions: num(args['gen-sessions'], '--gen-sessions', SESSION_GEN_DEFAULTS.sessions),
    items: num(args['gen-items'], '--gen-items', SESSION_GEN_DEFAULTS.items),
  });
  mkdirSync(dirname(path), { recursive: true }); // bench/eval/data/ is not in the repository
  writeFileSync(path, g.csv);
  const base = path.replace(/\.csv$/, '');
  writeFileSync(`${base}.npy`, npyBytes(g.embedding!, g.options.items, g.options.embeddingDim));
  writeFileSync(`${base}.ids.txt`, `${Array.from({ length: g.options.items }, (_, i) => `i${i}`).join('\n')}\n`);
  return `${path}: ${g.clicks} clicks in ${g.options.sessions} sessions over ${g.options.items} items (${g.options.clusters} clusters), seed ${g.options.seed}; planted embedding ${base}.npy (${g.options.items} x ${g.options.embeddingDim}), ids ${base}.ids.txt\n`;
}

export function evalRecommender(config: Config, args: RecommendEvalArgs): string {
  const def = config.recommenders.find((r) => r.name === args.recommender);
  if (!def) throw new HotpathError('HP_ERR_QUERY_INVALID', `no recommender '${args.recommender}' in the config (recommenders: ${config.recommenders.map((r) => r.name).join(', ') || 'none'})`);
  if (!args.sessions) throw new HotpathError('HP_ERR_QUERY_INVALID', '--sessions FILE.csv is needed with --recommender');
  const clicks = sessionClicks(readCsv(args.sessions));
  const methods = [covisitMethod(def), ...(def.embedding ? [embeddingMethod(def)] : []), popularityMethod()];
  const k = num(args.k, '--k', 20);
  const testFraction = num(args['test-fraction'], '--test-fraction', 0.1);
  const r = evalSessions(clicks, methods, { k, testFraction, online: !args.frozen });
  if (args.json) return `${JSON.stringify({ recommender: def.name, sessions: args.sessions, online: !args.frozen, ...r })}\n`;
  let out = `${def.name}: ${args.sessions}: ${r.train} training clicks, ${r.test} predictions (test sessions: the last ${testFraction * 100}% of the time span; ${r.skipped} test clicks on items unseen in training skipped); ${args.frozen ? 'frozen' : 'learning online'} during the test\n\n`;
  out += `| method | Recall@${k} | MRR@${k} | predictions | ms per prediction |\n|---|---|---|---|---|\n`;
  for (const [name, m] of Object.entries(r.methods)) out += `| ${name} | ${m.recall.toFixed(4)} | ${m.mrr.toFixed(4)} | ${m.predictions} | ${(m.ms / Math.max(1, m.predictions)).toFixed(4)} |\n`;
  return out;
}
