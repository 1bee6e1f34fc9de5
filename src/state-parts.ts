// Named state parts in one buffer: the format of the snapshot parts that hold several
// components by name (`learning`, `recommend`, `bandits`): a magic word, a count, then per
// part its name's length and UTF-8 bytes and its bytes' length and bytes (u32 little
// endian). The components keep their own formats inside.

/** [name, bytes] pairs as one buffer, tagged with `magic`. */
export function packParts(magic: number, parts: readonly (readonly [string, Uint8Array])[]): Uint8Array {
  const names = parts.map(([n]) => Buffer.from(n));
  const out = Buffer.alloc(8 + parts.reduce((s, [, b], i) => s + 8 + names[i].length + b.length, 0));
  out.writeUInt32LE(magic, 0);
  out.writeUInt32LE(parts.length, 4);
  let at = 8;
  parts.forEach(([, b], i) => {
    out.writeUInt32LE(names[i].length, at);
    names[i].copy(out, at + 4);
    at += 4 + names[i].length;
    out.writeUInt32LE(b.length, at);
    out.set(b, at + 4);
    at += 4 + b.length;
  });
  return out;
}

/**
 * The pairs of a packParts buffer; each part a copy (a component may keep a view of it).
 * An empty buffer has none; one without `magic`, or cut short, throws an Error naming `what`.
 */
export function unpackParts(magic: number, bytes: Uint8Array, what: string): [string, Uint8Array][] {
  if (bytes.length === 0) return [];
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 8 || b.readUInt32LE(0) !== magic) throw new Error(`not a ${what} state`);
  const n = b.readUInt32LE(4);
  const out: [string, Uint8Array][] = [];
  let at = 8;
  for (let i = 0; i < n; i++) {
    if (at + 4 > b.length) throw new Error(`the ${what} state is cut short`);
    const nl = b.readUInt32LE(at);
    if (at + 8 + nl > b.length) throw new Error(`the ${what} state is cut short`);
    const name = b.toString('utf8', at + 4, at + 4 + nl);
    at += 4 + nl;
    const bl = b.readUInt32LE(at);
    if (at + 4 + bl > b.length) throw new Error(`the ${what} state is cut short`);
    out.push([name, new Uint8Array(b.subarray(at + 4, at + 4 + bl))]);
    at += 4 + bl;
  }
  return out;
}
