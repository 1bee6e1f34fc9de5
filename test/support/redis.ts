// Real Redis servers for the tests: redis-server started on a free local port in a
// temporary directory (AOF on, fsync always, so that a SIGKILLed server keeps what it
// acknowledged), killed and restarted on the same port and files; and a three-node Redis
// Cluster made with `redis-cli --cluster create`. Tests that need one skip, with a line
// saying why, only where redis-server is absent and HOTPATH_CI is not set: .ci/run
// installs it, so there they run.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0;
/** true: run the Redis tests (redis-server is here, or CI says it must be) */
export const RUN_REDIS = HAVE_REDIS || process.env.HOTPATH_CI === '1';
if (!RUN_REDIS) console.warn('redis-server / redis-cli not found: the Redis shared-log tests are skipped (apt-get install redis-server redis-tools; CI installs them)');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether `port` can be bound on 127.0.0.1 now. */
async function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (port + 10000, Redis Cluster's) is free too. */
async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 <= 65_535 && (await bindable(port + 10_000))) return port;
  }
}

/**
 * PING on a raw socket until +PONG (a server that is loading its AOF answers -LOADING);
 * throws at once when `alive` says the server is gone (it could not bind its port).
 */
export async function waitPong(port: number, timeoutMs = 10_000, alive: () => boolean = () => true): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      let buf = '';
      sock.setTimeout(500, () => {
        sock.destroy();
        resolve(false);
      });
      sock.on('connect', () => sock.write('PING\r\n'));
      sock.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('\r\n')) {
          sock.destroy();
          resolve(buf.startsWith('+PONG'));
        }
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error(`redis on port ${port} exited before it answered PING`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`redis on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export class RedisProcess {
  readonly port: number;
  readonly dir: string;
  readonly extra: string[];
  #proc: ChildProcess | undefined;

  private constructor(port: number, dir: string, extra: string[]) {
    this.port = port;
    this.dir = dir;
    this.extra = extra;
  }

  /**
   * A redis-server on a free port (or `port`), its files in a new temporary directory. A free
   * port can be taken by another process before the server binds it (and a cluster node needs
   * port + 10000 too): a server that exits before it answers is started again on another port.
   */
  static async start(o: { port?: number; extra?: string[] } = {}): Promise<RedisProcess> {
    const cluster = (o.extra ?? []).includes('--cluster-enabled');
    for (let attempt = 1; ; attempt++) {
      const port = o.port ?? (cluster ? await freeClusterPort() : await freePort());
      const r = new RedisProcess(port, mkdtempSync(join(tmpdir(), 'hotpath-redis-')), o.extra ?? []);
      try {
        await r.restart();
        return r;
      } catch (err) {
        await r.stop(); // its directory too: a cluster node's nodes.conf names the port it had
        if (o.port !== undefined || attempt === 3) throw err;
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** (Re)starts the server on its port and files: what its AOF holds comes back. */
  async restart(): Promise<void> {
    if (this.running) throw new Error('redis is running');
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always',
      '--protected-mode', 'no', '--logfile', join(this.dir, 'redis.log'), ...this.extra,
    ];
    this.#proc = spawn('redis-server', args, { stdio: 'ignore' });
    await waitPong(this.port, 10_000, () => this.running);
  }

  /** SIGKILL (a crash) or SIGTERM; resolves once the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.#proc;
    if (!p || !this.running) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await gone;
  }

  /** redis-cli against this server; returns its output. */
  cli(...args: string[]): string {
    return execFileSync('redis-cli', ['-p', String(this.port), ...args]).toString();
  }

  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Three masters on free ports, joined with `redis-cli --cluster create`, all slots covered. */
export class RedisCluster {
  readonly nodes: RedisProcess[];

  private constructor(nodes: RedisProcess[]) {
    this.nodes = nodes;
  }

  static async start(n = 3): Promise<RedisCluster> {
    const nodes: RedisProcess[] = [];
    for (let i = 0; i < n; i++)
      nodes.push(await RedisProcess.start({ extra: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }));
    execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((x) => `127.0.0.1:${x.port}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'pipe' });
    const c = new RedisCluster(nodes);
    const t0 = Date.now();
    while (!nodes.every((x) => /cluster_state:ok/.test(x.cli('CLUSTER', 'INFO')))) {
      if (Date.now() - t0 > 15_000) throw new Error('the cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
    return c;
  }

  get seeds(): string[] {
    return this.nodes.map((x) => `127.0.0.1:${x.port}`);
  }

  /** The node that serves key's slot. */
  nodeOf(key: string): RedisProcess {
    const slot = Number(this.nodes[0].cli('CLUSTER', 'KEYSLOT', key).trim());
    const slots = this.nodes[0].cli('CLUSTER', 'SLOTS');
    // redis-cli prints each range as start, end, then the node's ip and port on their own lines
    const lines = slots.split('\n').map((l) => l.trim()).filter(Boolean);
    for (let i = 0; i + 3 < lines.length; i++) {
      const start = Number(lines[i]);
      const end = Number(lines[i + 1]);
      if (Number.isInteger(start) && Number.isInteger(end) && lines[i + 2] === '127.0.0.1' && slot >= start && slot <= end) {
        const port = Number(lines[i + 3]);
        const node = this.nodes.find((x) => x.port === port);
        if (node) return node;
      }
    }
    throw new Error(`no node serves slot ${slot}`);
  }

  async stop(): Promise<void> {
    for (const x of this.nodes) await x.stop();
  }
}
