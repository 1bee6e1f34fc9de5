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
import { EVAL_USAGE, evaluate } from './eval.js';
import { keys, KEYS_USAGE } from './keys.js';

const SERVE_USAGE = `usage: hotpath serve [--config hotpath.yaml] [--port P] [--host H] [--demo] [--data-dir DIR [--discard-state]]

  --config F        config file (default hotpath.yaml)
  --port P          listen port (default: server.port, or $HOTPATH_PORT); 0 picks a free one
  --host H          listen address (default: server.host, 127.0.0.1); with auth off, a
                    non-loopback address prints a warning (docs/security.md)
  --demo            feed the config's demo stream with synthetic events
  --data-dir DIR    keep state in DIR: write-ahead log and snapshots (default: durability.data_dir;
                    without either, nothing survives a restart)
  --discard-state   move the state in the data directory aside and begin empty (needed when
                    the features changed since it was written)

  SIGTERM / SIGINT: graceful stop (not ready at once, in-flight requests finish within
  server.drain_timeout, the log is flushed, a last snapshot is taken, exit 0); a second
  signal exits at once. SIGHUP reloads every model, the TLS certificate and the credentials.
`;
const ROUTES_USAGE = `usage: hotpath routes [--config hotpath.yaml]

  Prints every route the server exposes: method, path, the scope a caller needs
  (open, events:write, features:read, metrics:read, alerts:read, predict:{model}, recommend:{name}, bandits:{name}, experiments:{name}, admin), and the body limit.
  --config F   config file whose server.max_body_bytes sets the limits (default hotpath.yaml;
               without the file, the default limit)
`;
const USAGE = `${SERVE_USAGE}\n${ROUTES_USAGE}\n${BENCH_USAGE}\n${EVAL_USAGE}\n${KEYS_USAGE}`;

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
      'data-dir': { type: 'string' },
      'discard-state': { type: 'boolean', default: false },
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
  const dataDir = values['data-dir'] ?? config.durability.dataDir;
  if (values['discard-state'] && !dataDir) throw new HotpathError('HP_ERR_CONFIG_INVALID', '--discard-state needs a data directory (--data-dir or durability.data_dir)');
  // Signals during the start stop it at once; the graceful stop takes over once serving.
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping || !server) {
      console.error(`hotpath: ${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    console.error(`hotpath: ${signal}: draining (up to ${config.server.drainTimeoutMs} ms), then a last snapshot`);
    server.shutdown().then(
      (r) => {
        console.error(`hotpath: stopped (${r.drained ? 'drained' : `${r.abandoned} request(s) abandoned at the deadline`} in ${r.drainMs.toFixed(0)} ms${r.snapshotSeq !== undefined ? `, snapshot at record ${r.snapshotSeq}` : ''})`);
        process.exit(0);
      },
      (err) => {
        console.error(`hotpath: shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (!dataDir) console.error('hotpath: no data directory (--data-dir or durability.data_dir): state is kept in memory only and lost at exit');
  server = await startServer({ config, port, host: values.host, demo: values.demo, dataDir, discardState: values['discard-state'] });
  const running = server;
  // SIGHUP: reload every model's configured version from its repository (hot, no failed
  // request); a model that fails keeps serving its previous version.
  process.on('SIGHUP', () => {
    for (const name of running.models.entries.keys())
      running.models.reload(name).catch((err) => console.error(`hotpath: reload of model '${name}' failed: ${(err as Error).message}`));
  });
  // SIGHUP also re-reads the TLS certificate and key (new connections get them) and the
  // credentials (keys file and variable, JWT secret and JWK Set); on a failure the old
  // ones stay in use.
  process.on('SIGHUP', () => {
    const failed = (what: string) => (err: unknown) => console.error(`hotpath: reload of ${what} failed, the old ones stay in use: ${(err as Error).message}`);
    if (config.tls) running.reloadTls().then(() => console.error('hotpath: TLS certificate reloaded'), failed('the TLS certificate'));
    if (config.auth) running.reloadCredentials().then(() => console.error('hotpath: credentials reloaded'), failed('the credentials'));
  });
  const b = backends();
  const cuda = b.cuda.compiled ? `cuda: ${b.cuda.devices} device(s)${b.cuda.name ? ` (${b.cuda.name})` : ''}` : 'cuda: not built';
  console.log(`hotpath listening on ${running.scheme}://${values.host ?? config.server.host}:${running.port} (backends: cpu, ${cuda}; auth ${config.auth ? 'on' : 'off'})`);
  console.log(`entities: ${config.entities.map((e) => `${e.name} [${e.features.map((f) => f.name).join(', ')}]`).join('; ')}`);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'serve') return serve(rest);
  if (command === 'routes') return routes(rest);
  if (command === 'bench') return bench(rest);
  if (command === 'keys') return keys(rest);
  if (command === 'eval') return evaluate(rest);
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
