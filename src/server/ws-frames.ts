// The compact binary frame encoding of /v1/ws. All integers are little-endian; str8 is a u8
// byte length then UTF-8 bytes, str16 a u16 byte length then UTF-8 bytes. Every frame
// starts with an 8-byte header: u8 op, u8 flags (0), u16 reserved (0), u32 request id
// (chosen by the client, echoed in the answer). Bodies by op:
//   PREDICT         str8 model, u8 nEntities × (str8 entity, str16 id), u8 nFields × (str8 name, f64 value)
//   EVENTS          str8 stream, u8 nColumns × (str8 name, u8 type: 1 f64 | 2 str16),
//                   u32 nEvents, then nEvents × nColumns values, row-major
//   PREDICT_RESULT  u8 flags (bit0 fallback), u16 nScores × f32, str8 version, str8 variant, f32 latency µs
//   EVENTS_RESULT   u32 accepted, u32 late (header flags, with a shared log: bit 0 set, bit 1 shared)
//   ERROR           str8 code, str16 message
// Values sit unaligned after the header and strings; everything goes through DataView.
import { HotpathError } from '../errors.js';
import { constants } from '../native/binding.js';

export const WS_OP = { PREDICT: 1, EVENTS: 2, PREDICT_RESULT: 129, EVENTS_RESULT: 130, ERROR: 255 } as const;

/** Column type bytes of an EVENTS frame (native/core/constants.h: the native row decoder reads them too). */
export const WS_COLUMN = { NUMBER: constants.rowTypes.f64, STRING: constants.rowTypes.str16 } as const;

export const WS_HEADER_BYTES = 8;

export interface WsPredict {
  op: 'predict';
  id: number;
  model: string;
  entities: Record<string, string>;
  fields: Record<string, number>;
}
export interface WsEvents {
  op: 'events';
  id: number;
  stream: string;
  events: Record<string, number | string>[];
}
/** An EVENTS frame read up to its rows: what the native row decoder needs. */
export interface WsEventsHeader {
  op: 'events';
  id: number;
  stream: string;
  columns: { name: string; type: number }[];
  count: number;
  bytes: Uint8Array;
  /** where the rows start in bytes */
  rowsAt: number;
}
export type WsServerFrame =
  | { op: 'predict_result'; id: number; scores: number[]; fallback: boolean; version: string; variant: string; latencyUs: number }
  | { op: 'events_result'; id: number; accepted: number; late: number; shared?: boolean }
  | { op: 'error'; id: number; code: string; message: string };

export function frameError(message: string, id?: number): HotpathError {
  return new HotpathError('HP_ERR_WS_FRAME_INVALID', message, id === undefined ? undefined : { id });
}
