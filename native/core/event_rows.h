// Decodes the rows of a binary events frame (the EVENTS body of /v1/ws, laid out in
// src/server/ws-protocol.ts) straight into the store's batch columns: no JavaScript object,
// string or number per event. The frame's header and column list are read in TypeScript,
// which maps each column to what it feeds (a RowColumn); this walks the rows, checks every
// value as the JSON path checks it (src/server/events.ts), and writes key hashes, times
// and field values. Nothing is applied here: Store::Ingest takes the columns after.
#pragma once
#include <cstddef>
#include <cstdint>

#include "constants.h"

namespace hotpath {

// One use of a frame column's value. A plan lists them in column order, at least one per
// column (SKIP for a column that feeds nothing); a column with several entries (an id that
// is both a key and a category field) is read once and feeds each.
struct RowColumn {
  int column;    // the frame column: 0, then the same or one more than the entry before
  int type;      // kRowTypeF64 | kRowTypeStr16
  RowRole role;  // what the value feeds
  int index;     // the key column (KEY) or the stream field (NUMBER, CATEGORY)
};

struct RowFault {
  RowError error = RowError::OK;
  uint32_t event = 0;   // the event whose value was refused
  uint32_t column = 0;  // its column in the frame
};

// Reads n rows (one value per column of the plan's nplan entries) from p[0, len). keys[k][i], ts[i] and values[i * nfields + f]
// receive event i's key hashes, time (now_ms when no column is TIME) and fields. A time
// above max_ts is TIME_FUTURE. The rows must end exactly at len.
RowFault DecodeRows(const uint8_t* p, size_t len, size_t n, const RowColumn* plan, int nplan,
                    int nfields, double now_ms, double max_ts, uint64_t* const* keys, double* ts,
                    double* values);

// The value a category string takes, as src/server/events.ts categoryValue computes it: a
// decimal integer string is its number, anything else cyrb53 of its UTF-16 code units.
// False when s is not valid UTF-8.
bool CategoryOfUtf8(const uint8_t* s, size_t len, double* out);

// The hash of an integer id, as the id's decimal string (idOf(42) is "42"). False unless v
// is a safe integer.
bool HashIntegerId(double v, uint64_t* out);

}  // namespace hotpath
