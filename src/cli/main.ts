#!/usr/bin/env node
// hotpath command line: `hotpath serve ...`, `hotpath routes ...`, `hotpath bench ...`,
// `hotpath eval ...`, `hotpath keys ...` and `hotpath mirror ...`.
//
// Each command loads what it needs when it runs (import()), not at start: `serve` never
// loads the bench, eval or keys code, and `serve --profile edge` sets its V8 flags before
// the config compiler and the server are loaded (their first allocations would otherwise
// grow the young generation it keeps small).
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';

import { PROFILE_NAMES, PROFILES, profileNamed, type ProfileName } from '../config/profiles.js';
import { HotpathError } from '../errors.js';

/** `text` in lines of at most `width` columns, each after `indent` spaces. */
const wrap = (text: string, indent: number, width = 94): string => {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.map((l) => `${' '.repeat(indent)}${l}`).join('\n');
};

const SERVE_USAGE = `usage: hotpath serve [--config hotpath.yaml] [--profile default|edge] [--port P] [--host H] [--demo]
                     [--data-dir DIR [--discard-state]]

  --config F        config file (default hotpath.yaml)
  --profile P       defaults for the kind of machine (a value the config sets wins; docs/edge.md):
${PROFILE_NAMES.map((n) => `                      ${n}:\n${wrap(PROFILES[n].about, 24)}`).join('\n')}
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
async function usage(): Promise<string> {
  const [{ BENCH_USAGE }, { EVAL_USAGE }, { KEYS_USAGE }, { MIRROR_USAGE }] = await Promise.all([import('./bench.js'), import('./eval.js'), import('./keys.js'), import('./mirror.js')]);
  return `${SERVE_USAGE}\n${ROUTES_USAGE}\n${BENCH_USAGE}\n${EVAL_USAGE}\n${KEYS_USAGE}\n${MIRROR_USAGE}`;
}

/** Names a flag answers to: V8 takes --a-b and --a_b alike. */
const flagName = (arg: string): string => arg.split('=')[0].replace(/_/g, '-');

/**
 * Sets the profile's V8 flags (profiles.ts v8Flags) at run time, before the rest of hotpath
 * is loaded. A flag on the command line or in NODE_OPTIONS that sizes the same thing wins:
 * the profile's flag is then left out. Returns the flags set.
 */
function applyV8Flags(profile: ProfileName): string[] {
  const given = new Set([...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  const set: string[] = [];
  for (const f of PROFILES[profile].v8Flags) {
    if (f.unless.some((name) => given.has(name))) continue;
    v8.setFlagsFromString(f.flag);
    set.push(f.flag);
  }
  return set;
}

async function routes(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(ROUTES_USAGE);
    return;
  }
  const [{ DEFAULT_MAX_BODY_BYTES, loadConfigFile }, { printRoutes }] = await Promise.all([import('../config/load.js'), import('../server/routes/index.js')]);
  const file = values.config ?? (existsSync('hotpath.yaml') ? 'hotpath.yaml' : undefined);
  const config = file ? loadConfigFile(file) : undefined;
  process.stdout.write(printRoutes(config?.server.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, config?.limits.wsFrameBytes));
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', default: 'hotpath.yaml' },
      profile: { type: 'string', default: 'default' },
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
  const profile = profileNamed(values.profile!);
  const v8Flags = applyV8Flags(profile);
  const portText = values.port ?? process.env.HOTPATH_PORT;
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new HotpathError('HP_ERR_CONFIG_INVALID', `--port / HOTPATH_PORT must be an integer 0..65535, got '${portText}'`);
  }
  const [{ loadConfigFile }, { startServer }, { backends }] = await Promise.all([import('../config/load.js'), import('../server/app.js'), import('../native/binding.js')]);
  const config = loadConfigFile(values.config!, { profile });
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
  const workers = config.server.workers === 0 ? 'inference on the main thread' : `${config.server.workers} inference worker${config.server.workers === 1 ? '' : 's'}`;
  console.log(`hotpath listening on ${running.scheme}://${values.host ?? config.server.host}:${running.port} (backends: cpu, ${cuda}; auth ${config.auth ? 'on' : 'off'}; profile ${profile}: ${workers}${v8Flags.length ? `, V8 ${v8Flags.join(' ')}` : ''})`);
  console.log(`entities: ${config.entities.map((e) => `${e.name} [${e.features.map((f) => f.name).join(', ')}]`).join('; ')}`);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'serve') return serve(rest);
  if (command === 'routes') return routes(rest);
  if (command === 'bench') return (await import('./bench.js')).bench(rest);
  if (command === 'keys') return (await import('./keys.js')).keys(rest);
  if (command === 'eval') return (await import('./eval.js')).evaluate(rest);
  if (command === 'mirror') return (await import('./mirror.js')).mirror(rest);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(await usage());
    return;
  }
  process.stderr.write(`hotpath: unknown command '${command}'\n${await usage()}`);
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
