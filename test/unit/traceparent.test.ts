// W3C traceparent as the server reads it (src/server/observe/traceparent.ts): the spec's
// valid and invalid headers, and the ids of a valid one.
import { describe, expect, it } from 'vitest';

import { checkTraceparent, formatTraceparent, PARENT_NONE, PARENT_SAMPLED, PARENT_UNSAMPLED, parentIdOf, traceIdOf } from '../../src/server/observe/traceparent.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('traceparent', () => {
  it('reads a valid header: sampled or not, and its ids', () => {
    const h = `00-${TRACE}-${PARENT}-01`;
    expect(checkTraceparent(h)).toBe(PARENT_SAMPLED);
    expect(checkTraceparent(`00-${TRACE}-${PARENT}-00`)).toBe(PARENT_UNSAMPLED);
    // other flag bits are not the sampled bit
    expect(checkTraceparent(`00-${TRACE}-${PARENT}-02`)).toBe(PARENT_UNSAMPLED);
    expect(checkTraceparent(`00-${TRACE}-${PARENT}-03`)).toBe(PARENT_SAMPLED);
    expect(checkTraceparent(`00-${TRACE}-${PARENT}-ff`)).toBe(PARENT_SAMPLED);
    expect(traceIdOf(h)).toBe(TRACE);
    expect(parentIdOf(h)).toBe(PARENT);
    expect(formatTraceparent(TRACE, PARENT)).toBe(h);
  });

  it('reads a later version as version 00 (the spec\'s rule), longer when a dash follows', () => {
    expect(checkTraceparent(`01-${TRACE}-${PARENT}-01`)).toBe(PARENT_SAMPLED);
    expect(checkTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-holds`)).toBe(PARENT_SAMPLED);
    expect(checkTraceparent(`cc-${TRACE}-${PARENT}-01x`)).toBe(PARENT_NONE);
  });

  it.each([
    ['empty', ''],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['version 00 with more after it', `00-${TRACE}-${PARENT}-01-extra`],
    ['a short trace id', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['a non-hex character', `00-${TRACE.slice(0, 31)}g-${PARENT}-01`],
    ['a missing dash', `00_${TRACE}-${PARENT}-01`],
    ['non-hex flags', `00-${TRACE}-${PARENT}-0x`],
    ['a non-hex version', `0g-${TRACE}-${PARENT}-01`],
    ['spaces around it', ` 00-${TRACE}-${PARENT}-01`],
  ])('ignores %s', (_why, h) => {
    expect(checkTraceparent(h)).toBe(PARENT_NONE);
  });
});
