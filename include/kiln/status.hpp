#pragma once
// Status and Result<T>: how every fallible call in Kiln reports failure. The frame path never
// throws; it returns one of these with a domain code and a message a user can act on.

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace kiln {

enum class Code {
  kOk,
  kUsage,               // bad command line or config
  kInputMissing,        // no such path, or a directory
  kInputEmpty,          // zero-byte file
  kInputNotMedia,       // no demuxer recognises it
  kInputNoVideo,        // media, but no video stream
  kInputTruncated,      // container unreadable or cut short
  kInputUnsupported,    // a codec or format Kiln does not transcode
  kInputLimits,         // size, duration or rate past the configured limits
  kInputUndecodable,    // the video stream cannot be decoded at all
  kOutputExists,        // OUTDIR exists and --overwrite was not given
  kPathNotAllowed,      // a job's path outside every storage location (or a rule between them)
  kIo,                  // filesystem error writing output
  kUnsupported,         // "not mine, try the next backend"
  kDeviceLost,          // a device failed mid-job
  kBusy,                // a device is at its session limit
  kCancelled,           // SIGINT/SIGTERM or an API cancel
  kStorageUnreachable,  // an object store's endpoint cannot be reached (connect, DNS, timeouts)
  kStorageBadKey,       // the store does not know the access key id (or the session token)
  kStorageBadSecret,    // the store computed another signature: a wrong secret access key
  kStorageClockSkew,    // this machine's clock is too far from the store's
  kStorageNoBucket,     // the bucket does not exist at that endpoint
  kStorageDenied,       // the credentials are valid but lack permission
  kStorage,             // any other object-store failure (5xx after retries, a changed object)
  kInternal,            // a bug or an unexpected library failure
};

/// Stable lower-case name of a code, used in JSON results and logs ("input_truncated").
const char* code_name(Code code);

/// Process exit code for a failure of this kind; documented in README.md ("Exit codes").
int exit_code(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

/// Thrown by Result::value() (and * and ->) on a failed Result. It is a bug: the caller did not
/// check. A test that does it fails with this exception; in the daemon every thread's top
/// catches it, logs it and goes on (one job attempt or one heartbeat round ends), so a missed
/// check never ends the process.
class BadResultAccess : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {
/// Logs the bug at critical (with the status) and throws BadResultAccess.
[[noreturn]] void bad_result_access(const Status& status);
}  // namespace detail

/// A value or the Status that explains why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}   // NOLINT: implicit by design
  Result(Code code, std::string message) : v_(Status(code, std::move(message))) {}

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  /// The value; on an error, a bug: see detail::bad_result_access.
  T& value() & { return *checked(); }
  const T& value() const& { return *checked(); }
  T&& value() && { return std::move(*checked()); }
  /// The value, or `fallback` when this holds an error.
  T value_or(T fallback) const& { return is_ok() ? *std::get_if<T>(&v_) : std::move(fallback); }
  T* operator->() { return checked(); }
  const T* operator->() const { return checked(); }
  T& operator*() { return *checked(); }
  const T& operator*() const { return *checked(); }
  Status status() const { return is_ok() ? Status::ok() : *std::get_if<Status>(&v_); }

 private:
  T* checked() {
    if (T* v = std::get_if<T>(&v_)) return v;
    detail::bad_result_access(*std::get_if<Status>(&v_));
  }
  const T* checked() const {
    if (const T* v = std::get_if<T>(&v_)) return v;
    detail::bad_result_access(*std::get_if<Status>(&v_));
  }

  std::variant<T, Status> v_;
};

}  // namespace kiln

/// Propagates a failed Status from an expression returning Status.
#define KILN_RETURN_IF_ERROR(expr)            \
  do {                                        \
    ::kiln::Status kiln_status_ = (expr);     \
    if (!kiln_status_.is_ok()) return kiln_status_; \
  } while (0)
