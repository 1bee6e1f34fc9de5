#!/usr/bin/env node
// hotpath command line: `hotpath serve ...`, `hotpath routes ...`, `hotpath bench ...` and
// `hotpath keys ...`.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { DEFAULT_MAX_BODY_BYTES, loadConfigFile } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { backends } from '../native/binding.js';
import { startServer } from '../server/app.js';
import { printRoutes } from '../server/routes/index.js';
import { bench, BENCH_USAGE } from './bench.js';
import { keys, KEYS_USAGE } from './keys.js';

const SERVE_USAGE = `usage: hotpath serve [--config hotpath.yaml] [--port P] [--host H] [--demo]

  --config F   config file (default hotpath.yaml)
  --port P     listen port (default: server.port, or $HOTPATH_PORT); 0 picks a free one
  --host H     listen address (default: server.host, 127.0.0.1); with auth off, a
               non-loopback address prints a warning (docs/security.md)
  --demo       feed the config's demo stream with synthetic events
`;
const ROUTES_USAGE = `usage: hotpath routes [--config hotpath.yaml]

  Prints every route the server exposes: method, path, the scope a caller needs
  (open, events:write, features:read, metrics:read, predict:{model}, admin), and the body limit.
  --config F   config file whose server.max_body_bytes sets the limits (default hotpath.yaml;
               without the file, the default limit)
`;
const USAGE = `${SERVE_USAGE}\n${ROUTES_USAGE}\n${BENCH_USAGE}\n${KEYS_USAGE}`;

function routes(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(ROUTES_USAGE);
    return;
  }
  const file = values.config ?? (existsSync('hotpath.yaml') ? 'hotpath.yaml' : undefined);
  const config = file ? loadConfigFile(file) : undefined;
  process.stdout.write(printRoutes(config?.server.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, config?.limits.wsFrameBytes));
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', default: 'hotpath.yaml' },
      port: { type: 'string' },
      host: { type: 'string' },
      demo: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(SERVE_USAGE);
    return;
  }
  const portText = values.port ?? process.env.HOTPATH_PORT;
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new HotpathError('HP_ERR_CONFIG_INVALID', `--port / HOTPATH_PORT must be an integer 0..65535, got '${portText}'`);
  }
  const config = loadConfigFile(values.config!);
  const server = await startServer({ config, port, host: values.host, demo: values.demo });
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // SIGHUP: reload every model's configured version from its repository (hot, no failed
  // request); a model that fails keeps serving its previous version.
  process.on('SIGHUP', () => {
    for (const name of server.models.entries.keys())
      server.models.reload(name).catch((err) => console.error(`hotpath: reload of model '${name}' failed: ${(err as Error).message}`));
  });
  // SIGHUP also re-reads the TLS certificate and key (new connections get them) and the
  // credentials (keys file and variable, JWT secret and JWK Set); on a failure the old
  // ones stay in use.
  process.on('SIGHUP', () => {
    const failed = (what: string) => (err: unknown) => console.error(`hotpath: reload of ${what} failed, the old ones stay in use: ${(err as Error).message}`);
    if (config.tls) server.reloadTls().then(() => console.error('hotpath: TLS certificate reloaded'), failed('the TLS certificate'));
    if (config.auth) server.reloadCredentials().then(() => console.error('hotpath: credentials reloaded'), failed('the credentials'));
  });
  const b = backends();
  const cuda = b.cuda.compiled ? `cuda: ${b.cuda.devices} device(s)${b.cuda.name ? ` (${b.cuda.name})` : ''}` : 'cuda: not built';
  console.log(`hotpath listening on ${server.scheme}://${values.host ?? config.server.host}:${server.port} (backends: cpu, ${cuda}; auth ${config.auth ? 'on' : 'off'})`);
  console.log(`entities: ${config.entities.map((e) => `${e.name} [${e.features.map((f) => f.name).join(', ')}]`).join('; ')}`);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'serve') return serve(rest);
  if (command === 'routes') return routes(rest);
  if (command === 'bench') return bench(rest);
  if (command === 'keys') return keys(rest);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  process.stderr.write(`hotpath: unknown command '${command}'\n${USAGE}`);
  process.exit(2);
}

main().catch((err: unknown) => {
  if (err instanceof HotpathError) {
    process.stderr.write(`hotpath: ${err.code}: ${err.message}\n`);
  } else {
    process.stderr.write(`hotpath: ${(err as Error)?.message ?? err}\n`);
  }
  process.exit(2);
});
