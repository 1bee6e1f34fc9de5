// The named-parts format of the learning, recommend and bandits snapshot parts.
import { describe, expect, it } from 'vitest';

import { packParts, unpackParts } from '../../src/state-parts.js';

describe('packParts / unpackParts', () => {
  it('round-trips names (UTF-8) and bytes, each part a copy', () => {
    const parts: [string, Uint8Array][] = [['model:a', new Uint8Array([1, 2, 3])], ['é', new Uint8Array(0)], ['b', new Uint8Array([9])]];
    const bytes = packParts(0x41424331, parts);
    const back = unpackParts(0x41424331, bytes, 'test');
    expect(back).toEqual(parts);
    back[0][1][0] = 7;
    expect(bytes[8 + 4 + 7 + 4]).toBe(1);
    expect(unpackParts(0x41424331, new Uint8Array(0), 'test')).toEqual([]);
  });

  it('refuses another magic and a buffer cut short, naming the state', () => {
    const bytes = packParts(1, [['name', new Uint8Array([1, 2, 3, 4])]]);
    expect(() => unpackParts(2, bytes, 'bandits')).toThrow('not a bandits state');
    for (const cut of [bytes.length - 1, 10, 14]) expect(() => unpackParts(1, bytes.subarray(0, cut), 'bandits')).toThrow('bandits state is cut short');
  });
});
