#pragma once
// Mapping libav error codes to Status, and the AV_TRY checking macro.

#include <string>

#include "kiln/status.hpp"

namespace kiln::av {

/// libav's own text for an AVERROR code.
std::string error_string(int averror);

/// A Status for a failed libav call: "what: libav text". `code` is the domain code to use;
/// AVERROR(ENOMEM) is always kInputLimits (the job's memory ceiling), and EIO where the caller
/// said kInternal is kIo.
Status to_status(int averror, Code code, const std::string& what);

}  // namespace kiln::av

/// Runs a libav call; on a negative return, logs it and returns a Status from the enclosing
/// function with the given domain code and a description of what was being done.
#define AV_TRY(call, code, what)                                         \
  do {                                                                   \
    int av_try_ret_ = (call);                                            \
    if (av_try_ret_ < 0) return ::kiln::av::to_status(av_try_ret_, (code), (what)); \
  } while (0)
