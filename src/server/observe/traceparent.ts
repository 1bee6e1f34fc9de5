// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header,
// parsed strictly and without allocating until the request is known to be traced. A
// header that breaks a rule is ignored (the request starts a new trace), never an error.
//
//   traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//                ^^ version  ^^ trace id (32 hex)    ^^ parent id (16)  ^^ flags

/** version-traceid-parentid-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 */
export const TRACEPARENT_LENGTH = 55;
/** the bound on a tracestate value we pass on (the spec's 32 members of at most 256 bytes each, and then some) */
export const TRACESTATE_MAX = 8192;

/** What checkTraceparent found: no valid header, or a valid one sampled or not. */
export const PARENT_NONE = 0;
export const PARENT_UNSAMPLED = 1;
export const PARENT_SAMPLED = 2;

function isLowerHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102); // 0-9 a-f: upper case is invalid
}

/** true when s[from, from+n) is lower-case hex and not all zeros */
function hexNotZero(s: string, from: number, n: number): boolean {
  let zero = true;
  for (let i = from; i < from + n; i++) {
    const c = s.charCodeAt(i);
    if (!isLowerHex(c)) return false;
    if (c !== 48) zero = false;
  }
  return !zero;
}

/**
 * Checks a traceparent value: PARENT_NONE when absent or invalid, else whether its sampled
 * flag is set. Reads characters only (no slice, no regex). Version 00 must be exactly 55
 * characters; a later version (not ff) may be longer when a '-' follows the 55th, and is
 * read as version 00 (the spec's rule for versions it does not know).
 */
export function checkTraceparent(h: string): number {
  const n = h.length;
  if (n < TRACEPARENT_LENGTH) return PARENT_NONE;
  const v0 = h.charCodeAt(0);
  const v1 = h.charCodeAt(1);
  if (!isLowerHex(v0) || !isLowerHex(v1)) return PARENT_NONE;
  const v00 = v0 === 48 && v1 === 48;
  if (v00 ? n !== TRACEPARENT_LENGTH : (v0 === 102 && v1 === 102) || (n > TRACEPARENT_LENGTH && h.charCodeAt(TRACEPARENT_LENGTH) !== 45)) return PARENT_NONE;
  if (h.charCodeAt(2) !== 45 || h.charCodeAt(35) !== 45 || h.charCodeAt(52) !== 45) return PARENT_NONE;
  if (!hexNotZero(h, 3, 32) || !hexNotZero(h, 36, 16)) return PARENT_NONE;
  const f0 = h.charCodeAt(53);
  const f1 = h.charCodeAt(54);
  if (!isLowerHex(f0) || !isLowerHex(f1)) return PARENT_NONE;
  const low = f1 <= 57 ? f1 - 48 : f1 - 87;
  return (low & 1) === 1 ? PARENT_SAMPLED : PARENT_UNSAMPLED;
}

/** The trace id of a header checkTraceparent accepted. */
export const traceIdOf = (h: string): string => h.slice(3, 35);
/** The parent span id of a header checkTraceparent accepted. */
export const parentIdOf = (h: string): string => h.slice(36, 52);

/** The traceparent an answer carries: this server's span in the trace, sampled. */
export function formatTraceparent(traceId: string, spanId: string): string {
  return `00-${traceId}-${spanId}-01`;
}
