#include "image/vips_runtime.hpp"

#include <vips/vips.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>

#include "log.hpp"

namespace kiln::image {
namespace {

/// Where a libvips message decides the code: the library's own words (including what libjpeg,
/// libspng, libtiff, libwebp and libheif say through it) mapped to what the user can do.
struct ErrorRule {
  std::string_view contains;  // lower case
  Code code;
  bool reading_only;          // applies while reading the input, not while writing outputs
};
constexpr std::array kErrorRules = {
    ErrorRule{"out of memory", Code::kInputLimits, false},
    ErrorRule{"cannot allocate memory", Code::kInputLimits, false},
    ErrorRule{"memory allocation", Code::kInputLimits, false},
    // A thread's stack is data too: under RLIMIT_DATA, pthread_create fails with EAGAIN.
    ErrorRule{"error creating thread", Code::kInputLimits, false},
    // Damage first: libjpeg calls a corrupt marker "unsupported marker type".
    ErrorRule{"corrupt", Code::kInputTruncated, true},
    ErrorRule{"bogus", Code::kInputTruncated, true},
    ErrorRule{"invalid", Code::kInputTruncated, true},
    ErrorRule{"unsupported", Code::kInputUnsupported, true},
    ErrorRule{"not supported", Code::kInputUnsupported, true},
    ErrorRule{"no decoder", Code::kInputUnsupported, true},
};

bool is_input_code(Code code) {
  return code == Code::kInputNotMedia || code == Code::kInputTruncated || code == Code::kInputUnsupported ||
         code == Code::kInputLimits || code == Code::kInputUndecodable;
}

void on_glib_log(const gchar* domain, GLogLevelFlags level, const gchar* message, gpointer) {
  auto log = logger("image");
  const char* from = domain ? domain : "glib";
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    log->error("{}: {}", from, message);
  else if (level & G_LOG_LEVEL_WARNING)
    log->warn("{}: {}", from, message);
  else if (level & G_LOG_LEVEL_MESSAGE)
    log->info("{}: {}", from, message);
  else  // libvips' info messages narrate its internals (which resize path, which cache)
    log->debug("{}: {}", from, message);
}

Status start() {
  // The library's warnings (a damaged chunk, an ignored colour profile) go to the job's log
  // with everything else instead of straight to stderr.
  g_log_set_handler("VIPS", static_cast<GLogLevelFlags>(G_LOG_LEVEL_MASK), on_glib_log, nullptr);
  if (VIPS_INIT("kiln") != 0)
    return {Code::kInternal, fmt::format("libvips could not start ({}); check the libvips installation "
                                         "(Debian: libvips42)", take_vips_error())};
  // One job per process, each operation run once: a cache would only hold decoded pixels past
  // their use, inside the job's memory ceiling.
  vips_cache_set_max(0);
  vips_cache_set_max_mem(0);
  vips_cache_set_max_files(0);
  // Kiln calls its loaders by name; this also keeps out those libvips marks untrusted
  // (ImageMagick, PDF, SVG...) should anything ever dispatch by content.
  vips_block_untrusted_set(TRUE);
  logger("image")->debug("libvips {} started", vips_version_string());
  return Status::ok();
}

}  // namespace

Status ensure_vips() {
  static std::once_flag once;
  static Status started;
  std::call_once(once, [] { started = start(); });
  return started;
}

std::string take_vips_error() {
  std::string text = vips_error_buffer();
  vips_error_clear();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::replace(text.begin(), text.end(), '\n', ';');
  return text.empty() ? std::string("libvips gave no reason") : text;
}

void log_failed_call(const char* call_text) {
  logger("image")->debug("{} failed: {}", call_text, vips_error_buffer());
}

Status vips_failure(Code fallback, std::string_view what, std::string_view likely_cause) {
  std::string why = take_vips_error();
  std::string lower = why;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& rule : kErrorRules)
    if (lower.find(rule.contains) != std::string::npos && (!rule.reading_only || is_input_code(fallback))) {
      if (rule.code == Code::kInputLimits)
        return {Code::kInputLimits,
                fmt::format("{}: out of memory under the job's memory ceiling (kiln transcode --max-memory, "
                            "a node's worker_memory_mb); the image needs more, or lower [image] max_pixels ({})",
                            what, why)};
      if (rule.code == fallback && !likely_cause.empty())
        return {rule.code, fmt::format("{}: {} ({})", what, likely_cause, why)};
      return {rule.code, fmt::format("{}: {}", what, why)};
    }
  if (!likely_cause.empty()) return {fallback, fmt::format("{}: {} ({})", what, likely_cause, why)};
  return {fallback, fmt::format("{}: {}", what, why)};
}

}  // namespace kiln::image
