// WebSocket /v1/ws: predict and event frames multiplexed on one connection, each with a
// client-chosen request id that its answer echoes. Text frames are JSON; binary frames use
// the compact encoding of ws-protocol.ts. Answers to predicts arrive in completion order,
// not request order. A bad frame gets an error frame; the connection stays open.
//
// Backpressure: an answer the socket cannot take at once is buffered by uWS
// (getBufferedAmount). A client that stops reading while it keeps sending would grow that
// buffer without end, so once it passes server.ws_max_buffered_bytes the connection is
// closed with 1008 and counted (hotpath_ws_slow_closes_total); nothing more is answered on
// it, and if the client does not take the close frame either, the socket is dropped
// WS_CLOSE_GRACE_MS later. `drain` clears the connection's backpressured state.
//
// Alerts: a JSON frame {"op": "subscribe", "topic": "alerts"} (scope alerts:read) subscribes
// the connection to the uWS topic "alerts"; each alert the hub raises is published to it
// once (app.publish: uWS writes it to every subscriber). A subscriber whose unsent data is
// past maxBackpressure (the limit above plus one frame) is skipped by uWS until it catches
// up: its buffer stays bounded, and the alerts it missed are in GET /v1/alerts.
import uWS from 'uWebSockets.js';

import { HotpathError, toHotpathError } from '../../errors.js';
import type { Ingested } from '../../ingest/ingestor.js';
import type { InferResult } from '../../runtime/inference.js';
import { nowMs } from '../../runtime/records.js';
import { sendError, toAnswer } from '../http.js';
import { predictJson } from '../predict.js';
import { addressKey, TokenBucket } from '../security/buckets.js';
import type { Caller } from '../security/caller.js';
import { selectProtocol } from '../security/policy.js';
import { routeClassIndex, type StageMarks } from '../stages.js';
import { decodeClientFrame, decodeEventsHeader, encodeError, encodeEventsResult, encodePredictResult, WS_OP } from '../ws-protocol.js';
import type { ServerContext } from './context.js';
import { type Admitted, OPEN_POLICY, type RouteInfo, type Scope } from './route.js';

/** The WebSocket route as the table lists it: the upgrade's scope, and the scope each frame op needs. */
export const wsRoute = {
  method: 'get',
  path: '/v1/ws',
  scope: 'open',
  frameScopes: ['events:write', 'predict:{model}', 'alerts:read'] as Scope[],
  body: 'none',
  about: 'WebSocket: predicts and events, JSON or binary frames; alert subscriptions (JSON)',
} satisfies RouteInfo & { frameScopes: Scope[]; body: 'none'; about: string };

/** WebSocket close code for a client that does not read its answers (RFC 6455: policy violation). */
export const WS_CLOSE_SLOW = 1008;
const WS_CLOSE_GRACE_MS = 2000;
const SEND_DROPPED = 2;

/** The uWS topic alerts are published on. */
export const ALERTS_TOPIC = 'alerts';

interface Conn {
  /** no more answers: closed by the client, or by us */
  closed: boolean;
  /** the socket is gone (the close handler ran): ws may not be touched */
  gone: boolean;
  backpressured: boolean;
  /** who opened it (undefined: auth is off); each frame's scope is checked against it */
  caller: Caller | undefined;
  /** the client address, counted in ctx.connections until the close handler runs */
  address: number | string;
  /** limits.ws_messages_per_second */
  frames: TokenBucket;
}

type Ws = uWS.WebSocket<Conn>;

/** WebSocket close code at shutdown (RFC 6455: going away). */
export const WS_CLOSE_GOING_AWAY = 1001;

/**
 * Mounts /v1/ws; closeAll() ends every open connection (shutdown, after the drain);
 * subscribers() counts the connections subscribed to alerts.
 */
export function mountWs(app: uWS.TemplatedApp, ctx: ServerContext): { closeAll(): void; subscribers(): number } {
  const { config, metrics, log } = ctx;
  const limit = config.server.wsMaxBufferedBytes;
  const open = new Set<Ws>();
  const subscribed = new Set<Ws>();
  const stopAlerts = ctx.alerts.subscribe((_alert, json) => {
    if (subscribed.size === 0) return;
    if (ctx.policy !== OPEN_POLICY) revokeSubscribers();
    app.publish(ALERTS_TOPIC, `{"topic":"${ALERTS_TOPIC}","alert":${json}}`, false);
  });

  /**
   * A publish reaches subscribers without a frame of theirs to check, so before each one
   * the subscribers whose key was removed or whose token expired are unsubscribed, with an
   * error frame (id null) saying why. Subscribers are few (dashboards, pagers).
   */
  const revokeSubscribers = (): void => {
    const now = ctx.clock.now;
    for (const ws of subscribed) {
      const conn = ws.getUserData();
      const c = conn.caller;
      if (c === undefined || (!c.revoked && now <= c.expiresMs)) continue;
      subscribed.delete(ws);
      ws.unsubscribe(ALERTS_TOPIC);
      const e = c.revoked
        ? new HotpathError('HP_ERR_AUTH_INVALID', 'the key this connection was opened with has been removed: unsubscribed from alerts')
        : new HotpathError('HP_ERR_AUTH_EXPIRED', 'the token this connection was opened with has expired: unsubscribed from alerts');
      metrics.authRefused(e.code);
      reply(ws, conn, JSON.stringify({ id: null, ok: false, topic: ALERTS_TOPIC, ...e.toJSON() }), false);
    }
  };

  const reply = (ws: Ws, conn: Conn, data: string | Uint8Array, binary: boolean): void => {
    if (conn.closed) return;
    const status = ws.send(data, binary);
    if (status === 1) return;
    // Buffered (0) or refused past uWS's own limit (2).
    if (status === SEND_DROPPED || ws.getBufferedAmount() > limit) {
      conn.closed = true;
      metrics.wsSlowClosed();
      ws.end(WS_CLOSE_SLOW, `answers not read: more than ${limit} bytes waiting (server.ws_max_buffered_bytes)`);
      setTimeout(() => conn.gone || ws.close(), WS_CLOSE_GRACE_MS).unref();
    } else if (!conn.backpressured) {
      conn.backpressured = true;
      metrics.wsBackpressured(1);
    }
  };

  const { limits } = config;
  const tooMany = () => {
    metrics.rateLimited('ws_connections', 'address');
    return new HotpathError('HP_ERR_CONNECTIONS_LIMITED', `this client address has ${limits.wsConnectionsPerAddress} WebSocket connections open (limits.ws_connections_per_address)`, { retry_after_s: 1 });
  };

  app.ws<Conn>(wsRoute.path, {
    compression: uWS.DISABLED,
    maxPayloadLength: limits.wsFrameBytes,
    idleTimeout: 120,
    // Above our limit by one frame, so that our check closes the connection first.
    maxBackpressure: limit + limits.wsFrameBytes,
    // Connections per client address are counted here: uWS has no hook for plain HTTP
    // connections (docs/security.md says what that leaves open).
    upgrade: (res, req, context) => {
      if (ctx.phase !== 'serving') {
        const e = new HotpathError('HP_ERR_NOT_READY', ctx.phase === 'starting' ? 'the server is starting' : 'the server is shutting down');
        res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('retry-after', '1').writeHeader('content-type', 'application/json').end(JSON.stringify(e.toJSON())));
        return;
      }
      const key = req.getHeader('sec-websocket-key');
      const protocol = selectProtocol(req.getHeader('sec-websocket-protocol'));
      const extensions = req.getHeader('sec-websocket-extensions');
      const address = addressKey(res.getRemoteAddress());
      if (ctx.connections.count(address) >= limits.wsConnectionsPerAddress) return sendError(res, tooMany(), log);
      let admitted: Admitted | void;
      if (ctx.policy !== OPEN_POLICY) {
        try {
          admitted = ctx.policy.upgrade ? ctx.policy.upgrade(wsRoute, req, res) : ctx.policy.admit(wsRoute, req, [], res);
        } catch (err) {
          return sendError(res, err, log);
        }
      }
      // (corked: the upgrade is written inside res.cork when it happens after the handler)
      const accept = (caller: Caller | undefined, corked: boolean): void => {
        if (!ctx.connections.add(address)) return sendError(res, tooMany(), log);
        const conn: Conn = { closed: false, gone: false, backpressured: false, caller, address, frames: new TokenBucket(limits.wsMessages, ctx.clock.now) };
        if (corked) res.upgrade<Conn>(conn, key, protocol, extensions, context);
        else res.cork(() => res.upgrade<Conn>(conn, key, protocol, extensions, context));
      };
      if (!(admitted instanceof Promise)) return accept(admitted ?? undefined, true);
      // A token seen for the first time: upgrade once it is verified, if the client is still there.
      res.onAborted(() => (res.aborted = true));
      admitted.then(
        (caller) => res.aborted || accept(caller ?? undefined, false),
        (err) => sendError(res, err, log),
      );
    },
    open: (ws) => {
      open.add(ws);
    },
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData();
      if (conn.closed) return;
      const wait = conn.frames.take(ctx.clock.now);
      if (wait > 0) return limited(ws, conn, message, isBinary, wait);
      if (isBinary) binaryFrame(ws, conn, new Uint8Array(message)); // read fully before returning: uWS neuters message after
      else textFrame(ws, conn, message);
    },
    drain: (ws) => {
      const conn = ws.getUserData();
      if (conn.backpressured && !conn.closed && ws.getBufferedAmount() === 0) {
        conn.backpressured = false;
        metrics.wsBackpressured(-1);
      }
    },
    close: (ws) => {
      open.delete(ws);
      subscribed.delete(ws);
      const conn = ws.getUserData();
      if (conn.backpressured) metrics.wsBackpressured(-1);
      conn.closed = true;
      conn.gone = true;
      ctx.connections.remove(conn.address);
    },
  });

  /** Frames that arrive while the server drains are refused: the drain must come to an end. */
  const refuseWhileDraining = (): void => {
    if (ctx.phase !== 'serving') throw new HotpathError('HP_ERR_NOT_READY', 'the server is shutting down');
  };

  /**
   * The answer to an events frame, once its log record is durable (at once without a log)
   * and, with a shared log, once Redis took its batches or ack_timeout passed (`shared`).
   */
  const ackEvents = (ws: Ws, conn: Conn, id: unknown, r: Ingested, binary: boolean): void => {
    const answer = (err: HotpathError | null, shared: boolean | undefined): void => {
      if (err) {
        const he = toAnswer(err, log);
        reply(ws, conn, binary ? encodeError(id as number, he.code, he.message) : JSON.stringify({ id, ok: false, ...he.toJSON() }), binary);
      } else
        reply(ws, conn, binary ? encodeEventsResult(id as number, r.accepted, r.late, shared) : JSON.stringify({ id, ok: true, accepted: r.accepted, late: r.late, duplicates: r.duplicates, shared }), binary);
    };
    if (r.seq === 0 && !r.shared) answer(null, undefined);
    else ctx.ingest.settle(r, answer);
  };

  /** A frame past limits.ws_messages_per_second: not run, answered with an error frame. */
  const limited = (ws: Ws, conn: Conn, message: ArrayBuffer, isBinary: boolean, waitMs: number): void => {
    metrics.rateLimited('ws_frames', 'connection');
    const e = new HotpathError('HP_ERR_RATE_LIMITED', `more than ${limits.wsMessages.rate} frames per second on this connection (limits.ws_messages_per_second)`, { retry_after_ms: waitMs });
    if (isBinary) {
      const id = message.byteLength >= 8 ? new DataView(message).getUint32(4, true) : 0;
      reply(ws, conn, encodeError(id, e.code, e.message), true);
      return;
    }
    let id: unknown = null;
    try {
      id = (JSON.parse(Buffer.from(message).toString('utf8')) as { id?: unknown })?.id ?? null;
    } catch {
      // no id to echo
    }
    reply(ws, conn, JSON.stringify({ id, ok: false, ...e.toJSON() }), false);
  };

  /** The frame's scope against the connection's caller (auth on only); throws to refuse it. */
  const allow = (conn: Conn, scope: Scope, model: string): void => ctx.policy.frame?.(conn.caller, scope, model);

  // A predict frame's answer in the stage histograms and the slow list (route class
  // ws_predict): one scratch marks object, read synchronously by answered().
  const WS_PREDICT = routeClassIndex('ws_predict');
  const marks: StageMarks & { start: number } = { start: 0, mark1: 0, mark2: 0, result: undefined, subject: '' };
  const timing = ctx.config.server.stageTiming;
  const answered = (start: number, model: string, r: InferResult | undefined, status: number): void => {
    if (!timing) return;
    marks.start = start;
    marks.result = r;
    marks.subject = model;
    ctx.stages.answered(WS_PREDICT, marks, status, nowMs());
    marks.result = undefined;
  };

  const binaryFrame = (ws: Ws, conn: Conn, bytes: Uint8Array): void => {
    const start = nowMs();
    let id = 0;
    try {
      if (conn.caller !== undefined && bytes.length >= 8) {
        id = new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(4, true);
        if (bytes[0] === WS_OP.EVENTS) allow(conn, 'events:write', '');
        else if (bytes[0] === WS_OP.PREDICT) allow(conn, 'predict:{model}', peekModel(bytes));
      }
      if (bytes[0] === WS_OP.EVENTS) {
        // The rows go straight to the native decoder; what it leaves takes the object path.
        const h = decodeEventsHeader(bytes);
        id = h.id;
        refuseWhileDraining();
        ctx.ingest.checkLog();
        const r = ctx.ingest.rows(h, 'ws');
        if (r) {
          ackEvents(ws, conn, id, r, true);
          return;
        }
      }
      const f = decodeClientFrame(bytes);
      id = f.id;
      refuseWhileDraining();
      if (f.op === 'events') {
        ackEvents(ws, conn, id, ctx.ingest.events(f.events, 'ws', Date.now(), f.stream), true);
        return;
      }
      const req = ctx.predict.request(f.model, { entities: f.entities, fields: f.fields });
      const rid = id;
      ctx.predict.submit(req, (err, r) => {
        let frame: Uint8Array;
        let status = 200;
        try {
          if (err) throw err;
          frame = encodePredictResult(rid, { scores: r!.values, fallback: r!.fallback, version: String(r!.version), variant: r!.variant, latencyUs: (nowMs() - start) * 1000 });
        } catch (e2) {
          const he = toAnswer(e2, log); // the model's error, or more scores / a longer name than the binary frame holds
          frame = encodeError(rid, he.code, he.message);
          status = he.status;
        }
        reply(ws, conn, frame, true);
        answered(start, req.model.def.name, status === 200 ? r : undefined, status);
      });
    } catch (err) {
      const he = toAnswer(err, log);
      reply(ws, conn, encodeError(typeof he.details?.id === 'number' ? he.details.id : id, he.code, he.message), true);
    }
  };

  const textFrame = (ws: Ws, conn: Conn, message: ArrayBuffer): void => {
    const start = nowMs();
    let id: unknown = null;
    const fail = (err: unknown, rid: unknown): void => reply(ws, conn, JSON.stringify({ id: rid, ok: false, ...toAnswer(err, log).toJSON() }), false);
    try {
      let f: { id?: unknown; op?: unknown; model?: unknown; stream?: unknown; events?: unknown; entities?: unknown; fields?: unknown; topic?: unknown };
      try {
        f = JSON.parse(Buffer.from(message).toString('utf8'));
      } catch (err) {
        throw new HotpathError('HP_ERR_WS_FRAME_INVALID', `frame is not valid JSON: ${(err as Error).message}`);
      }
      if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new HotpathError('HP_ERR_WS_FRAME_INVALID', 'a frame is a JSON object {"id", "op", ...}');
      // Only a number or a string is echoed: an answer quotes the id, and any other value
      // (an array nested thousands deep) would have to be written back as JSON.
      if (typeof f.id !== 'number' && typeof f.id !== 'string') throw new HotpathError('HP_ERR_WS_FRAME_INVALID', 'a frame needs an `id` (number or string)');
      id = f.id;
      refuseWhileDraining();
      if (conn.caller !== undefined) {
        if (f.op === 'events') allow(conn, 'events:write', '');
        else if (f.op === 'predict') allow(conn, 'predict:{model}', typeof f.model === 'string' ? f.model : '');
        else if (f.op === 'subscribe') allow(conn, 'alerts:read', '');
      }
      if (f.op === 'events') {
        if (f.stream !== undefined && typeof f.stream !== 'string') throw new HotpathError('HP_ERR_WS_FRAME_INVALID', '`stream` must be a string');
        if (f.events === undefined) throw new HotpathError('HP_ERR_BATCH_EMPTY', '`events` is empty'); // decodeEvents checks the count
        ackEvents(ws, conn, id, ctx.ingest.events(Array.isArray(f.events) ? f.events : [f.events], 'ws', Date.now(), f.stream as string | undefined), false);
      } else if (f.op === 'predict') {
        const req = ctx.predict.request(f.model as string, { entities: f.entities, fields: f.fields });
        const rid = id;
        ctx.predict.submit(req, (err, r) => {
          if (err) {
            fail(err, rid);
            answered(start, req.model.def.name, undefined, toHotpathError(err).status);
            return;
          }
          reply(ws, conn, JSON.stringify({ id: rid, ok: true, result: predictJson(r!, start) }), false);
          answered(start, req.model.def.name, r, 200);
        });
      } else if (f.op === 'subscribe' || f.op === 'unsubscribe') {
        if (f.topic !== ALERTS_TOPIC) throw new HotpathError('HP_ERR_WS_FRAME_INVALID', `\`topic\` must be "${ALERTS_TOPIC}"`);
        if (f.op === 'subscribe') {
          ws.subscribe(ALERTS_TOPIC);
          subscribed.add(ws);
        } else {
          ws.unsubscribe(ALERTS_TOPIC);
          subscribed.delete(ws);
        }
        reply(ws, conn, JSON.stringify({ id, ok: true, op: f.op, topic: ALERTS_TOPIC }), false);
      } else {
        throw new HotpathError('HP_ERR_WS_FRAME_INVALID', '`op` must be "predict", "events", "subscribe" or "unsubscribe"');
      }
    } catch (err) {
      fail(err, id);
    }
  };
  return {
    subscribers: () => subscribed.size,
    closeAll() {
      stopAlerts();
      for (const ws of [...open]) {
        const conn = ws.getUserData();
        if (conn.gone) continue;
        conn.closed = true;
        ws.end(WS_CLOSE_GOING_AWAY, 'the server is shutting down');
      }
    },
  };
}

/** The model a binary PREDICT frame names (str8 after the header), or '' if the frame is too short to hold it. */
function peekModel(bytes: Uint8Array): string {
  const n = bytes.length > 8 ? bytes[8] : 0;
  return bytes.length >= 9 + n ? Buffer.from(bytes.buffer, bytes.byteOffset + 9, n).toString('utf8') : '';
}
