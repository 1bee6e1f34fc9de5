#include "event_rows.h"

#include <cmath>
#include <cstring>

#include "hash.h"

namespace hotpath {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

inline bool IsSafeInteger(double v) { return std::fabs(v) <= kMaxSafeInteger && std::trunc(v) == v; }

// Strict UTF-8 (as TextDecoder with fatal: true): no overlong forms, no surrogates, nothing
// above U+10FFFF. Calls emit(code unit) with the UTF-16 code units of the text.
template <typename Emit>
bool Utf16Units(const uint8_t* s, size_t len, Emit emit) {
  size_t i = 0;
  while (i < len) {
    uint32_t c = s[i];
    if (c < 0x80) {
      emit(c);
      i++;
      continue;
    }
    int extra;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) extra = 1, min = 0x80, c &= 0x1F;
    else if ((c & 0xF0) == 0xE0) extra = 2, min = 0x800, c &= 0x0F;
    else if ((c & 0xF8) == 0xF0) extra = 3, min = 0x10000, c &= 0x07;
    else return false;
    if (len - i <= size_t(extra)) return false;  // the sequence runs past the end
    for (int k = 1; k <= extra; k++) {
      const uint8_t b = s[i + k];
      if ((b & 0xC0) != 0x80) return false;
      c = (c << 6) | (b & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    if (c >= 0x10000) {
      c -= 0x10000;
      emit(0xD800 + (c >> 10));
      emit(0xDC00 + (c & 0x3FF));
    } else {
      emit(c);
    }
    i += size_t(extra) + 1;
  }
  return true;
}

// ^(0|-?[1-9]\d*)$ whose value is a safe integer.
bool IntegerString(const uint8_t* s, size_t len, double* out) {
  if (len == 0) return false;
  if (len == 1 && s[0] == '0') {
    *out = 0;
    return true;
  }
  const bool neg = s[0] == '-';
  size_t i = neg ? 1 : 0;
  if (i >= len || s[i] < '1' || s[i] > '9' || len - i > 16) return false;  // 2^53 has 16 digits
  uint64_t v = 0;
  for (; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + uint64_t(s[i] - '0');
  }
  if (double(v) > kMaxSafeInteger) return false;
  *out = neg ? -double(v) : double(v);
  return true;
}

inline uint16_t U16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

inline double F64(const uint8_t* p) {
  double v;
  std::memcpy(&v, p, 8);  // little-endian hosts only (x86-64, arm64)
  return v;
}

}  // namespace

bool CategoryOfUtf8(const uint8_t* s, size_t len, double* out) {
  if (IntegerString(s, len, out)) return true;  // ASCII digits: valid UTF-8, no hash needed
  uint32_t h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  const bool ok = Utf16Units(s, len, [&](uint32_t ch) {
    h1 = (h1 ^ ch) * 2654435761u;
    h2 = (h2 ^ ch) * 1597334677u;
  });
  if (!ok) return false;
  h1 = ((h1 ^ (h1 >> 16)) * 2246822507u) ^ ((h2 ^ (h2 >> 13)) * 3266489909u);
  h2 = ((h2 ^ (h2 >> 16)) * 2246822507u) ^ ((h1 ^ (h1 >> 13)) * 3266489909u);
  *out = 4294967296.0 * double(h2 & 2097151u) + double(h1);
  return true;
}

bool HashIntegerId(double v, uint64_t* out) {
  if (!IsSafeInteger(v)) return false;
  char buf[24];
  char* e = buf + sizeof buf;
  char* p = e;
  uint64_t m = uint64_t(std::fabs(v));
  do {
    *--p = char('0' + m % 10);
    m /= 10;
  } while (m != 0);
  if (v < 0) *--p = '-';
  *out = HashBytes(p, size_t(e - p));
  return true;
}

RowFault DecodeRows(const uint8_t* p, size_t len, size_t n, const RowColumn* plan, int nplan,
                    int nfields, double now_ms, double max_ts, uint64_t* const* keys, double* ts,
                    double* values) {
  RowFault f;
  size_t pos = 0;
  auto fail = [&](RowError e, size_t i, int c) {
    f.error = e;
    f.event = uint32_t(i);
    f.column = uint32_t(c);
    return f;
  };
  for (size_t i = 0; i < n; i++) {
    ts[i] = now_ms;
    double* row = values + i * size_t(nfields);
    for (int e = 0; e < nplan;) {
      const int c = plan[e].column;
      if (plan[e].type == kRowTypeF64) {
        if (len - pos < 8) return fail(RowError::TRUNCATED, i, c);
        const double v = F64(p + pos);
        pos += 8;
        for (; e < nplan && plan[e].column == c; e++) {
          const RowColumn& use = plan[e];
          switch (use.role) {
            case RowRole::KEY:
              if (!HashIntegerId(v, &keys[use.index][i])) return fail(RowError::ID_INVALID, i, c);
              break;
            case RowRole::TIME:
              if (!(v >= 0 && v <= kMaxEventTimeMs)) return fail(RowError::TIME_INVALID, i, c);
              if (v > max_ts) return fail(RowError::TIME_FUTURE, i, c);
              ts[i] = v;
              break;
            case RowRole::NUMBER:
              if (!std::isfinite(v)) return fail(RowError::NOT_NUMBER, i, c);
              row[use.index] = v;
              break;
            case RowRole::CATEGORY:
              if (!IsSafeInteger(v)) return fail(RowError::NOT_CATEGORY, i, c);
              row[use.index] = v;
              break;
            default:
              break;
          }
        }
        continue;
      }
      if (len - pos < 2) return fail(RowError::TRUNCATED, i, c);
      const size_t slen = U16(p + pos);
      pos += 2;
      if (len - pos < slen) return fail(RowError::TRUNCATED, i, c);
      const uint8_t* s = p + pos;
      pos += slen;
      // One pass over the bytes: a column with a category use validates them while it
      // hashes them, any other checks them alone.
      bool category = false;
      for (int u = e; u < nplan && plan[u].column == c; u++) category |= plan[u].role == RowRole::CATEGORY;
      double cat = 0;
      if (category ? !CategoryOfUtf8(s, slen, &cat) : !Utf16Units(s, slen, [](uint32_t) {}))
        return fail(RowError::BAD_UTF8, i, c);
      for (; e < nplan && plan[e].column == c; e++) {
        const RowColumn& use = plan[e];
        switch (use.role) {
          case RowRole::KEY:
            if (slen == 0 || slen > size_t(kMaxIdBytes)) return fail(RowError::ID_INVALID, i, c);
            keys[use.index][i] = HashBytes(reinterpret_cast<const char*>(s), slen);
            break;
          case RowRole::CATEGORY:
            row[use.index] = cat;
            break;
          case RowRole::NUMBER:
            return fail(RowError::NOT_NUMBER, i, c);
          case RowRole::TIME:  // string times (ISO-8601) take the TypeScript path
            return fail(RowError::TIME_INVALID, i, c);
          default:
            break;
        }
      }
    }
  }
  if (pos != len) return fail(RowError::TRAILING, n, 0);
  return f;
}

}  // namespace hotpath
