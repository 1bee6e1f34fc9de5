// The crash test (src/bench/crash.ts) against the sources: a server in a child process
// ingesting over HTTP and binary WebSocket is killed with SIGKILL at 20 random moments and
// restarted each time; with fsync: always, every acknowledged event is in the features at
// the end, and no event is counted twice.
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { runCrash } from '../../src/bench/crash.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('kill -9 under load', () => {
  it('loses no acknowledged event over 20 kills with fsync: always', async () => {
    const lines: string[] = [];
    const r = await runCrash({
      root, entry: ['--import', 'tsx', 'src/cli/main.ts'], fsync: 'always', kills: 20, port: 20000 + Math.floor(Math.random() * 20000),
      seed: 7, entities: 500, loadMs: [100, 400], log: (l) => lines.push(l),
    });
    expect(r.kills).toHaveLength(20);
    expect(r.acked).toBeGreaterThan(1000);
    expect(r.violations, lines.join('\n')).toEqual([]);
    expect(r.lost).toBe(0);
    expect(r.recovered).toBeGreaterThanOrEqual(r.acked);
    expect(r.recovered).toBeLessThanOrEqual(r.acked + r.unknown);
  }, 240_000);
});
