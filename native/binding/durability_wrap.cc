// The durability edge: store snapshots and restores on a background thread (promises),
// the write-ahead log's record reader, CRC-32C, and space reservation for log segments.
//
// Buffers: walRead and crc32c read the typed array they are given during the call only.
// A snapshot reads the store's rows from the libuv thread pool while the JS thread goes on
// ingesting (snapshot.h says how the two share the rows); a restore writes an empty store's
// rows there, and the store's handle refuses ingest and sweeps until it has finished.
#include <errno.h>
#include <fcntl.h>

#include <memory>
#include <string>

#include "../core/crc32c.h"
#include "../core/snapshot.h"
#include "../core/wal_record.h"
#include "args.h"
#include "wraps.h"

namespace hotpath {
namespace {

Napi::Object ErrorOf(Napi::Env env, const Status& s) {
  Napi::Error err = Napi::Error::New(env, s.message());
  err.Set("code", Napi::String::New(env, std::string("HP_ERR_NATIVE_") + s.code_name()));
  return err.Value();
}

class SnapshotWorker : public Napi::AsyncWorker {
 public:
  SnapshotWorker(Napi::Env env, std::unique_ptr<StoreSnapshot> snap, std::string path)
      : Napi::AsyncWorker(env, "hotpath:snapshot"), deferred_(Napi::Promise::Deferred::New(env)),
        snap_(std::move(snap)), path_(std::move(path)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = snap_->Write(path_); }
  void OnOK() override {
    Napi::Env env = Env();
    snap_->End();
    if (!status_.ok()) {
      deferred_.Reject(ErrorOf(env, status_));
      return;
    }
    const SnapshotStats s = snap_->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytes", double(s.bytes));
    o.Set("rows", double(s.rows));
    o.Set("live", double(s.live));
    o.Set("blocks", double(s.blocks));
    o.Set("writerCopies", double(s.writer_copies));
    o.Set("maxStallUs", s.max_stall_us);
    o.Set("writeMs", s.write_ms);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override {
    snap_->End();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::unique_ptr<StoreSnapshot> snap_;
  std::string path_;
  Status status_;
};

class RestoreWorker : public Napi::AsyncWorker {
 public:
  RestoreWorker(Napi::Object receiver, std::shared_ptr<Store> store, std::string path, bool* busy)
      : Napi::AsyncWorker(receiver.Env(), "hotpath:restore"), deferred_(Napi::Promise::Deferred::New(receiver.Env())),
        receiver_(Napi::Persistent(receiver)), store_(std::move(store)), path_(std::move(path)), busy_(busy) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = RestoreSnapshot(*store_, path_, &stats_); }
  void OnOK() override {
    Napi::Env env = Env();
    *busy_ = false;  // receiver_ (the store's handle, which owns *busy_) lives until this worker is deleted
    if (!status_.ok()) {
      deferred_.Reject(ErrorOf(env, status_));
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytes", double(stats_.bytes));
    o.Set("rows", double(stats_.rows));
    o.Set("live", double(stats_.live));
    o.Set("blocks", double(stats_.blocks));
    o.Set("ms", stats_.ms);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override {
    *busy_ = false;
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference receiver_;
  std::shared_ptr<Store> store_;
  std::string path_;
  bool* busy_;
  Status status_;
  RestoreStats stats_;
};

}  // namespace

Napi::Value StartSnapshot(Napi::Env env, const std::shared_ptr<Store>& store, const std::string& path) {
  std::unique_ptr<StoreSnapshot> snap;
  const Status s = StoreSnapshot::Begin(store, &snap);
  if (!s.ok()) return ThrowStatus(env, s);
  auto* w = new SnapshotWorker(env, std::move(snap), path);  // deletes itself after OnOK
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value StartRestore(Napi::Object receiver, const std::shared_ptr<Store>& store, const std::string& path, bool* busy) {
  *busy = true;
  auto* w = new RestoreWorker(receiver, store, path, busy);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// walRead(buf: Uint8Array, offset, out: Float64Array(10)) -> a walReads index; OK fills out
// with [seq, recordBytes, stream, nkeys, nfields, n, nowMs, keysAt, tsAt, valuesAt], the
// offsets counted from the start of buf.
Napi::Value WalReadRecord(const Napi::CallbackInfo& info) {
  constexpr const char* kUsage = "walRead(buf, offset, out)";
  REQUIRE_ARGUMENTS(3, kUsage);
  REQUIRE_ARGUMENT_NUMBER(1, offset, kUsage);
  REQUIRE_ARGUMENT_UINT8_ARRAY(0, buf, len, "buf must be a Uint8Array");
  REQUIRE_ARGUMENT_FLOAT64_ARRAY(2, out, olen, "out must be a Float64Array(10)");
  if (olen < 10) HP_ARG_FAIL("out must be a Float64Array(10)");
  if (!(offset >= 0 && offset <= double(len) && offset == std::trunc(offset))) HP_ARG_FAIL("offset is outside buf");
  const size_t at = size_t(offset);
  WalBatchView v;
  const WalRead r = WalReadBatch(buf + at, len - at, &v);
  if (r == WalRead::OK) {
    out[0] = double(v.seq);
    out[1] = v.record_bytes;
    out[2] = v.stream;
    out[3] = v.nkeys;
    out[4] = v.nfields;
    out[5] = v.n;
    out[6] = v.now_ms;
    out[7] = double(at + v.keys_at);
    out[8] = double(at + v.ts_at);
    out[9] = double(at + v.values_at);
  }
  return Napi::Number::New(info.Env(), int(r));
}

// crc32c(buf: Uint8Array, crc = 0) -> the CRC-32C of buf, extending crc
Napi::Value Crc32cOf(const Napi::CallbackInfo& info) {
  REQUIRE_ARGUMENT_UINT8_ARRAY(0, buf, len, "crc32c(buf: Uint8Array, crc = 0)");
  uint32_t crc = 0;
  if (info.Length() > 1 && info[1].IsNumber()) crc = info[1].As<Napi::Number>().Uint32Value();
  return Napi::Number::New(info.Env(), Crc32c(crc, buf, len));
}

// reserveFile(fd, offset, length) -> 0, or the errno of posix_fallocate (ENOSPC: the disk
// is full). The log reserves a segment's blocks before any record relies on them.
Napi::Value ReserveFile(const Napi::CallbackInfo& info) {
  constexpr const char* kUsage = "reserveFile(fd, offset, length)";
  REQUIRE_ARGUMENTS(3, kUsage);
  REQUIRE_ARGUMENT_INT32(0, fd, kUsage);
  REQUIRE_ARGUMENT_NUMBER(1, offset, kUsage);
  REQUIRE_ARGUMENT_NUMBER(2, length, kUsage);
  if (!(offset >= 0 && length > 0 && offset + length <= 9007199254740992.0)) HP_ARG_FAIL("offset and length must be >= 0");
  int err;
  do err = posix_fallocate(fd, off_t(offset), off_t(length));
  while (err == EINTR);
  return Napi::Number::New(info.Env(), err);
}

}  // namespace hotpath
