// Errors in the core are values: functions return Status and never throw.
#pragma once
#include <string>
#include <utility>

#include "constants.h"

namespace hotpath {

class Status {
 public:
  enum class Code : int {
#define HP_X(e, name) e,
    HP_STATUS_LIST(HP_X)
#undef HP_X
  };

  Status() = default;
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArg(std::string m) { return {Code::INVALID_ARG, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::NOT_FOUND, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::UNAVAILABLE, std::move(m)}; }
  static Status Unsupported(std::string m) { return {Code::UNSUPPORTED, std::move(m)}; }
  static Status Exhausted(std::string m) { return {Code::RESOURCE_EXHAUSTED, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::INTERNAL, std::move(m)}; }

  bool ok() const { return code_ == Code::OK; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  const char* code_name() const { return CodeName(code_); }

  static const char* CodeName(Code c) {
    switch (c) {
#define HP_X(e, name) \
  case Code::e:       \
    return name;
      HP_STATUS_LIST(HP_X)
#undef HP_X
    }
    return "INTERNAL";
  }

 private:
  Code code_ = Code::OK;
  std::string msg_;
};

#define HP_RETURN_IF_ERROR(expr)       \
  do {                                 \
    ::hotpath::Status _s = (expr);     \
    if (!_s.ok()) return _s;           \
  } while (0)

}  // namespace hotpath
