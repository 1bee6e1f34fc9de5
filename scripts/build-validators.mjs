#!/usr/bin/env node
// Part of `npm run build` (after tsc): ajv's standalone code for the config's validators
// (src/config/validators.ts), written to dist/config/validators/<name>.cjs and stamped with
// the key of the schema it was made from, so that a server started from dist/ does not
// compile the schema at each start (and one whose schema has changed since compiles it
// instead of using a stale validator).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist', 'config');
const require = createRequire(join(ROOT, 'package.json'));
const { Ajv } = require('ajv');
const standaloneCode = require('ajv/dist/standalone').default;

const load = (file) => import(pathToFileURL(join(DIST, file)).href);
const { VALIDATOR_OPTIONS, validatorKey } = await load('validators.js');
const schemas = { config: (await load('schema.js')).configSchema, keys: (await load('security.js')).keysSchema };

mkdirSync(join(DIST, 'validators'), { recursive: true });
for (const [name, schema] of Object.entries(schemas)) {
  const ajv = new Ajv({ ...VALIDATOR_OPTIONS[name], code: { source: true } });
  const code = `${standaloneCode(ajv, ajv.compile(schema))}\nmodule.exports.key = ${JSON.stringify(validatorKey(name, schema))};\n`;
  const out = join(DIST, 'validators', `${name}.cjs`);
  writeFileSync(`${out}.tmp`, code);
  renameSync(`${out}.tmp`, out);
}
process.stdout.write(`build-validators: ${Object.keys(schemas).map((n) => `dist/config/validators/${n}.cjs`).join(', ')}\n`);
