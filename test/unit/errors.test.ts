// The error registry: well-formed codes and statuses, every code documented in
// docs/errors.md, and one HP_ERR_NATIVE_<NAME> code per status the native addon can raise.
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { ERRORS, HotpathError, isErrorCode, toHotpathError } from '../../src/errors.js';
import { constants } from '../../src/native/binding.js';

const DOC = readFileSync(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), 'utf8');
const CODES = Object.keys(ERRORS) as (keyof typeof ERRORS)[];

describe('ERRORS', () => {
  it('has codes of the form HP_ERR_[A-Z_]+', () => {
    expect(CODES.length).toBeGreaterThan(0);
    for (const code of CODES) expect(code).toMatch(/^HP_ERR_[A-Z_]+$/);
  });

  it('maps every code to a valid HTTP error status', () => {
    for (const code of CODES) {
      const { status } = ERRORS[code];
      expect(Number.isInteger(status), code).toBe(true);
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThanOrEqual(599);
      expect(STATUS_CODES[status], `${code}: ${status} is not a known HTTP status`).toBeDefined();
    }
  });

  it('describes every code', () => {
    for (const code of CODES) expect(ERRORS[code].about.length, code).toBeGreaterThan(0);
  });

  it('has an HP_ERR_NATIVE_<NAME> code for each status the addon exports (except OK)', () => {
    const names = constants.statuses.filter((s) => s !== 'OK');
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(isErrorCode(`HP_ERR_NATIVE_${name}`), `HP_ERR_NATIVE_${name}`).toBe(true);
  });

  it('has no HP_ERR_NATIVE_* code the addon cannot raise', () => {
    const names = new Set(constants.statuses);
    for (const code of CODES.filter((c) => c.startsWith('HP_ERR_NATIVE_')))
      expect(names.has(code.slice('HP_ERR_NATIVE_'.length)), code).toBe(true);
  });
});

describe('docs/errors.md', () => {
  it('documents every code', () => {
    for (const code of CODES) expect(DOC, `${code} is missing from docs/errors.md`).toContain(`\`${code}\``);
  });

  it("gives each code's status in its table row", () => {
    for (const code of CODES) {
      const row = DOC.split('\n').find((line) => line.startsWith(`| \`${code}\``));
      expect(row, `no table row for ${code}`).toBeDefined();
      const cells = row!.split('|').map((c) => c.trim());
      expect(cells[2], code).toBe(String(ERRORS[code].status));
    }
  });

  it('names no code that ERRORS lacks', () => {
    // A prefix such as `HP_ERR_NATIVE_<NAME>` (ending in _) names a family, not a code.
    const named = new Set((DOC.match(/HP_ERR_[A-Z_]+/g) ?? []).filter((c) => !c.endsWith('_')));
    for (const code of named) expect(isErrorCode(code), `docs/errors.md names unknown code ${code}`).toBe(true);
  });
});

describe('HotpathError', () => {
  it('serialises as {"error": {code, message, ...details}} with the status of its code', () => {
    const e = new HotpathError('HP_ERR_EVENT_INVALID', "event 3: missing field 'amount'", { index: 3 });
    expect(e.status).toBe(400);
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      error: { code: 'HP_ERR_EVENT_INVALID', message: "event 3: missing field 'amount'", index: 3 },
    });
  });

  it('keeps a native code and turns anything else into HP_ERR_INTERNAL', () => {
    const native = Object.assign(new Error('this store handle is read-only'), { code: 'HP_ERR_NATIVE_UNAVAILABLE' });
    expect(toHotpathError(native)).toMatchObject({ code: 'HP_ERR_NATIVE_UNAVAILABLE', status: 503 });
    expect(toHotpathError(new TypeError('boom'))).toMatchObject({ code: 'HP_ERR_INTERNAL', status: 500, message: 'boom' });
    expect(toHotpathError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toMatchObject({ code: 'HP_ERR_INTERNAL' });
  });
});
