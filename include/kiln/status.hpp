#pragma once
// Status and Result<T>: how every fallible call in Kiln reports failure. The frame path never
// throws; it returns one of these with a domain code and a message a user can act on.

#include <optional>
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
  kIo,                  // filesystem error writing output
  kUnsupported,         // "not mine, try the next backend"
  kDeviceLost,          // a device failed mid-job
  kBusy,                // a device is at its session limit
  kCancelled,           // SIGINT/SIGTERM or an API cancel
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

/// A value or the Status that explains why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}   // NOLINT: implicit by design
  Result(Code code, std::string message) : v_(Status(code, std::move(message))) {}

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kiln

/// Propagates a failed Status from an expression returning Status.
#define KILN_RETURN_IF_ERROR(expr)            \
  do {                                        \
    ::kiln::Status kiln_status_ = (expr);     \
    if (!kiln_status_.is_ok()) return kiln_status_; \
  } while (0)
