// The log's helpers (src/server/observe/logger.ts): credentials blanked from any line, a
// module's line as a JSON entry with its component and level, and the client's request id.
import { describe, expect, it } from 'vitest';

import { checkRequestId, createLogger, levelOf, lineLog, newRequestId, redact } from '../../src/server/observe/logger.js';

describe('redact', () => {
  const SECRET = 'hp_s3cr3tK3yValue_abcdefgh';
  const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzY29wZSI6ImFkbWluIn0.c2lnbmF0dXJlLWJ5dGVz';
  it.each([
    [`authorization: Bearer ${SECRET}`, SECRET],
    [`x-api-key: ${SECRET}`, SECRET],
    [`GET /dashboard?key=${SECRET}&x=1`, SECRET],
    [`token ${JWT} refused`, JWT],
    [`redis: cannot reach redis://default:${SECRET}@10.0.0.1:6379/0`, SECRET],
    [`{"password":"${SECRET}"}`, SECRET],
    [`a key ${SECRET} in free text`, SECRET],
  ])('blanks the credential in %j', (line, secret) => {
    const out = redact(line);
    expect(out).not.toContain(secret);
    expect(out).toContain('redacted');
  });

  it('leaves a line without credentials alone', () => {
    const line = 'redis: online store: warmed 1200 entities in 35 ms';
    expect(redact(line)).toBe(line);
  });
});

describe('lineLog', () => {
  it('writes a module\'s line as JSON: its prefix the component, a level from its words', () => {
    const out: string[] = [];
    const log = lineLog(createLogger({ level: 'info' }, { write: (s) => out.push(s) }));
    log('redis: online store: warmed 3 entities in 1 ms');
    log('hotpath: warning: listening on 0.0.0.0:1 with auth off');
    log('internal error: Error: boom');
    log('durability: snapshot failed: ENOSPC');
    const lines = out.map((s) => JSON.parse(s));
    expect(lines[0]).toMatchObject({ level: 'info', component: 'redis', msg: 'online store: warmed 3 entities in 1 ms' });
    expect(typeof lines[0].time).toBe('string');
    expect(lines[1]).toMatchObject({ level: 'warn', component: 'hotpath' });
    expect(lines[2]).toMatchObject({ level: 'error', component: 'hotpath', msg: 'internal error: Error: boom' });
    expect(lines[3]).toMatchObject({ level: 'error', component: 'durability' });
  });

  it('drops lines below the level', () => {
    const out: string[] = [];
    const log = lineLog(createLogger({ level: 'warn' }, { write: (s) => out.push(s) }));
    log('redis: connected');
    log('redis: the shared log is not reachable yet');
    expect(out.map((s) => JSON.parse(s).level)).toEqual(['warn']);
    expect(levelOf('x: all good')).toBe('info');
  });
});

describe('request ids', () => {
  it('takes a printable id of at most 128 characters, refuses others', () => {
    expect(checkRequestId('req-42_abc.DEF:1')).toBe('req-42_abc.DEF:1');
    expect(checkRequestId('a'.repeat(128))).toBe('a'.repeat(128));
    for (const bad of ['', 'a'.repeat(129), 'has space', 'quote"d', 'tab\t', 'bell\u0007', 'é', 'back\\slash']) expect(checkRequestId(bad)).toBe('');
    expect(newRequestId()).toMatch(/^[0-9a-f]{16}$/);
    expect(newRequestId()).not.toBe(newRequestId());
  });
});
