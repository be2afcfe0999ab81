// Expected failures as values.
//
// `Error` carries a human-readable message that says what went wrong and, where it can,
// what to do about it, and an `ErrorCode` that says whose fault it is, so that a layer above
// can answer correctly without parsing the message (the coordinator maps kInvalidInput to
// HTTP 400, kUnavailable to 503, kInternal to 500). `Result<T>` holds either a T or an Error;
// callers test it with `ok()` and read `value()` or `error()`. Programming errors (violated
// preconditions) are not Errors: they go through SS_CHECK (base/check.h) and abort.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace shardserve {

enum class ErrorCode : uint8_t {
  kInternal = 0,      // something failed that the caller could not have avoided (the default)
  kInvalidInput = 1,  // the input itself is wrong: the same input will fail again
  kUnavailable = 2,   // a resource is missing or busy right now: retrying later may succeed
};

struct Error {
  std::string message;
  ErrorCode code = ErrorCode::kInternal;

  static Error invalid_input(std::string message) {
    return {std::move(message), ErrorCode::kInvalidInput};
  }
  static Error unavailable(std::string message) {
    return {std::move(message), ErrorCode::kUnavailable};
  }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Result<void> equivalent: success or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT: implicit by design
  static Status Ok() { return {}; }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }
  const std::string& message() const { return error_.message; }
  ErrorCode code() const { return error_.code; }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace shardserve
