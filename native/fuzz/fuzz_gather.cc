// libFuzzer target: the feature gather (native/core/model.h, Gather::Create and Run): a
// model's column spec, then a batch of entity ids given as (offset, length) references
// into an id blob, as a worker reads them out of its request ring. Create must refuse a
// spec that does not fit the store, and Run references that fall outside the blob, with
// a status; everything else is read from the store (a few entities are ingested first).
//
// Input: [u8 key count (0-3)] [u8 table of each key] [u8 field count] [u8 column count]
// then per column [u8 source] [u8 key] [u8 offset] [u8 field] [u8 transform] [f32 fill],
// [u8 batch], per row and key [u16 offset] [u16 length], per row and field [f32], then
// the id blob.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../core/hash.h"
#include "../core/model.h"
#include "fuzz_util.h"

using namespace hotpath;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  std::shared_ptr<Store> store = fuzz::NewStore();
  // Some entities to find: ids "u0".."u3" and "m0".."m1", as the blob may name them.
  {
    const char* users[] = {"u0", "u1", "u2", "u3"};
    const char* merchants[] = {"m0", "m1", "m0", "m1"};
    uint64_t k0[4], k1[4];
    double ts[4], values[12];
    for (int i = 0; i < 4; i++) {
      k0[i] = HashBytes(users[i], 2);
      k1[i] = HashBytes(merchants[i], 2);
      ts[i] = fuzz::kNowMs - 1000 * i;
      values[3 * i] = 10.0 * i;
      values[3 * i + 1] = i % 2;
      values[3 * i + 2] = i;
    }
    const uint64_t* keys[2] = {k0, k1};
    IngestResult r;
    if (!store->Ingest(0, 4, keys, ts, values, fuzz::kNowMs, &r).ok()) __builtin_trap();
  }
  const int nkeys = in.U8() % 4;
  std::vector<int> tables(static_cast<size_t>(nkeys));
  for (int& t : tables) t = int(in.U8() % 4) - 1;  // -1 and 2 are not tables: Create refuses them
  const int nfields = in.U8() % 8;
  const int ncols = in.U8() % 16;
  std::vector<GatherColumn> cols(static_cast<size_t>(ncols));
  for (GatherColumn& c : cols) {
    c.source = GatherSource(in.U8() % 3);           // 2 is not a source
    c.key = int(in.U8() % 5) - 1;
    c.offset = int(in.U8() % 40) - 1;                // the user table is about 30 wide
    c.field = int(in.U8() % 10) - 1;
    c.transform = GatherTransform(in.U8() % 3);     // 2 is not a transform
    c.fill = in.F32();
  }
  std::unique_ptr<Gather> g;
  if (!Gather::Create(store, tables, nfields, cols, &g).ok()) return 0;
  const int batch = in.U8() % 33;
  std::vector<uint32_t> refs(size_t(batch) * size_t(nkeys) * 2);
  for (uint32_t& r : refs) r = in.U16();
  std::vector<float> fields(size_t(batch) * size_t(nfields));
  for (float& f : fields) f = in.F32();
  size_t blob_len;
  const uint8_t* blob = in.Rest(&blob_len);
  // The blob in its own allocation of exactly its size, so that ASan sees any read past it.
  std::vector<uint8_t> ids(blob, blob + blob_len);
  std::vector<float> x(size_t(batch) * size_t(ncols));
  const Status s = g->Run(ids.data(), ids.size(), refs.data(), fields.data(), batch, fuzz::kNowMs, x.data());
  if (!s.ok() && s.code() != Status::Code::INVALID_ARG) __builtin_trap();
  return 0;
}
