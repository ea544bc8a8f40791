#pragma once
// libvips as Kiln runs it: started once per process, its operation cache off, loaders it does
// not trust blocked, its GLib messages on the "image" logger; and its errors as Status.
// Only src/image/ includes this (and with it vips/vips.h).

#include <string>
#include <string_view>

#include "kiln/status.hpp"

namespace kiln::image {

/// Starts libvips (VIPS_INIT) the first time it is called in this process; later calls return
/// the first answer. Thread-safe. kInternal when libvips cannot start (a broken install).
Status ensure_vips();

/// The text libvips left in its error buffer (trimmed, one line per message), which is then
/// cleared. libvips keeps one buffer per process: a job runs one image at a time.
std::string take_vips_error();

/// A failed libvips call as a Status: `what` (what Kiln was doing, naming the file) and the
/// library's own words. Running out of memory (an allocation or a thread's stack) is always
/// kInputLimits, the job's memory ceiling. While reading an input (`fallback` an input code), a
/// message that says so is kInputUnsupported (a variant of a format the library cannot read).
/// Otherwise `fallback`, with `likely_cause` ("it is damaged or truncated") when given.
Status vips_failure(Code fallback, std::string_view what, std::string_view likely_cause = {});

/// VIPS_TRY's log line: the call that failed, as written, with libvips' words (not cleared).
void log_failed_call(const char* call_text);

}  // namespace kiln::image

/// Runs a libvips call that returns non-zero on failure; on failure logs the call as written
/// (debug, "image" logger) and returns vips_failure(fallback, what).
#define VIPS_TRY(call, fallback, what)                                                  \
  do {                                                                                  \
    if ((call) != 0) {                                                                  \
      ::kiln::image::log_failed_call(#call);                                            \
      return ::kiln::image::vips_failure((fallback), (what));                           \
    }                                                                                   \
  } while (0)
