// The config's JSON Schema validators. `npm run build` writes ajv's standalone code for each
// (scripts/build-validators.mjs: dist/config/validators/<name>.cjs, stamped with the key of
// the schema it was made from); a process that finds one whose key matches its schema uses
// it, and otherwise compiles the schema with ajv when the module loads (tests and tsx, which
// run the sources, and a dist/ built by tsc alone). Compiling the config schema took about
// 0.4 s of every start and left some 10 MB of garbage in the old generation (the edge
// profile's memory: bench/results/2026-12-06-edge.md); ajv itself is then not loaded either.
// The single executable replaces these calls with its own precompiled code at bundle time
// (scripts/build-sea.mjs).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

import type { ErrorObject } from 'ajv';

export interface Validate {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}

/** ajv's options per validator: the build compiles with the same. */
export const VALIDATOR_OPTIONS = {
  config: { allErrors: true, strict: true },
  keys: { allErrors: false, strict: true },
} as const;

export type ValidatorName = keyof typeof VALIDATOR_OPTIONS;

/** What a built validator must have been made from: its schema and options (a hash). */
export function validatorKey(name: ValidatorName, schema: object): string {
  return createHash('sha256').update(JSON.stringify([name, VALIDATOR_OPTIONS[name], schema])).digest('hex').slice(0, 32);
}

const require = createRequire(import.meta.url);

/** The validator of `schema`: the build's, when it was made from this schema, else compiled now. */
export function validator(name: ValidatorName, schema: object): Validate {
  try {
    const built = require(`./validators/${name}.cjs`) as Validate & { key?: string };
    if (built.key === validatorKey(name, schema)) return built;
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err;
  }
  const { Ajv } = require('ajv') as typeof import('ajv');
  return new Ajv(VALIDATOR_OPTIONS[name]).compile(schema);
}
