// Binary event rows (the WebSocket EVENTS frame): the frame header is read in TypeScript,
// the rows by native code straight into the store's batch columns, with no object per
// event. This module turns a header into the column plan the native decoder follows, and
// the decoder's refusals into the errors the JSON path gives for the same faults.
import type { Config, StreamDef } from '../config/load.js';
import { HotpathError } from '../errors.js';
import { constants, limits } from '../native/binding.js';
import { invalid } from './decode.js';

const ROLE = constants.rowRoles;
const STRING_COLUMN = constants.rowTypes.str16;

/** A frame of rows, as its header describes it. `bytes` is valid only while the caller runs. */
export interface RowsFrame {
  stream: string;
  columns: { name: string; type: number }[];
  count: number;
  bytes: Uint8Array;
  /** where the first row starts in bytes */
  rowsAt: number;
}

/** What the native decoder needs: the stream and one (column, type, role, index) quad per column. */
export interface RowsPlan {
  stream: StreamDef;
  plan: Int32Array;
}

/**
 * The plan for a frame, after the checks decodeEvents makes (count, stream, every key and
 * field fed). Returns undefined for frames the row decoder leaves to the object path:
 * string times (ISO-8601) and a column named `stream`.
 */
export function planRows(config: Config, h: RowsFrame): RowsPlan | undefined {
  if (h.count === 0) throw new HotpathError('HP_ERR_BATCH_EMPTY', 'no events in the frame');
  if (h.count > config.server.maxBatch)
    throw new HotpathError('HP_ERR_BATCH_TOO_LARGE', `${h.count} events; at most ${config.server.maxBatch} per frame (server.max_batch)`);
  const s = config.streamIndex.get(h.stream);
  if (s === undefined) throw new HotpathError('HP_ERR_STREAM_UNKNOWN', `event 0: unknown stream ${JSON.stringify(h.stream)}`, { index: 0 });
  const def = config.streams[s];
  const plan: number[] = [];
  const fed = new Set<string>();
  for (let c = 0; c < h.columns.length; c++) {
    const { name, type } = h.columns[c];
    if (name === 'stream' || (name === def.timeField && type === STRING_COLUMN)) return undefined;
    const start = plan.length;
    def.keyFields.forEach((k, i) => k === name && plan.push(c, type, ROLE.key, i));
    if (name === def.timeField) plan.push(c, type, ROLE.time, 0);
    const f = def.fields.findIndex((x) => x.name === name);
    if (f >= 0) plan.push(c, type, def.fields[f].type === 'number' ? ROLE.number : ROLE.category, f);
    if (plan.length === start) plan.push(c, type, ROLE.skip, 0);
    else fed.add(name);
  }
  for (const k of def.keyFields) if (!fed.has(k)) invalid(0, `missing key field '${k}'`);
  for (const f of def.fields) if (!fed.has(f.name)) invalid(0, `missing field '${f.name}'`);
  return { stream: def, plan: Int32Array.from(plan) };
}

/** The error for a refusal of the native row decoder. */
export function rowsError(config: Config, h: RowsFrame, fault: { error: string; event: number; column: number }): HotpathError {
  const refuse = ROW_ERRORS[fault.error as RowErrorName];
  if (!refuse) return new HotpathError('HP_ERR_INTERNAL', `the native row decoder answered ${fault.error}`);
  return refuse(fault.event, h.columns[fault.column]?.name ?? '', { count: h.count, maxFutureMs: config.store.maxFutureMs });
}

/** The errors of the native row decoder (native/core/constants.h, HP_ROW_ERROR_LIST), as the JSON path words them. */
export const ROW_ERRORS = {
  TRUNCATED: (i, name) => new HotpathError('HP_ERR_WS_FRAME_INVALID', `the frame ends inside event ${i}, column '${name}'`, { index: i }),
  TRAILING: (_i, _name, f) => new HotpathError('HP_ERR_WS_FRAME_INVALID', `bytes after the last of the ${f.count} events`),
  BAD_UTF8: (i, name) => new HotpathError('HP_ERR_WS_FRAME_INVALID', `event ${i}: column '${name}' is not valid UTF-8`, { index: i }),
  ID_INVALID: (i, name) => new HotpathError('HP_ERR_ID_INVALID', `event ${i}: '${name}' must be a non-empty string of at most ${limits.maxIdBytes} bytes or an integer`, { index: i }),
  NOT_NUMBER: (i, name) => new HotpathError('HP_ERR_EVENT_INVALID', `event ${i}: field '${name}' must be a finite number`, { index: i }),
  NOT_CATEGORY: (i, name) => new HotpathError('HP_ERR_EVENT_INVALID', `event ${i}: field '${name}' must be a string or an integer`, { index: i }),
  TIME_INVALID: (i, name) => new HotpathError('HP_ERR_EVENT_TIMESTAMP', `event ${i}: '${name}' must be epoch milliseconds >= 0 (a number or digits) or an ISO-8601 time`, { index: i }),
  TIME_FUTURE: (i, name, f) => new HotpathError('HP_ERR_EVENT_TIMESTAMP', `event ${i}: '${name}' is more than ${f.maxFutureMs} ms in the future (store.max_future)`, { index: i }),
} satisfies Record<string, (event: number, column: string, frame: { count: number; maxFutureMs: number }) => HotpathError>;
type RowErrorName = keyof typeof ROW_ERRORS;
