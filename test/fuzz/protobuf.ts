// Structure-aware mutation of protobuf files (ONNX models) for the reader fuzzer: the bytes
// are read as a tree of fields (a length-delimited field that parses whole as a message is
// a sub-message), one field of the tree is changed (a varint such as a dim or a data type
// set to an odd value, a field dropped, duplicated, renumbered or given another wire
// type, its bytes mutated), and the tree is written back with every length recomputed.
// Byte-level mutation alone mostly breaks the framing; this reaches the code behind it.
import { INTERESTING_NUMBERS, mutateBytes, type Rng } from './mutate.js';

export interface PbField {
  no: number;
  wt: number;
  /** varint value (wire type 0) */
  v: bigint;
  /** the bytes of wire types 1, 2 and 5 */
  bytes: Uint8Array;
  /** a length-delimited field that parses as a message */
  msg?: PbField[];
}

function varint(b: Uint8Array, pos: { at: number }): bigint | undefined {
  let r = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos.at >= b.length) return undefined;
    const x = b[pos.at++];
    r |= BigInt(x & 0x7f) << BigInt(7 * i);
    if ((x & 0x80) === 0) return BigInt.asUintN(64, r);
  }
  return undefined;
}

/** The fields of a message, or undefined when the bytes are not one. */
export function pbParse(b: Uint8Array, depth = 0): PbField[] | undefined {
  const out: PbField[] = [];
  const pos = { at: 0 };
  while (pos.at < b.length) {
    const tag = varint(b, pos);
    if (tag === undefined || tag >> 3n === 0n) return undefined;
    const no = Number(tag >> 3n);
    const wt = Number(tag & 7n);
    const none = new Uint8Array(0);
    if (wt === 0) {
      const v = varint(b, pos);
      if (v === undefined) return undefined;
      out.push({ no, wt, v, bytes: none });
    } else if (wt === 1 || wt === 5) {
      const n = wt === 1 ? 8 : 4;
      if (pos.at + n > b.length) return undefined;
      out.push({ no, wt, v: 0n, bytes: b.subarray(pos.at, (pos.at += n)) });
    } else if (wt === 2) {
      const len = varint(b, pos);
      if (len === undefined || len > BigInt(b.length - pos.at)) return undefined;
      const bytes = b.subarray(pos.at, (pos.at += Number(len)));
      // Strings and packed numbers often parse as messages too; keeping both views lets a
      // mutation treat the field either way.
      const msg = depth < 12 && bytes.length > 0 ? pbParse(bytes, depth + 1) : undefined;
      out.push({ no, wt, v: 0n, bytes, msg });
    } else return undefined;
  }
  return out;
}

function putVarint(out: number[], v: bigint): void {
  let x = BigInt.asUintN(64, v);
  do {
    const byte = Number(x & 0x7fn);
    x >>= 7n;
    out.push(x === 0n ? byte : byte | 0x80);
  } while (x !== 0n);
}

export function pbWrite(fields: PbField[]): Uint8Array {
  const out: number[] = [];
  for (const f of fields) {
    putVarint(out, (BigInt(f.no) << 3n) | BigInt(f.wt));
    if (f.wt === 0) putVarint(out, f.v);
    else if (f.wt === 2) {
      const body = f.msg ? pbWrite(f.msg) : f.bytes;
      putVarint(out, BigInt(body.length));
      for (const x of body) out.push(x);
    } else for (const x of f.bytes) out.push(x);
  }
  return Uint8Array.from(out);
}

/** Every field of the tree with the list that holds it. */
function walk(fields: PbField[], out: { list: PbField[]; i: number }[] = []): { list: PbField[]; i: number }[] {
  fields.forEach((f, i) => {
    out.push({ list: fields, i });
    if (f.msg) walk(f.msg, out);
  });
  return out;
}

/** One structural mutation of a parsed message, in place; returns what it did. */
export function pbMutate(rng: Rng, root: PbField[]): string {
  const all = walk(root);
  if (all.length === 0) return 'empty';
  const { list, i } = rng.pick(all);
  const f = list[i];
  switch (rng.int(8)) {
    case 0:
    case 1: // a varint (dims, data types, versions, attribute ints) to an odd value
      if (f.wt === 0) {
        f.v = rng.chance(0.5) ? BigInt.asUintN(64, BigInt(Math.trunc(rng.pick(INTERESTING_NUMBERS)))) : f.v + BigInt(rng.pick([-1, 1, 2, 1000]));
        f.v = BigInt.asUintN(64, f.v);
        return 'varint';
      }
      f.bytes = mutateBytes(rng, f.bytes);
      f.msg = undefined;
      return 'bytes';
    case 2:
      list.splice(i, 1);
      return 'drop';
    case 3:
      list.splice(i, 0, structuredClone(f));
      return 'duplicate';
    case 4:
      f.no = rng.chance(0.5) ? f.no + rng.pick([-1, 1]) || 1 : 1 + rng.int(20);
      return 'renumber';
    case 5:
      f.wt = rng.pick([0, 1, 2, 5]);
      if (f.wt === 1) f.bytes = rng.bytes(8);
      if (f.wt === 5) f.bytes = rng.bytes(4);
      return 'wire type';
    case 6: { // move a field into another message
      const to = rng.pick(all.filter((x) => x.list[x.i].msg));
      if (to) to.list[to.i].msg!.push(list.splice(i, 1)[0]);
      return 'move';
    }
    default:
      if (f.msg && rng.chance(0.5)) f.msg.reverse();
      else {
        f.bytes = f.msg ? pbWrite(f.msg).subarray(0) : f.bytes;
        f.bytes = rng.chance(0.5) ? f.bytes.subarray(0, rng.int(f.bytes.length + 1)) : Buffer.concat([f.bytes, rng.bytes(1 + rng.int(16))]);
        f.msg = undefined;
      }
      return 'reshape';
  }
}
