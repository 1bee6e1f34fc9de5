// `hotpath keys new` and `hotpath keys hash`: make an API key and the line of the keys
// file that admits it (hotpath stores only the SHA-256 of a key; docs/security.md).
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import { SCOPE_RE } from '../config/schema.js';
import { HotpathError } from '../errors.js';

export const KEYS_USAGE = `usage: hotpath keys new --name NAME --scopes S1,S2,...
       hotpath keys hash [KEY]

  new    prints a new random API key (give it to the client) and the keys-file entry
         with its SHA-256 (put it in auth.keys_file or auth.keys_env)
  hash   prints the SHA-256 (hex) of KEY, or of the first line of stdin without KEY
  scopes: events:write, features:read, metrics:read, alerts:read, predict:<model>, predict:*, admin
`;

export const sha256Hex = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

async function firstLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0];
}

export async function keys(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { name: { type: 'string' }, scopes: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
    strict: true,
  });
  const [sub, key] = positionals;
  if (values.help || sub === undefined) {
    process.stdout.write(KEYS_USAGE);
    return;
  }
  if (sub === 'hash') {
    const k = key ?? (await firstLine());
    if (k === '') throw new HotpathError('HP_ERR_QUERY_INVALID', 'hotpath keys hash: no key given');
    process.stdout.write(`${sha256Hex(k)}\n`);
    return;
  }
  if (sub !== 'new') throw new HotpathError('HP_ERR_QUERY_INVALID', `hotpath keys: unknown subcommand '${sub}'\n${KEYS_USAGE}`);
  const name = values.name;
  const scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (!name || !/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) throw new HotpathError('HP_ERR_QUERY_INVALID', 'hotpath keys new: --name is required (letters, digits, _ . @ -)');
  if (scopes.length === 0) throw new HotpathError('HP_ERR_QUERY_INVALID', 'hotpath keys new: --scopes is required');
  const bad = scopes.find((s) => !SCOPE_RE.test(s));
  if (bad) throw new HotpathError('HP_ERR_QUERY_INVALID', `hotpath keys new: '${bad}' is not a scope`);
  const k = `hp_${randomBytes(32).toString('base64url')}`;
  process.stdout.write(`key (give this to the client; it is not stored anywhere):\n  ${k}\nkeys file entry:\n  - { name: ${name}, sha256: ${sha256Hex(k)}, scopes: [${scopes.join(', ')}] }\n`);
}
