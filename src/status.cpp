#include "kiln/status.hpp"

#include <array>
#include <cstdio>

#include "log.hpp"

namespace kiln {
namespace {

struct CodeRow {
  Code code;
  const char* name;
  int exit;
};

// One row per code: its JSON/log name and the process exit code (README "Exit codes").
constexpr std::array kCodes = {
    CodeRow{Code::kOk, "ok", 0},
    CodeRow{Code::kUsage, "usage", 2},
    CodeRow{Code::kInputMissing, "input_missing", 10},
    CodeRow{Code::kInputEmpty, "input_empty", 11},
    CodeRow{Code::kInputNotMedia, "input_not_media", 12},
    CodeRow{Code::kInputNoVideo, "input_no_video", 13},
    CodeRow{Code::kInputTruncated, "input_truncated", 14},
    CodeRow{Code::kInputUnsupported, "input_unsupported", 15},
    CodeRow{Code::kInputLimits, "input_limits", 16},
    CodeRow{Code::kInputUndecodable, "input_undecodable", 17},
    CodeRow{Code::kOutputExists, "output_exists", 20},
    CodeRow{Code::kPathNotAllowed, "path_not_allowed", 25},
    CodeRow{Code::kIo, "io", 21},
    CodeRow{Code::kUnsupported, "unsupported", 22},
    CodeRow{Code::kDeviceLost, "device_lost", 23},
    CodeRow{Code::kBusy, "busy", 24},
    CodeRow{Code::kCancelled, "cancelled", 130},
    CodeRow{Code::kStorageUnreachable, "storage_unreachable", 30},
    CodeRow{Code::kStorageBadKey, "storage_bad_key", 31},
    CodeRow{Code::kStorageBadSecret, "storage_bad_secret", 32},
    CodeRow{Code::kStorageClockSkew, "storage_clock_skew", 33},
    CodeRow{Code::kStorageNoBucket, "storage_no_bucket", 34},
    CodeRow{Code::kStorageDenied, "storage_denied", 35},
    CodeRow{Code::kStorage, "storage", 36},
    CodeRow{Code::kInternal, "internal", 1},
};

const CodeRow& row(Code code) {
  for (const auto& r : kCodes)
    if (r.code == code) return r;
  return kCodes.back();
}

}  // namespace

const char* code_name(Code code) { return row(code).name; }
int exit_code(Code code) { return row(code).exit; }

namespace detail {
void bad_result_access(const Status& status) {
  // stderr too: the logger may not be set up (a test, an early start-up path).
  std::fprintf(stderr, "kiln: BUG: value() of a failed Result (%s)\n", status.to_string().c_str());
  if (auto log = spdlog::default_logger_raw()) log->critical("BUG: value() of a failed Result ({})", status.to_string());
  throw BadResultAccess("value() of a failed Result (" + status.to_string() + ")");
}
}  // namespace detail

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(code_name(code_)) + ": " + message_;
}

}  // namespace kiln
