// JSON text of a feature read, for FeatureStore.readJson (store_wrap.cc): numbers written
// exactly as JavaScript's Number#toString writes them (JSON.stringify's null for NaN and
// the infinities is the caller's choice), strings quoted exactly as JSON.stringify quotes
// them (UTF-16 in, UTF-8 out, lone surrogates as \udxxx). The GET /v1/features answer is
// then made in the read's own call: no JS string is built for it (src/server/features.ts).
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace hotpath {

// At most this many bytes for one number: "-0.0000012345678901234567" is 25.
constexpr size_t kJsNumberMaxBytes = 25;

// v finite. ECMAScript Number::toString(v) (ES2023 6.1.6.1.20) from the shortest
// round-trip digits, which std::to_chars gives in scientific form.
inline size_t WriteJsNumber(double v, char* out) {
  if (v == 0) {  // +0 and -0 alike
    out[0] = '0';
    return 1;
  }
  if (v == std::trunc(v) && std::fabs(v) < 1e15) return size_t(std::to_chars(out, out + kJsNumberMaxBytes, int64_t(v)).ptr - out);
  char sci[32];
  const char* end = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific).ptr;
  const char* p = sci;
  size_t o = 0;
  if (*p == '-') {
    out[o++] = '-';
    p++;
  }
  char digits[20];
  int k = 0;
  for (; p < end && *p != 'e'; p++)
    if (*p != '.') digits[k++] = *p;
  int e = 0;
  bool neg = false;
  p++;  // 'e'
  if (*p == '-' || *p == '+') neg = *p++ == '-';
  for (; p < end; p++) e = e * 10 + (*p - '0');
  const int n = (neg ? -e : e) + 1;  // v = 0.d1d2...dk x 10^n
  if (k <= n && n <= 21) {
    std::memcpy(out + o, digits, size_t(k));
    o += size_t(k);
    for (int i = k; i < n; i++) out[o++] = '0';
  } else if (0 < n && n <= 21) {
    std::memcpy(out + o, digits, size_t(n));
    o += size_t(n);
    out[o++] = '.';
    std::memcpy(out + o, digits + n, size_t(k - n));
    o += size_t(k - n);
  } else if (-6 < n && n <= 0) {
    out[o++] = '0';
    out[o++] = '.';
    for (int i = 0; i < -n; i++) out[o++] = '0';
    std::memcpy(out + o, digits, size_t(k));
    o += size_t(k);
  } else {
    out[o++] = digits[0];
    if (k > 1) {
      out[o++] = '.';
      std::memcpy(out + o, digits + 1, size_t(k - 1));
      o += size_t(k - 1);
    }
    out[o++] = 'e';
    out[o++] = n - 1 < 0 ? '-' : '+';
    o += size_t(std::to_chars(out + o, out + o + 4, n - 1 < 0 ? 1 - n : n - 1).ptr - (out + o));
  }
  return o;
}

// JSON.stringify's number: null when not finite.
inline size_t WriteJsonNumber(double v, char* out) {
  if (!std::isfinite(v)) {
    std::memcpy(out, "null", 4);
    return 4;
  }
  return WriteJsNumber(v, out);
}

// At most 6 bytes per UTF-16 unit (\uXXXX), plus the quotes.
inline size_t JsonStringMaxBytes(size_t units) { return 6 * units + 2; }

// JSON.stringify(s) for s given as UTF-16 units: quoted, escaped, UTF-8.
inline size_t WriteJsonString(const char16_t* s, size_t n, char* out) {
  static const char kHex[] = "0123456789abcdef";
  size_t o = 0;
  out[o++] = '"';
  for (size_t i = 0; i < n; i++) {
    const uint32_t c = s[i];
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out[o++] = '\\';
        out[o++] = char(c);
      } else if (c >= 0x20) {
        out[o++] = char(c);
      } else {
        out[o++] = '\\';
        switch (c) {
          case '\b': out[o++] = 'b'; break;
          case '\f': out[o++] = 'f'; break;
          case '\n': out[o++] = 'n'; break;
          case '\r': out[o++] = 'r'; break;
          case '\t': out[o++] = 't'; break;
          default:
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = kHex[c >> 4];
            out[o++] = kHex[c & 15];
        }
      }
    } else if (c < 0x800) {
      out[o++] = char(0xC0 | (c >> 6));
      out[o++] = char(0x80 | (c & 0x3F));
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      const uint32_t d = i + 1 < n ? s[i + 1] : 0;
      if (c <= 0xDBFF && d >= 0xDC00 && d <= 0xDFFF) {  // a pair: one code point, 4 bytes
        const uint32_t cp = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
        out[o++] = char(0xF0 | (cp >> 18));
        out[o++] = char(0x80 | ((cp >> 12) & 0x3F));
        out[o++] = char(0x80 | ((cp >> 6) & 0x3F));
        out[o++] = char(0x80 | (cp & 0x3F));
        i++;
      } else {  // lone surrogate: escaped, as well-formed JSON.stringify does
        out[o++] = '\\';
        out[o++] = 'u';
        out[o++] = kHex[c >> 12];
        out[o++] = kHex[(c >> 8) & 15];
        out[o++] = kHex[(c >> 4) & 15];
        out[o++] = kHex[c & 15];
      }
    } else {
      out[o++] = char(0xE0 | (c >> 12));
      out[o++] = char(0x80 | ((c >> 6) & 0x3F));
      out[o++] = char(0x80 | (c & 0x3F));
    }
  }
  out[o++] = '"';
  return o;
}

// The ops of a feature answer's program (an Int32Array of [op, a, b] triples, compiled in
// src/server/features.ts per entity and selection).
enum FeatureJsonOp : int32_t {
  kJsonLit = 0,    // the bytes lits[a, a + b)
  kJsonAt = 1,     // the read time (nowMs)
  kJsonId = 2,     // the id as a JSON string
  kJsonFound = 3,  // true or false
  kJsonAge = 4,    // the age in ms, or null when absent
  kJsonValue = 5,  // out[a]: null when NaN
  kJsonList = 6,   // [out[a], ... out[a + b - 1]], up to the first NaN
};

}  // namespace hotpath
