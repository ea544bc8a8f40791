// `kiln probe FILE`: opens a file as a job's worker would (the container whitelist, the preset's
// limits; an image, told by its first bytes, by its header through libvips as an image job
// would) and says what it is, or why Kiln refuses it (exit codes 10-17 as kiln transcode).
// The coordinator runs it in a child process to check a finished console upload, so the
// coordinator itself never parses untrusted media.

#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "image/image_sniff.hpp"
#include "image/source_image.hpp"
#include "kiln/ladder.hpp"
#include "log.hpp"
#include "media/probe.hpp"
#include "pipeline/result_json.hpp"

namespace kiln::cli {
namespace {

struct ProbeOptions {
  std::string input;
  bool json = false;
  double max_memory_mb = 1024;
  double max_cpu_seconds = 60;
};

struct Probed {
  MediaInfo info;
  std::vector<std::string> warnings;
};

/// What the job would find: an image's header (the preset's pixel limit), else the media probe.
Result<Probed> probe(const std::string& path) {
  if (auto format = image::sniff_image(path)) {
    auto source = image::SourceImage::open(path, *format, default_ladder().image.max_pixels);
    if (!source) return source.status();
    Probed p;
    p.info.path = path;
    p.info.container = source->info().format;
    std::error_code ec;
    p.info.size_bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
    p.info.image = source->info();
    return p;
  }
  auto probed = media::open_and_probe(path, default_ladder().limits);
  if (!probed) return probed.status();
  return Probed{std::move(probed->info), std::move(probed->warnings)};
}

int run(const ProbeOptions& o) {
  // Ceilings as a worker has them: a hostile file costs this process, and only this much.
  if (o.max_memory_mb > 0) {
    rlim_t bytes = static_cast<rlim_t>(o.max_memory_mb * 1024 * 1024);
    rlimit lim{bytes, bytes};
    setrlimit(RLIMIT_AS, &lim);
  }
  if (o.max_cpu_seconds > 0) {
    rlimit lim{static_cast<rlim_t>(o.max_cpu_seconds), static_cast<rlim_t>(o.max_cpu_seconds) + 1};
    setrlimit(RLIMIT_CPU, &lim);
  }
  auto probed = probe(o.input);
  if (!probed) {
    const Status& st = probed.status();
    if (o.json)
      std::puts(nlohmann::json{{"ok", false}, {"code", code_name(st.code())}, {"message", st.message()}}.dump().c_str());
    else
      logger("probe")->error("{}", st.message());
    return exit_code(st.code());
  }
  nlohmann::json info = pipeline::input_details(probed->info);
  if (o.json)
    std::puts(nlohmann::json{{"ok", true}, {"input", info}, {"warnings", probed->warnings}}.dump().c_str());
  else
    std::puts(info.dump(2).c_str());
  return 0;
}

}  // namespace

std::function<int()> add_probe(CLI::App& app) {
  auto o = std::make_shared<ProbeOptions>();
  CLI::App* cmd = app.add_subcommand("probe", "Check a file as a job would: what it holds, or why Kiln refuses it.");
  cmd->add_option("input", o->input, "the file: a video, or an image (JPEG, PNG, WebP, AVIF, HEIC, TIFF, GIF)")->required();
  cmd->add_flag("--json", o->json, "print {\"ok\", \"input\"} or {\"ok\": false, \"code\", \"message\"} on stdout");
  cmd->add_option("--max-memory", o->max_memory_mb, "memory ceiling in MiB (0 = none)")->capture_default_str();
  cmd->add_option("--max-cpu-seconds", o->max_cpu_seconds, "CPU time ceiling (0 = none)")->capture_default_str();
  cmd->footer("Exit codes: 0 ok, 10 missing, 11 empty, 12 not media, 13 no video, 14 truncated, 15 unsupported, "
              "16 over limits, 17 undecodable.");
  return [o] { return run(*o); };
}

}  // namespace kiln::cli
