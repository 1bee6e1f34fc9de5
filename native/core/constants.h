// Constants shared by the C++ core and TypeScript. This file is the single definition:
// the binding exports every list and limit below as `constants` (native/binding/addon.cc),
// src/native/binding.ts reads them from the addon at load time, and
// test/native/constants.test.ts checks the TypeScript side's names and values against it.
// TypeScript keeps only literal name lists (for its types), never a second copy of a code.
#pragma once
#include <cstdint>

namespace hotpath {

// Window aggregates. X(ENUM, "config name", needs_field, windowed)
#define HP_AGG_LIST(X)                    \
  X(COUNT, "count", false, true)          \
  X(SUM, "sum", true, true)               \
  X(MEAN, "mean", true, true)             \
  X(MIN, "min", true, true)               \
  X(MAX, "max", true, true)               \
  X(STDDEV, "stddev", true, true)         \
  X(LAST, "last", true, false)            \
  X(DISTINCT, "distinct", true, true)     \
  X(LAST_N, "last_n", true, false)        \
  X(EWM, "ewm", true, false)

enum class Agg : uint8_t {
#define HP_X(e, name, f, w) e,
  HP_AGG_LIST(HP_X)
#undef HP_X
  kCount
};

// Status codes (Triton-style small set). X(ENUM, "NAME")
#define HP_STATUS_LIST(X)              \
  X(OK, "OK")                          \
  X(INVALID_ARG, "INVALID_ARG")        \
  X(NOT_FOUND, "NOT_FOUND")            \
  X(UNAVAILABLE, "UNAVAILABLE")        \
  X(UNSUPPORTED, "UNSUPPORTED")        \
  X(RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED") \
  X(INTERNAL, "INTERNAL")

// Dense-layer activations for the inference kernels. X(ENUM, "name")
#define HP_ACT_LIST(X) \
  X(NONE, "none")      \
  X(RELU, "relu")      \
  X(SIGMOID, "sigmoid")\
  X(TANH, "tanh")

enum class Act : uint8_t {
#define HP_X(e, name) e,
  HP_ACT_LIST(HP_X)
#undef HP_X
  kCount
};

// What a column of a binary events frame feeds (event_rows.h). X(ENUM, "name")
#define HP_ROW_ROLE_LIST(X) \
  X(SKIP, "skip")           \
  X(KEY, "key")             \
  X(TIME, "time")           \
  X(NUMBER, "number")       \
  X(CATEGORY, "category")

enum class RowRole : uint8_t {
#define HP_X(e, name) e,
  HP_ROW_ROLE_LIST(HP_X)
#undef HP_X
  kCount
};

// Why the rows of a binary events frame were refused (event_rows.h). X(ENUM, "NAME")
#define HP_ROW_ERROR_LIST(X)           \
  X(OK, "OK")                          \
  X(TRUNCATED, "TRUNCATED")            \
  X(BAD_UTF8, "BAD_UTF8")              \
  X(ID_INVALID, "ID_INVALID")          \
  X(NOT_NUMBER, "NOT_NUMBER")          \
  X(NOT_CATEGORY, "NOT_CATEGORY")      \
  X(TIME_INVALID, "TIME_INVALID")      \
  X(TIME_FUTURE, "TIME_FUTURE")        \
  X(TRAILING, "TRAILING")

enum class RowError : uint8_t {
#define HP_X(e, name) e,
  HP_ROW_ERROR_LIST(HP_X)
#undef HP_X
  kCount
};

// Layers of a native model (model.h). X(ENUM, "name")
#define HP_LAYER_KIND_LIST(X) \
  X(DENSE, "dense")           \
  X(ACT, "act")               \
  X(SOFTMAX, "softmax")

enum class LayerKind : uint8_t {
#define HP_X(e, name) e,
  HP_LAYER_KIND_LIST(HP_X)
#undef HP_X
  kCount
};

// Where a column of a model's input matrix comes from (model.h GatherColumn). X(ENUM, "name")
#define HP_GATHER_SOURCE_LIST(X) \
  X(FEATURE, "feature")          \
  X(FIELD, "field")

enum class GatherSource : uint8_t {
#define HP_X(e, name) e,
  HP_GATHER_SOURCE_LIST(HP_X)
#undef HP_X
  kCount
};

// What is applied to a gathered value. X(ENUM, "name")
#define HP_GATHER_TRANSFORM_LIST(X) \
  X(NONE, "none")                   \
  X(LOG1P, "log1p")

enum class GatherTransform : uint8_t {
#define HP_X(e, name) e,
  HP_GATHER_TRANSFORM_LIST(HP_X)
#undef HP_X
  kCount
};

// The online learners' optimisers (learner.h LearnerSpec::optimizer). X(ENUM, "name")
#define HP_LEARNER_OPT_LIST(X) \
  X(SGD, "sgd")                \
  X(FTRL, "ftrl")

enum class LearnerOpt : uint8_t {
#define HP_X(e, name) e,
  HP_LEARNER_OPT_LIST(HP_X)
#undef HP_X
  kCount
};

// Limits of the online learners (learner.h). Inputs beyond kLearnerMaxValue are refused:
// the scaler squares them, and 1e30^2 keeps every running sum far from overflow, so a
// learner that accepted an example can never turn its state into Inf or NaN.
constexpr int kLearnerMaxDim = 65536;        // dense inputs
constexpr int kLearnerMaxHashBits = 24;      // hashed block of 2^bits weights (128 MiB of doubles)
constexpr double kLearnerMaxValue = 1e30;    // |input| above is refused
constexpr int kLearnerBlobVersion = 1;       // Learner::Serialize's format

// Column value types of a binary events frame: f64, or str16 (u16 length + UTF-8).
constexpr int kRowTypeF64 = 1;
constexpr int kRowTypeStr16 = 2;

// Limits of the store, also enforced by the config schema.
constexpr int kMaxIdBytes = 256;           // longest entity id, in UTF-8 bytes
constexpr int kMaxTilesPerWindow = 16384;  // window / tile; HLL epochs are 16-bit
constexpr int kMaxLastN = 64;
constexpr int kMinHllPrecision = 4;
constexpr int kMaxHllPrecision = 12;
constexpr int kMaxFeaturesPerTable = 256;
constexpr int kMaxKeyColumns = 16;         // entity keys per stream (the config's stream keys)
constexpr double kMaxTimeMs = 9007199254740992.0;  // 2^53: times (ms) beyond are refused
constexpr double kMaxEventTimeMs = 8.64e15;        // the largest time a JavaScript Date holds

// Streaming detectors (drift.h: concept drift; anomaly.h: anomaly scores), their serialized
// blobs and limits. X(ENUM, "name")
#define HP_DETECTOR_KIND_LIST(X)  \
  X(ADWIN, "adwin")               \
  X(PAGE_HINKLEY, "page_hinkley") \
  X(HST, "hst")                   \
  X(ROBUST_Z, "robust_z")         \
  X(EW, "ew")                     \
  X(LIKELIHOOD, "likelihood")

enum class DetectorKind : uint8_t {
#define HP_X(e, name) e,
  HP_DETECTOR_KIND_LIST(HP_X)
#undef HP_X
  kCount
};

constexpr int kDetectorBlobVersion = 1;       // Serialize/Deserialize format of drift.h and anomaly.h
constexpr int kMaxDetectorDims = 1024;        // features per Half-Space Trees point
constexpr int kMaxHstTrees = 256;
constexpr int kMaxHstHeight = 16;
constexpr int kMaxDetectorWindow = 1 << 20;   // HST window_size, robust z window
constexpr int kMaxDetectorEntities = 1 << 24; // DetectorTable max_entities

// Item-to-item co-visitation (covisit.h): limits of its tables and queries, its blob
// format, and where each recommended item came from.
constexpr int kCovisitMaxNeighbours = 256;    // neighbours kept per item
constexpr int kCovisitMaxWindow = 16;         // previous items of a user paired with a new one
constexpr int kCovisitMaxHistory = 64;        // items a recommend query starts from (= kMaxLastN)
constexpr int kCovisitMaxK = 1000;            // items a recommend query returns
constexpr int kCovisitMaxItems = 1 << 24;
constexpr int kCovisitMaxUsers = 1 << 24;
constexpr int kCovisitTopPopular = 256;       // the popularity list kept up to date per event
constexpr int kCovisitBlobVersion = 1;
constexpr int kCovisitSourceCovisit = 0;
constexpr int kCovisitSourcePopular = 1;

// Embedding top-k (embedding.h). k and dim are bounded so that the quantized scan's
// integer sums stay exact in int32 and in float (4096 * 7 * 127 < 2^24), and so that the
// CUDA kernel's per-block sort (2048 entries) at least halves the candidates each round.
// The fast path re-ranks max(kEmbeddingRerankFactor * k, kEmbeddingRerankMin) candidates
// of the 4-bit scan by their exact fp32 dot products, or the request's own number (more
// candidates: higher recall on tightly clustered rows, docs/embeddings.md).
constexpr int kEmbeddingMaxK = 1024;
constexpr int kEmbeddingMaxDim = 4096;
constexpr int kEmbeddingRerankFactor = 16;
constexpr int kEmbeddingRerankMin = 512;
constexpr int kEmbeddingMaxCandidates = 65536;  // a request's own re-rank size, at most

// The version of a store row's byte layout (row_layout.h: the row header, tile rings,
// per-aggregate state, HLL registers) and of the shard index's hashing. Snapshots carry
// it; a snapshot whose version differs cannot be mapped back and must be rebuilt from
// events. Bump it with any change to what row_layout.cc, windows.h, hll.h or
// shard_index.h write into shard memory (TestRowLayoutVersion3 in
// native/test/store_parts_test.cc pins the layout of version 3). Version 2: the HLL state
// carries a bitmap of its occupied registers (hll.h). Version 3: a ring's tile counts are
// one uint32 array, the tiles hold only their doubles (no 4-byte pad per tile).
constexpr int kRowLayoutVersion = 3;

}  // namespace hotpath
