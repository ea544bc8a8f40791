#include "pipeline/image_job.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <filesystem>
#include <system_error>

#include "image/source_image.hpp"
#include "log.hpp"
#include "package/manifest_io.hpp"
#include "pipeline/result_json.hpp"
#include "pipeline/staging_dir.hpp"

namespace kiln::pipeline {
namespace fs = std::filesystem;

namespace {

void report(const TranscodeRequest& req, const char* phase, double percent, int64_t done = 0) {
  if (!req.on_progress) return;
  Progress p;
  p.phase = phase;
  p.percent = percent;
  p.frames = done;  // variants written: what KILN_FAULT=worker:...=N counts for an image job
  req.on_progress(p);
}

bool cancelled(const TranscodeRequest& req) { return req.cancel && req.cancel->load(); }

MediaInfo describe_input(const std::string& path, const ImageInfo& image) {
  MediaInfo info;
  info.path = path;
  info.container = image.format;
  std::error_code ec;
  info.size_bytes = static_cast<int64_t>(fs::file_size(path, ec));
  info.image = image;
  return info;
}

}  // namespace

Result<TranscodeResult> transcode_image(const TranscodeRequest& req, image::ImageFormat format,
                                        const ImageDestination& to) {
  auto log = logger("pipeline");
  const auto start = std::chrono::steady_clock::now();
  const ImageSettings& settings = req.ladder.image;
  report(req, "probing", 0);
  auto source = image::SourceImage::open(req.input, format, settings.max_pixels);
  if (!source) return source.status();
  const ImageInfo& in = source->info();
  MediaInfo info = describe_input(req.input, in);
  if (!to.input_uri.empty()) info.path = to.input_uri;  // results name the object, not its staged copy
  if (req.on_input) req.on_input(info);
  log->info("input {}: {} image {}x{}{}, {}{}{}", req.input, in.format, in.width, in.height,
            in.orientation != 1 ? fmt::format(" (EXIF orientation {}: {}x{} upright)", in.orientation,
                                              in.display_width(), in.display_height())
                                : std::string(),
            in.colour_space, in.icc_profile ? " with an ICC profile" : "", in.gps ? ", GPS tags (not copied)" : "");

  const auto widths = plan_image_widths(settings, in.display_width());
  if (req.clear_stale_staging)
    if (int n = StagingDir::remove_stale(req.output_dir, req.job_id, req.job_attempt))
      log->warn("removed {} staging director{} an earlier attempt left behind", n, n == 1 ? "y" : "ies");
  auto staging = StagingDir::create(
      req.output_dir, req.job_id > 0 ? StagingDir::Owner{req.job_id, req.job_attempt} : StagingDir::Owner{},
      req.overwrite && req.job_id == 0);
  if (!staging) return staging.status();
  KILN_RETURN_IF_ERROR(source->decode());
  const std::string relative_folder = to.media_prefix + kImageFolder;
  const fs::path folder = fs::path(staging->path()) / relative_folder;
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return Status(Code::kIo, fmt::format("cannot create {}: {}", folder.string(), ec.message()));

  std::string final_dir =
      to.final_dir.empty() ? fs::absolute(fs::path(req.output_dir)).lexically_normal().string() : to.final_dir;
  if (!final_dir.empty() && final_dir.back() == '/') final_dir.pop_back();
  TranscodeResult result;
  result.input = info;
  result.output_dir = final_dir;
  result.backend = "libvips";
  result.device = "cpu";
  result.encoder = fmt::format("libvips: {}", fmt::join(settings.formats, ", "));
  result.variant = "image";
  result.acceleration_reason = "image job: libvips on the CPU";
  result.frames = 1;
  const size_t total = widths.size() * settings.formats.size();
  report(req, "transcoding", 0);
  for (int width : widths)
    for (const auto& ext : settings.formats) {
      if (cancelled(req)) return Status(Code::kCancelled, "cancelled");
      const std::string name = fmt::format("{}.{}", width, ext);
      auto written = source->write({width, ext, settings.quality, settings.keep_metadata, (folder / name).string(),
                                    fmt::format("{}/{}", relative_folder, name)});
      if (!written && written.status().code() == Code::kUnsupported) {
        result.warnings.push_back(fmt::format("no {}/{}: {}", relative_folder, name, written.status().message()));
      } else if (!written) {
        return written.status();
      } else {
        result.image_variants.push_back({fmt::format("{}/{}", relative_folder, name), ext, written->width,
                                         written->height, written->size_bytes, settings.quality});
        log->info("{}/{}: {}x{}, {} bytes", relative_folder, name, written->width, written->height, written->size_bytes);
      }
      const auto done = static_cast<int64_t>(result.image_variants.size() + result.warnings.size());
      report(req, "transcoding", 100.0 * static_cast<double>(done) / static_cast<double>(total), done);
    }
  if (result.image_variants.empty())
    return Status(Code::kInputUnsupported,
                  fmt::format("no variant of '{}' could be made: {}", req.input, fmt::join(result.warnings, "; ")));

  result.job_id = req.job_id;
  result.job_attempt = req.job_attempt;
  result.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  KILN_RETURN_IF_ERROR(package::write_text_file(staging->path() + "/result.json", result_json(result).dump(2) + "\n"));
  if (cancelled(req)) return Status(Code::kCancelled, "cancelled");
  report(req, "publishing", 100, static_cast<int64_t>(total));
  if (to.publish) {
    KILN_RETURN_IF_ERROR(to.publish(*staging));
  } else {
    if (req.before_publish && !req.before_publish())
      return Status(Code::kCancelled, "the job is no longer ours (lease lost or cancelled); nothing was published");
    KILN_RETURN_IF_ERROR(staging->publish());
  }
  for (const auto& w : result.warnings) log->warn("{}", w);
  return result;
}

}  // namespace kiln::pipeline
