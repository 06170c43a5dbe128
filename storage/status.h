// Status and StatusOr<T>: errors as values, with a small closed set of codes.
//
// Thread-safety: plain values; a const Status may be read from any thread.
#ifndef HOOKVAULT_STORAGE_STATUS_H_
#define HOOKVAULT_STORAGE_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hookvault::storage {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kUnauthenticated,
  kPermissionDenied,
  kUnavailable,
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

// The message of the kInternal status a StatusOr made from an OK Status holds.
inline constexpr char kOkWithoutValue[] = "StatusOr constructed from an OK Status without a value";

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, msg}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {StatusCode::kAlreadyExists, msg}; }
  static Status Unauthenticated(std::string msg) { return {StatusCode::kUnauthenticated, msg}; }
  static Status PermissionDenied(std::string msg) { return {StatusCode::kPermissionDenied, msg}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Returns "CODE: message", for logs.
  std::string ToString() const;

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  // An OK `status` carries no value: it is a bug of the caller. It becomes kInternal (in every
  // build, not only under assert), so the caller sees an error instead of reading a value that
  // is not there.
  StatusOr(Status status)  // NOLINT
      : status_(status.ok() ? Status::Internal(kOkWithoutValue) : std::move(status)) {}
  StatusOr(T value) : value_(std::move(value)) {}                                  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T& value() & {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace hookvault::storage

#endif  // HOOKVAULT_STORAGE_STATUS_H_
