// WebSocket /v1/ws: predict and event frames multiplexed on one connection, each with a
// client-chosen request id that its answer echoes. Text frames are JSON; binary frames use
// the compact encoding of ws-protocol.ts. Answers to predicts arrive in completion order,
// not request order. A bad frame gets an error frame; the connection stays open.
import uWS from 'uWebSockets.js';

import type { Config } from '../config/load.js';
import { HotpathError } from '../errors.js';
import type { FeatureStore } from '../native/binding.js';
import type { InferenceService } from '../runtime/inference.js';
import { nowMs } from '../runtime/records.js';
import type { ModelRegistry } from '../runtime/registry.js';
import { ingestEvents, ingestFrame } from './events.js';
import { type Log, toAnswer } from './http.js';
import { predictJson } from './inference-routes.js';
import type { Metrics } from './metrics.js';
import { parsePredict } from './predict-parse.js';
import { decodeClientFrame, decodeEventsHeader, encodeError, encodeEventsResult, encodePredictResult, WS_OP } from './ws-protocol.js';

interface Conn {
  closed: boolean;
}

export function wsRoute(app: uWS.TemplatedApp, config: Config, store: FeatureStore, models: ModelRegistry, inference: InferenceService, metrics: Metrics, log: Log): void {
  const ingest = (events: unknown[], stream: string | undefined): { accepted: number; late: number } => {
    const r = ingestEvents(store, config, events, Date.now(), stream);
    metrics.eventsIngested(stream, r.accepted, r.late);
    return r;
  };

  app.ws<Conn>('/v1/ws', {
    compression: uWS.DISABLED,
    maxPayloadLength: config.server.maxBodyBytes,
    idleTimeout: 120,
    maxBackpressure: 16 * 1024 * 1024,
    upgrade: (res, req, context) => {
      res.upgrade<Conn>(
        { closed: false },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData();
      const reply = (data: string | Uint8Array, binary: boolean): void => {
        if (!conn.closed) ws.send(data, binary);
      };
      const start = nowMs();
      if (isBinary) {
        let id = 0;
        try {
          const bytes = new Uint8Array(message); // read fully before returning: uWS neuters message after
          if (bytes[0] === WS_OP.EVENTS) {
            // The rows go straight to the native decoder; what it leaves takes the object path.
            const h = decodeEventsHeader(bytes);
            id = h.id;
            const now = Date.now();
            const r = ingestFrame(store, config, h, now);
            if (r) {
              metrics.eventsIngested(h.stream, r.accepted, r.late);
              reply(encodeEventsResult(id, r.accepted, r.late), true);
              return;
            }
          }
          const f = decodeClientFrame(bytes);
          id = f.id;
          if (f.op === 'events') {
            const r = ingest(f.events, f.stream);
            reply(encodeEventsResult(id, r.accepted, r.late), true);
            return;
          }
          const e = models.get(f.model);
          const parsed = parsePredict(e, { entities: f.entities, fields: f.fields });
          inference.predict(e, parsed, (err, r) => {
            let frame: Uint8Array;
            try {
              if (err) throw err;
              frame = encodePredictResult(id, { scores: r!.values, fallback: r!.fallback, version: String(r!.version), variant: r!.variant, latencyUs: (nowMs() - start) * 1000 });
            } catch (e2) {
              const he = toAnswer(e2, log); // the model's error, or more scores / a longer name than the binary frame holds
              frame = encodeError(id, he.code, he.message);
            }
            reply(frame, true);
          });
        } catch (err) {
          const he = toAnswer(err, log);
          reply(encodeError(typeof he.details?.id === 'number' ? he.details.id : id, he.code, he.message), true);
        }
        return;
      }
      let id: unknown = null;
      const fail = (err: unknown): void => {
        reply(JSON.stringify({ id, ok: false, ...toAnswer(err, log).toJSON() }), false);
      };
      try {
        let f: { id?: unknown; op?: unknown; model?: unknown; stream?: unknown; events?: unknown; entities?: unknown; fields?: unknown };
        try {
          f = JSON.parse(Buffer.from(message).toString('utf8'));
        } catch (err) {
          throw new HotpathError('HP_ERR_WS_FRAME_INVALID', `frame is not valid JSON: ${(err as Error).message}`);
        }
        if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new HotpathError('HP_ERR_WS_FRAME_INVALID', 'a frame is a JSON object {"id", "op", ...}');
        id = f.id ?? null;
        if (typeof id !== 'number' && typeof id !== 'string') throw new HotpathError('HP_ERR_WS_FRAME_INVALID', 'a frame needs an `id` (number or string)');
        if (f.op === 'events') {
          if (f.stream !== undefined && typeof f.stream !== 'string') throw new HotpathError('HP_ERR_WS_FRAME_INVALID', '`stream` must be a string');
          const events = Array.isArray(f.events) ? f.events : [f.events];
          if (f.events === undefined) throw new HotpathError('HP_ERR_BATCH_EMPTY', '`events` is empty'); // decodeEvents checks the count
          const r = ingest(events, f.stream as string | undefined);
          reply(JSON.stringify({ id, ok: true, ...r }), false);
        } else if (f.op === 'predict') {
          const e = models.get(f.model as string);
          const parsed = parsePredict(e, { entities: f.entities, fields: f.fields });
          const rid = id;
          inference.predict(e, parsed, (err, r) => (err ? fail(err) : reply(JSON.stringify({ id: rid, ok: true, result: predictJson(r!, start) }), false)));
        } else {
          throw new HotpathError('HP_ERR_WS_FRAME_INVALID', '`op` must be "predict" or "events"');
        }
      } catch (err) {
        fail(err);
      }
    },
    close: (ws) => {
      ws.getUserData().closed = true;
    },
  });
}
