// WebSocket /v1/ws fuzzing: frames from WS_SEEDS (text JSON and binary PREDICT / EVENTS,
// EVENTS with bad rows), mutated, sent on keep-open connections with a window of frames
// in flight. Every frame must get exactly one answer carrying the id the server can read
// from it (a binary frame's u32 at byte 4, 0 when shorter than the header; a text frame's
// `id`, null when it has none or is not a JSON object), so answers are paired with frames
// by id and an answer for an id not in flight is a failure. Frames the server may refuse
// by closing (text that is not UTF-8, frames over server.max_body_bytes) go alone on a
// connection. A last lane speaks the WebSocket framing itself over a raw socket and
// mangles it (opcodes, lengths, masks, reserved bits): uWS's parser must close, not crash.
import { connect } from 'node:net';

import WebSocket from 'ws';

import { decodeServerFrame } from '../../src/server/ws-protocol.js';
import { MAX_BODY_BYTES } from './config.js';
import { type Json, mutateBytes, mutateJson, mutateJsonText, randomJson, type Rng, stringifyJson } from './mutate.js';
import { judgeWsCode } from './oracle.js';
import { WS_SEEDS } from './seeds.js';

export interface WsFrame {
  kind: string;
  mutations: string[];
  data: Buffer;
  binary: boolean;
  /** the id its answer must carry: "b:<u32>" or "t:<JSON>" */
  expect: string;
  /** the server may close the connection instead of answering */
  mayClose: boolean;
}

// ignoreBOM: a leading U+FEFF stays in the text, as the server's Buffer#toString keeps it (JSON.parse then refuses it).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The id a text frame's answer carries: its `id` when that is a number or a string, else null. */
function textExpect(data: Buffer): { expect: string; valid: boolean } {
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { expect: 't:null', valid: false };
  }
  try {
    const f = JSON.parse(text);
    const id: unknown = f !== null && typeof f === 'object' && !Array.isArray(f) ? f.id : null;
    return { expect: `t:${typeof id === 'number' || typeof id === 'string' ? JSON.stringify(id) : 'null'}`, valid: true };
  } catch {
    return { expect: 't:null', valid: true };
  }
}

export function wsFrame(rng: Rng, id: number): WsFrame {
  const kinds = Object.keys(WS_SEEDS);
  const kind = kinds[rng.weighted(kinds.map((k) => WS_SEEDS[k].weight))];
  const seed = WS_SEEDS[kind].seed(rng, id);
  const mutations: string[] = [];
  let data: Buffer;
  let binary: boolean;
  const n = rng.weighted([15, 50, 25, 10]);
  if ('text' in seed) {
    binary = false;
    let text = seed.text;
    let bytes: Buffer | undefined;
    for (let i = 0; i < n; i++) {
      const op = rng.pick(['json', 'json', 'json-text', 'bytes', 'random']);
      mutations.push(op);
      if (op === 'json') {
        try {
          text = stringifyJson(mutateJson(rng, JSON.parse(bytes ? bytes.toString('utf8') : text) as Json));
          bytes = undefined;
        } catch {
          text = bytes ? bytes.toString('utf8') : text;
        }
      } else if (op === 'json-text') text = mutateJsonText(rng, bytes ? bytes.toString('utf8') : text);
      else if (op === 'bytes') bytes = mutateBytes(rng, bytes ?? Buffer.from(text));
      else text = rng.chance(0.5) ? (JSON.stringify(randomJson(rng, 3)) ?? '') : rng.bytes(rng.size(64)).toString('utf8');
      if (op !== 'bytes') bytes = undefined;
    }
    data = bytes ?? Buffer.from(text);
  } else {
    binary = true;
    data = Buffer.from(seed.binary);
    for (let i = 0; i < n; i++) {
      const op = rng.pick(['bytes', 'bytes', 'bytes', 'header', 'random', 'truncate']);
      mutations.push(op);
      if (op === 'bytes') data = mutateBytes(rng, data);
      else if (op === 'header' && data.length >= 4) data[rng.int(4)] = rng.pick([0, 1, 2, 3, 129, 255, rng.int(256)]);
      else if (op === 'random') data = rng.bytes(rng.size(256));
      else data = data.subarray(0, rng.int(data.length + 1));
    }
  }
  const t = binary ? { expect: `b:${data.length >= 8 ? data.readUInt32LE(4) : 0}`, valid: true } : textExpect(data);
  return { kind, mutations: mutations.length > 0 ? mutations : ['valid'], data, binary, expect: t.expect, mayClose: !t.valid || data.length > MAX_BODY_BYTES };
}

export interface WsHooks {
  next(): WsFrame | undefined;
  /** outcome: "ok", an error code, or "closed" */
  answer(f: WsFrame, outcome: string): void;
  fail(f: WsFrame | undefined, why: string): void;
  stopped(): boolean;
}

/** The id and outcome of a server frame, in the form WsFrame.expect uses. */
function readAnswer(data: Buffer, isBinary: boolean): { key: string; outcome: string } {
  if (isBinary) {
    const f = decodeServerFrame(data);
    return { key: `b:${f.id}`, outcome: f.op === 'error' ? f.code : 'ok' };
  }
  const f = JSON.parse(data.toString('utf8')) as { id: unknown; ok: boolean; error?: { code: string } };
  return { key: `t:${typeof f.id === 'number' || typeof f.id === 'string' ? JSON.stringify(f.id) : `${JSON.stringify(f.id ?? null).slice(0, 50)}`}`, outcome: f.ok ? 'ok' : (f.error?.code ?? 'no code') };
}

/** How a connection presents its credential: upgrade headers, or subprotocols (browsers). */
export type WsAuth = { headers: Record<string, string> } | { protocols: string[] };

/** A connection with up to `window` frames in flight; `solo`: one frame per connection. */
export function wsLane(port: number, window: number, hooks: WsHooks, hangMs: number, auth: WsAuth, solo = false): Promise<void> {
  return new Promise((resolve) => {
    let ws: WebSocket;
    const inFlight = new Map<string, WsFrame[]>();
    let count = 0;
    let lastProgress = Date.now();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(watchdog);
      ws.terminate();
      resolve();
    };
    const first = (): WsFrame | undefined => inFlight.values().next().value?.[0];
    const open = () => {
      const o = { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 };
      ws = 'protocols' in auth ? new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, auth.protocols, o) : new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, { ...o, headers: auth.headers });
      ws.on('open', pump);
      ws.on('error', () => {});
      ws.on('message', onMessage);
      ws.on('close', onClose);
    };
    const pump = () => {
      if (hooks.stopped()) return finish();
      while (count < (solo ? 1 : window)) {
        const f = hooks.next();
        if (!f) break;
        const list = inFlight.get(f.expect);
        if (list) list.push(f);
        else inFlight.set(f.expect, [f]);
        if (count++ === 0) lastProgress = Date.now();
        ws.send(f.data, { binary: f.binary });
      }
      if (count === 0) finish();
    };
    const onMessage = (data: Buffer, isBinary: boolean) => {
      lastProgress = Date.now();
      // An alert pushed to a subscribed connection answers no frame: check its shape only.
      if (!isBinary && data.subarray(0, 18).toString('latin1') === '{"topic":"alerts",') {
        const push = JSON.parse(data.toString('utf8')) as { alert?: { id?: unknown; state?: unknown } };
        if (typeof push.alert?.id !== 'number' || typeof push.alert.state !== 'string') hooks.fail(first(), `a malformed alert push ${data.toString('utf8', 0, 200)}`);
        return;
      }
      let a: { key: string; outcome: string };
      try {
        a = readAnswer(data, isBinary);
      } catch (err) {
        hooks.fail(first(), `unreadable answer ${JSON.stringify(data.toString('latin1', 0, 200))}: ${(err as Error).message}`);
        return finish();
      }
      const list = inFlight.get(a.key);
      if (!list) {
        hooks.fail(first(), `an answer for id ${a.key}, which no frame in flight carries (in flight: ${[...inFlight.keys()].slice(0, 10).join(', ')})`);
        return finish();
      }
      const f = list.shift()!;
      if (list.length === 0) inFlight.delete(a.key);
      count--;
      const bad = a.outcome === 'ok' ? undefined : judgeWsCode(a.outcome);
      if (bad) hooks.fail(f, bad);
      hooks.answer(f, a.outcome);
      if (solo) {
        ws.close();
        return;
      }
      pump();
    };
    const onClose = (code: number) => {
      if (done) return;
      if (count > 0) {
        const f = first()!;
        if (!(solo && f.mayClose)) {
          hooks.fail(f, `the server closed the connection (${code}) with ${count} frames unanswered`);
          return finish();
        }
        hooks.answer(f, `closed ${code}`);
        inFlight.clear();
        count = 0;
      }
      open();
    };
    const watchdog = setInterval(() => {
      if (hooks.stopped()) return finish();
      if (count > 0 && Date.now() - lastProgress > hangMs) {
        hooks.fail(first(), `no answer within ${hangMs} ms (${count} frames in flight)`);
        finish();
      }
    }, 200);
    open();
  });
}

/**
 * WebSocket clients that go away: `n` connections, each sending a few frames (predicts
 * among them) and terminating before their answers. Resolves with the frames sent.
 */
export async function wsVanishing(port: number, rng: Rng, n: number, headers: Record<string, string>, stopped: () => boolean): Promise<number> {
  let frames = 0;
  for (let c = 0; c < n && !stopped(); c++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, { perMessageDeflate: false, headers });
    ws.on('error', () => {});
    await new Promise<void>((resolve) => {
      ws.on('open', () => {
        for (let k = rng.int(20); k > 0; k--, frames++) {
          const f = wsFrame(rng, k);
          if (!f.mayClose) ws.send(f.data, { binary: f.binary });
        }
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, rng.int(3));
      });
      ws.on('close', () => resolve());
    });
  }
  return frames;
}

const handshake = (headers: Record<string, string>) =>
  `GET /v1/ws HTTP/1.1\r\nhost: fuzz\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;

/** A client frame as RFC 6455 lays it out (masked), before mangling. */
function encodeWire(opcode: number, payload: Buffer, mask: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]) : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), Buffer.from(new BigUint64Array([BigInt(len)]).buffer).reverse()]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

/**
 * `n` raw WebSocket connections, each a handshake and a few frames with mangled framing
 * (then a half-close). Resolves with the number of frames sent; fails on a connection that
 * neither closes nor finishes within hangMs.
 */
export async function wsRawLane(port: number, rng: Rng, n: number, headers: Record<string, string>, hooks: Pick<WsHooks, 'fail' | 'stopped'>, hangMs: number): Promise<number> {
  let frames = 0;
  for (let c = 0; c < n && !hooks.stopped(); c++) {
    const parts: Buffer[] = [];
    for (let k = 1 + rng.int(4); k > 0; k--, frames++) {
      const opcode = rng.pick([0, 1, 2, 8, 9, 10, 3, 7, 11, 15]);
      const payload = opcode === 1 ? Buffer.from(JSON.stringify({ id: k, op: 'predict', model: 'fraud' })) : rng.bytes(rng.size(300));
      parts.push(mutateBytes(rng, encodeWire(opcode, payload, rng.bytes(4)), 3));
    }
    const wire = Buffer.concat(parts);
    await new Promise<void>((resolve) => {
      const sock = connect({ port, host: '127.0.0.1' }, () => {
        sock.write(handshake(headers));
        sock.end(wire);
      });
      const timer = setTimeout(() => {
        hooks.fail(undefined, `a raw WebSocket connection neither closed nor finished within ${hangMs} ms; it sent ${JSON.stringify(wire.toString('base64'))}`);
        sock.destroy();
        resolve();
      }, hangMs);
      sock.on('data', () => {});
      sock.on('error', () => {});
      sock.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  return frames;
}
