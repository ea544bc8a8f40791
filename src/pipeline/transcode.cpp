// kiln::transcode: probe -> plan -> choose a recipe -> run the ladder into a staging dir ->
// manifests -> result.json -> atomic publish.

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "kiln/backend.hpp"
#include "kiln/pipeline.hpp"
#include "log.hpp"
#include "media/probe.hpp"
#include "package/manifest.hpp"
#include "package/manifest_io.hpp"
#include "pipeline/ladder_runner.hpp"
#include "pipeline/result_json.hpp"
#include "pipeline/staging_dir.hpp"

namespace kiln {
namespace fs = std::filesystem;

namespace {

void report(const TranscodeRequest& req, const char* phase, double percent) {
  if (!req.on_progress) return;
  Progress p;
  p.phase = phase;
  p.percent = percent;
  req.on_progress(p);
}

TranscodeResult describe(const media::ProbedInput& input, const pipeline::RunnerOutput& run,
                         const VideoRecipe& recipe, const std::vector<std::string>& passed_over,
                         const std::string& final_dir, const Ladder& ladder) {
  TranscodeResult r;
  r.input = input.info;
  r.output_dir = final_dir;
  r.hls_master = (fs::path(final_dir) / package::kHlsMaster).string();
  r.dash_manifest = (fs::path(final_dir) / package::kDashManifest).string();
  r.backend = recipe.backend;
  r.device = recipe.device.id;
  r.accelerated = recipe.accelerated;
  if (!recipe.accelerated)
    r.acceleration_reason = passed_over.empty()
                                ? std::string("software backend requested")
                                : fmt::format("{}", fmt::join(passed_over, "; "));
  for (const auto& v : run.presentation.video) {
    RenditionOutput o;
    o.name = v.track.folder;
    o.playlist = v.track.folder + "/" + package::kMediaPlaylist;
    o.init_segment = v.track.folder + "/init.mp4";
    o.width = v.width;
    o.height = v.height;
    for (const auto& rung : ladder.renditions)
      if (rung.name == v.track.folder) o.target_bitrate = rung.video_bitrate;
    o.average_bitrate = v.track.average_bitrate();
    o.peak_bitrate = v.track.peak_bitrate();
    o.duration_seconds = v.track.duration_seconds();
    o.segment_count = static_cast<int>(v.track.segments.size());
    o.codecs = v.track.codecs;
    o.frame_rate = v.frame_rate.value();
    r.renditions.push_back(std::move(o));
  }
  if (const auto& a = run.presentation.audio) {
    AudioOutput o;
    o.playlist = a->track.folder + "/" + package::kMediaPlaylist;
    o.init_segment = a->track.folder + "/init.mp4";
    o.target_bitrate = ladder.audio.bitrate;
    o.average_bitrate = a->track.average_bitrate();
    o.peak_bitrate = a->track.peak_bitrate();
    o.duration_seconds = a->track.duration_seconds();
    o.segment_count = static_cast<int>(a->track.segments.size());
    o.codecs = a->track.codecs;
    o.channels = a->channels;
    o.sample_rate = a->sample_rate;
    r.audio = std::move(o);
  }
  r.warnings = input.warnings;
  r.warnings.insert(r.warnings.end(), run.warnings.begin(), run.warnings.end());
  r.frames = run.frames;
  r.corrupt_packets = run.corrupt_packets;
  return r;
}

}  // namespace

Result<TranscodeResult> transcode(const TranscodeRequest& req) {
  auto log = logger("pipeline");
  const auto start = std::chrono::steady_clock::now();
  report(req, "probing", 0);
  auto probed = media::open_and_probe(req.input, req.ladder.limits);
  if (!probed) return probed.status();
  const MediaInfo& info = probed->info;
  for (const auto& w : probed->warnings) log->warn("{}", w);
  log->info("input {}: {} {}x{} {:.3f} fps{}, {:.2f} s{}", info.path, info.video.codec,
            info.video.width, info.video.height, info.video.frame_rate.value(),
            info.video.interlaced ? " interlaced" : "", info.duration_seconds,
            info.audio ? fmt::format(", audio {} {} ch", info.audio->codec, info.audio->channels)
                       : std::string(", no audio"));

  auto plan = plan_ladder(req.ladder, info.video);
  std::vector<std::string> passed_over;
  auto recipe = choose_recipe(req.backend, info, &passed_over);
  if (!recipe) return recipe.status();
  for (const auto& p : plan)
    log->info("rendition {}: {}x{} at {} kb/s on {}", p.spec.name, p.width, p.height,
              p.spec.video_bitrate / 1000, recipe->backend);

  auto staging = pipeline::StagingDir::create(req.output_dir, req.overwrite);
  if (!staging) return staging.status();

  pipeline::RunnerConfig cfg;
  cfg.input = &probed.value();
  cfg.renditions = plan;
  cfg.ladder = req.ladder;
  cfg.recipe = *recipe;
  cfg.out_dir = staging->path();
  cfg.encoder_threads = req.encoder_threads;
  cfg.on_progress = req.on_progress;
  cfg.cancel = req.cancel;
  auto run = pipeline::run_ladder(cfg);
  if (!run) return run.status();

  report(req, "packaging", 100);
  KILN_RETURN_IF_ERROR(package::write_hls(staging->path(), run->presentation));
  KILN_RETURN_IF_ERROR(package::write_dash(staging->path(), run->presentation));

  std::string final_dir = fs::absolute(fs::path(req.output_dir)).lexically_normal().string();
  if (!final_dir.empty() && final_dir.back() == '/') final_dir.pop_back();
  TranscodeResult result = describe(*probed, *run, *recipe, passed_over, final_dir, req.ladder);
  result.elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  KILN_RETURN_IF_ERROR(package::write_text_file(staging->path() + "/result.json",
                                                pipeline::result_json(result).dump(2) + "\n"));
  if (req.cancel && req.cancel->load()) return Status(Code::kCancelled, "cancelled");
  report(req, "publishing", 100);
  KILN_RETURN_IF_ERROR(staging->publish());
  for (const auto& w : result.warnings) log->warn("{}", w);
  return result;
}

}  // namespace kiln
