// kiln transcode INPUT -o OUTDIR: one job in this process on the best local device. INPUT and
// OUTDIR may be s3://BUCKET/KEY, reached with the AWS environment variables (no config file).

#include <fmt/format.h>
#include <unistd.h>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <optional>
#include <thread>

#include "cli/commands.hpp"
#include "cli/progress_bar.hpp"
#include "kiln/ladder.hpp"
#include "kiln/node_config.hpp"
#include "kiln/pipeline.hpp"
#include "kiln/topology.hpp"
#include "log.hpp"
#include "node/worker_supervisor.hpp"
#include "pipeline/result_json.hpp"
#include "pipeline/scratch.hpp"
#include "pipeline/staging_dir.hpp"
#include "scheduler/capacity_file.hpp"
#include "scheduler/ledger.hpp"
#include "storage/location.hpp"

namespace kiln::cli {
namespace {

std::atomic<bool> g_cancel{false};
std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  g_signal.store(sig);
  g_cancel.store(true);
}

struct TranscodeOptions {
  std::string input;
  std::string output;
  std::string ladder;
  std::string preset;
  double segment_seconds = 0;
  double max_duration = 0;
  std::string max_resolution;
  bool overwrite = false;
  bool json = false;
  std::string backend = "auto";
  std::string device;
  std::string node_config;
  int threads = 0;
  std::string codecs;              // h264,hevc,av1
  std::string mp4;                 // rungs also written as progressive MP4
  double thumbnails = -1;          // seconds between thumbnails; < 0: as the preset says
  std::string poster;              // "auto" or seconds; "": as the preset says
  double max_memory_mb = 4096;     // RLIMIT_DATA on this process; 0 = none
  double max_wall_seconds = -1;    // < 0: max(600 s, 10 x the input's duration), as a node's worker; 0 = none
  std::string scratch_dir;         // s3 input staged / s3 output built here; "" = $TMPDIR or /tmp
  int presign_seconds = 0;         // an s3 output: presigned manifest URLs valid this long; 0 = none
  std::string stream_input = "never";  // an s3 input: never, auto or always read through a presigned URL
};

/// The buckets an s3:// INPUT or OUTDIR names, each as a location of its own (the whole bucket;
/// endpoint, region and credentials from the AWS environment variables), and both paths checked
/// against them as a node would check a job's (no '..', the output neither the input nor a
/// folder holding it, nor a bucket's root). No s3:// path: no locations.
Result<storage::Locations> s3_locations(const TranscodeOptions& o) {
  std::vector<storage::Location> list;
  for (const std::string* ref : {&o.input, &o.output}) {
    if (!storage::is_s3_url(*ref)) continue;
    std::string bucket = ref->substr(5, ref->find('/', 5) == std::string::npos ? std::string::npos : ref->find('/', 5) - 5);
    auto c = storage::s3::parse_s3_url("s3://" + bucket);
    if (!c) return c.status();
    if (!list.empty() && list.front().s3->bucket == bucket) continue;
    storage::Location l;
    l.name = fmt::format("bucket{}", list.size() + 1);
    l.url = "s3://" + bucket;
    l.s3 = std::move(*c);
    l.presign_seconds = o.presign_seconds;
    auto stream = storage::parse_stream_input(o.stream_input, "--stream-input");
    if (!stream) return stream.status();
    l.stream_input = *stream;
    list.push_back(std::move(l));
  }
  storage::Locations locations(std::move(list));
  if (locations.empty()) return locations;
  auto usage = [](const Status& st) { return Status(Code::kUsage, st.message()); };
  if (storage::is_s3_url(o.input) && storage::is_s3_url(o.output)) {
    if (auto paths = locations.resolve_job(o.input, o.output); !paths) return usage(paths.status());
  } else if (auto r = locations.resolve(storage::is_s3_url(o.input) ? o.input : o.output,
                                        storage::is_s3_url(o.input) ? "input" : "output");
             !r) {
    return usage(r.status());
  }
  return locations;
}

/// A path as a job names it: an s3:// URL in its canonical form (no trailing '/').
std::string canonical(const storage::Locations& locations, const std::string& ref, const char* what) {
  if (!storage::is_s3_url(ref)) return ref;
  return locations.resolve(ref, what).value_or(ref);
}

// A job stuck past its wall-clock limit gets this long to stop cleanly after the cancel, then
// the process leaves (a hang inside a library call never returns to check the flag).
constexpr std::chrono::seconds kWallClockGrace{30};

/// --max-memory: the process's data segment (heap and anonymous mappings, what a decoder
/// allocates) is capped, so a decompression bomb fails its allocations and ends as a refusal
/// ("over the limits") instead of being killed by the kernel's OOM killer. Not under
/// AddressSanitizer, whose shadow memory is itself a data mapping.
void limit_memory(double megabytes) {
#if defined(__SANITIZE_ADDRESS__)
  if (megabytes > 0) logger("cli")->info("--max-memory is not applied in a sanitizer build");
  return;
#endif
  if (megabytes <= 0) return;
  const auto bytes = static_cast<rlim_t>(megabytes * 1024 * 1024);
  struct rlimit rl {bytes, bytes};
  if (setrlimit(RLIMIT_DATA, &rl) != 0)
    logger("cli")->warn("cannot apply --max-memory {} MiB: {}", megabytes, std::strerror(errno));
}

/// --max-wall-seconds: cancels the job once it has run too long (the limit follows the input's
/// duration once it is probed), and ends the process if the job does not stop within
/// kWallClockGrace, removing its unpublished output first. Thread-safe.
class WallClock {
 public:
  WallClock(double seconds, std::atomic<bool>* cancel, std::function<void(const Status&)> on_hang)
      : fixed_(seconds), cancel_(cancel), on_hang_(std::move(on_hang)), start_(Clock::now()) {
    if (seconds == 0) return;
    set_limit(seconds > 0 ? seconds : node::wall_limit_seconds(node::WorkerLimits{}, 0));
    thread_ = std::thread([this] { watch(); });
  }
  ~WallClock() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  /// The input is probed: an automatic limit now follows its duration.
  void on_duration(double seconds) {
    if (fixed_ < 0) set_limit(node::wall_limit_seconds(node::WorkerLimits{}, seconds));
  }
  bool expired() const { return expired_.load(); }
  Status status() const {
    std::lock_guard lock(mu_);
    return {Code::kInputLimits,
            fmt::format("the job ran past its wall-clock limit of {:.0f} s (--max-wall-seconds; by default 10 x "
                        "the input's duration, at least 600 s) and was stopped; nothing was published",
                        limit_seconds_)};
  }

 private:
  using Clock = std::chrono::steady_clock;

  void set_limit(double seconds) {
    {
      std::lock_guard lock(mu_);
      limit_seconds_ = seconds;
      deadline_ = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    }
    cv_.notify_all();
  }

  void watch() {
    std::unique_lock lock(mu_);
    while (!done_ && Clock::now() < deadline_) cv_.wait_until(lock, deadline_);
    if (done_) return;
    expired_ = true;
    logger("cli")->warn("the job ran past its wall-clock limit of {:.0f} s; stopping it", limit_seconds_);
    cancel_->store(true);
    if (cv_.wait_for(lock, kWallClockGrace, [&] { return done_; })) return;
    lock.unlock();
    on_hang_(status());
  }

  const double fixed_;
  std::atomic<bool>* cancel_;
  std::function<void(const Status&)> on_hang_;
  const Clock::time_point start_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Clock::time_point deadline_;
  double limit_seconds_ = 0;
  bool done_ = false;
  std::atomic<bool> expired_{false};
  std::thread thread_;
};

Result<Ladder> build_ladder(const TranscodeOptions& o) {
  Ladder ladder;
  if (!o.preset.empty()) {
    auto loaded = load_preset_file(o.preset);
    if (!loaded) return loaded;
    ladder = std::move(loaded).value();
  } else {
    ladder = default_ladder();
  }
  if (!o.ladder.empty()) {
    auto selected = select_renditions(ladder, o.ladder);
    if (!selected) return selected;
    ladder = std::move(selected).value();
  }
  if (o.segment_seconds > 0) {
    ladder.segment_seconds = o.segment_seconds;
    if (ladder.gop_seconds > o.segment_seconds) ladder.gop_seconds = o.segment_seconds;
  }
  if (o.max_duration > 0) ladder.limits.max_duration_seconds = o.max_duration;
  auto list = [](const std::string& csv) {
    std::vector<std::string> out;
    std::stringstream in(csv);
    for (std::string item; std::getline(in, item, ',');)
      if (!item.empty()) out.push_back(item);
    return out;
  };
  if (!o.codecs.empty()) ladder.codecs = list(o.codecs);
  if (!o.mp4.empty()) ladder.mp4 = list(o.mp4);
  if (o.thumbnails >= 0) ladder.thumbnails.interval_seconds = o.thumbnails;
  if (!o.poster.empty()) {
    ladder.poster.enabled = true;
    char* end = nullptr;
    const double at = std::strtod(o.poster.c_str(), &end);
    if (o.poster == "auto") ladder.poster.at_seconds = -1;
    else if (end && *end == '\0' && at >= 0) ladder.poster.at_seconds = at;
    else return Status(Code::kUsage, "--poster takes auto (the most representative frame) or a time in seconds");
  }
  if (!o.max_resolution.empty()) {
    int w = 0, h = 0;
    if (std::sscanf(o.max_resolution.c_str(), "%dx%d", &w, &h) != 2 || w <= 0 || h <= 0)
      return Status(Code::kUsage, "--max-resolution takes WIDTHxHEIGHT, e.g. 3840x2160");
    ladder.limits.max_width = w;
    ladder.limits.max_height = h;
  }
  KILN_RETURN_IF_ERROR(validate_ladder(ladder));
  return ladder;
}

void print_image_summary(const TranscodeResult& r) {
  const ImageInfo& in = *r.input.image;
  std::printf("Published %s (%s image %dx%d, %zu variants in %.1f s)\n", r.output_dir.c_str(), in.format.c_str(),
              in.display_width(), in.display_height(), r.image_variants.size(), r.elapsed_seconds);
  for (const auto& o : r.image_variants)
    std::printf("  %-18s %5dx%-5d %8lld bytes\n", o.path.c_str(), o.width, o.height,
                static_cast<long long>(o.size_bytes));
  for (const auto& w : r.warnings) std::printf("  warning: %s\n", w.c_str());
}

void print_summary(const TranscodeResult& r) {
  if (r.input.image) return print_image_summary(r);
  std::printf("Published %s (%.1f s of video in %.1f s, %s on %s)\n", r.output_dir.c_str(),
              r.renditions.empty() ? 0.0 : r.renditions.front().duration_seconds,
              r.elapsed_seconds, r.backend.c_str(), r.device.c_str());
  for (const auto& o : r.renditions)
    std::printf("  %-8s %5dx%-5d %6lld kb/s avg %6lld kb/s peak  %d segments  %s\n",
                o.name.c_str(), o.width, o.height,
                static_cast<long long>(o.average_bitrate / 1000),
                static_cast<long long>(o.peak_bitrate / 1000), o.segment_count,
                o.codecs.c_str());
  if (r.audio)
    std::printf("  %-8s %d ch %d Hz    %6lld kb/s avg  %d segments  %s\n", "audio",
                r.audio->channels, r.audio->sample_rate,
                static_cast<long long>(r.audio->average_bitrate / 1000), r.audio->segment_count,
                r.audio->codecs.c_str());
  for (const auto& w : r.warnings) std::printf("  warning: %s\n", w.c_str());
  std::printf("HLS multivariant playlist: %s\nDASH manifest:             %s\n",
              r.hls_master.c_str(), r.dash_manifest.c_str());
  if (r.playback) {
    std::printf("Presigned, until %s:\n  HLS:  %s\n  DASH: %s\n", r.playback->expires_at.c_str(),
                r.playback->hls.c_str(), r.playback->dash.c_str());
  } else if (storage::is_s3_url(r.output_dir)) {
    std::printf("Play: serve the bucket over HTTP(S) (a CDN, or a public-read policy on the prefix, with CORS for "
                "hls.js / dash.js), or ask for presigned URLs with --presign-seconds\n");
  } else {
    std::printf("Play: ffplay %s   (or serve %s over HTTP for hls.js / dash.js / Safari)\n",
                r.hls_master.c_str(), r.output_dir.c_str());
  }
}

int run(const TranscodeOptions& o) {
  auto log = logger("cli");
  auto ladder = build_ladder(o);
  if (!ladder) {
    log->error("{}", ladder.status().message());
    if (o.json) std::puts(pipeline::error_json(o.input, ladder.status()).dump(2).c_str());
    return exit_code(ladder.status().code());
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  limit_memory(o.max_memory_mb);
  WallClock wall(o.max_wall_seconds, &g_cancel, [&o, log](const Status& st) {
    // Still running after the cancel and the grace period: a library call that never returns.
    pipeline::StagingDir::remove_unpublished();
    pipeline::ScratchSpace::remove_all_live();
    log->error("{} (it did not stop within {} s of the cancel)", st.message(), kWallClockGrace.count());
    if (o.json) std::puts(pipeline::error_json(o.input, st).dump(2).c_str());
    std::fflush(nullptr);
    _exit(exit_code(st.code()));
  });

  auto locations = s3_locations(o);
  if (!locations) {
    log->error("{}", locations.status().message());
    if (o.json) std::puts(pipeline::error_json(o.input, locations.status()).dump(2).c_str());
    return exit_code(locations.status().code());
  }

  ProgressDisplay progress(isatty(STDERR_FILENO) != 0);
  TranscodeRequest req;
  req.input = canonical(*locations, o.input, "input");
  req.output_dir = canonical(*locations, o.output, "output");
  req.locations = &*locations;
  req.scratch_dir = o.scratch_dir;
  req.ladder = std::move(ladder).value();
  req.overwrite = o.overwrite;
  req.backend = o.backend;
  req.device = o.device;
  // --node-config: placed as the node would place it, by a ledger of this process over this
  // machine's devices with the config's rules and caps (and what kiln bench measured here).
  std::vector<Device> devices;
  std::optional<scheduler::Ledger> ledger;
  if (!o.node_config.empty()) {
    auto fail = [&](const Status& st) {
      log->error("{}", st.message());
      if (o.json) std::puts(pipeline::error_json(o.input, st).dump(2).c_str());
      return exit_code(st.code());
    };
    auto config = load_node_config(o.node_config);
    if (!config) return fail(config.status());
    auto measured = scheduler::load_measurements(config->capacity_file);
    if (!measured) return fail(measured.status());
    auto topology = load_topology("");
    if (!topology) return fail(topology.status());
    devices = discover_devices(*topology, o.backend == "auto" && o.device.empty());
    ledger.emplace(scheduler::make_slots(devices, *config, &*measured));
    req.devices = &devices;
    req.place = [&ledger](const DeviceDemand& d) -> Result<DevicePlacement> {
      auto placed = ledger->place(1, {d.selector, d.codec, d.sessions, d.pixels_per_second}, d.candidates, nullptr);
      if (!placed)
        return Status(placed.status().code(), fmt::format("no device can take this job: {}", placed.status().message()));
      return DevicePlacement{placed->order, placed->bind_cpus, placed->bind_numa, placed->why};
    };
  }
  req.encoder_threads = o.threads;
  req.cancel = &g_cancel;
  req.on_progress = [&progress](const Progress& p) { progress.update(p); };
  req.on_input = [&wall](const MediaInfo& info) { wall.on_duration(info.duration_seconds); };
  auto result = transcode(req);
  progress.finish();
  if (!result) {
    Status st = result.status();
    int code = exit_code(st.code());
    if (st.code() == Code::kCancelled && wall.expired()) {
      st = wall.status();
      code = exit_code(st.code());
    } else if (st.code() == Code::kCancelled) {
      int sig = g_signal.load();
      st = Status(Code::kCancelled, fmt::format("interrupted by {}; nothing was published",
                                                sig == SIGTERM ? "SIGTERM" : "SIGINT"));
      code = 128 + (sig ? sig : SIGINT);
    } else if (st.code() == Code::kInternal) {
      // Every input problem has its own code: this one is Kiln's. The message names the stage.
      st = Status(Code::kInternal, fmt::format("internal error (a bug in Kiln; please report it with the input): {}",
                                               st.message()));
    }
    log->error("{}", st.message());
    if (o.json) std::puts(pipeline::error_json(o.input, st).dump(2).c_str());
    return code;
  }
  if (o.json)
    std::puts(pipeline::result_json(*result).dump(2).c_str());
  else
    print_summary(*result);
  return 0;
}

}  // namespace

std::function<int()> add_transcode(CLI::App& app) {
  auto opts = std::make_shared<TranscodeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "transcode",
      "Transcode INPUT into an HLS + DASH ladder (CMAF) in OUTDIR, published atomically; an image "
      "(JPEG, PNG, WebP, GIF, TIFF, HEIF, AVIF) becomes resized variants in OUTDIR/image/ instead.");
  cmd->add_option("input", opts->input, "source video or image file, or s3://BUCKET/KEY")->required();
  cmd->add_option("-o,--output", opts->output, "output directory (must not exist unless "
                                               "--overwrite), or s3://BUCKET/PREFIX/")->required();
  cmd->add_option("--ladder", opts->ladder,
                  "renditions to make, e.g. 720p,480p (preset names or NNNp)");
  cmd->add_option("--preset", opts->preset,
                  "ladder preset TOML (default: the built-in config/presets/default.toml)");
  cmd->add_option("--segment-seconds", opts->segment_seconds, "CMAF segment duration")
      ->check(CLI::Range(1.0, 60.0));
  cmd->add_option("--max-duration", opts->max_duration,
                  "refuse inputs longer than this many seconds (preset limits.max_duration_seconds)");
  cmd->add_option("--max-resolution", opts->max_resolution,
                  "refuse inputs larger than WIDTHxHEIGHT (preset limits.max_width/max_height)");
  cmd->add_option("--codecs", opts->codecs,
                  "video codecs of the ladder, e.g. h264,av1 (h264, hevc, av1): every size in each; the first "
                  "keeps the rungs' names, the others are <rung>-<codec>");
  cmd->add_option("--mp4", opts->mp4,
                  "rungs also written as a fast-start MP4 (mp4/<rung>.mp4), e.g. 720p: a remux of the rung");
  cmd->add_option("--thumbnails", opts->thumbnails,
                  "a thumbnail every this many seconds, and storyboard sprites with a WebVTT track (0 = none)")
      ->check(CLI::Range(0.0, 600.0));
  cmd->add_option("--poster", opts->poster, "a poster image: auto (the most representative frame) or SECONDS");
  cmd->add_flag("--overwrite", opts->overwrite, "replace OUTDIR atomically if it exists (s3: the old objects are "
                                                "deleted once the new manifests are in place)");
  cmd->add_option("--scratch-dir", opts->scratch_dir,
                  "where an s3:// input is staged and an s3:// output is built before upload (default: $TMPDIR, "
                  "else /tmp)");
  cmd->add_option("--stream-input", opts->stream_input,
                  "s3:// input: never (stage it in the scratch directory first), auto (read it through a "
                  "presigned URL when the scratch directory has no room for it) or always")
      ->check(CLI::IsMember({"never", "auto", "always"}));
  cmd->add_option("--presign-seconds", opts->presign_seconds,
                  "s3:// output: also list presigned HTTPS URLs of the manifests, valid this long")
      ->check(CLI::Range(0, 7 * 24 * 3600));
  cmd->add_flag("--json", opts->json,
                "print the result (MediaConvert-style COMPLETE or ERROR event) as JSON on stdout");
  cmd->add_option("--backend", opts->backend,
                  "auto (hardware first, software last), or one of: vaapi, qsv, nvenc, vulkan, "
                  "software (as built; see kiln devices)");
  cmd->add_option("--device", opts->device,
                  "run on this device: its id, PCI address, render node, vendor or backend "
                  "(with auto, falls back to software if it fails)");
  cmd->add_option("--node-config", opts->node_config,
                  "device-pinning config (config/node.toml): disabled devices, session caps, "
                  "allowed codecs, NUMA binding");
  cmd->add_option("--threads", opts->threads, "threads per encoder (0 = automatic)")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--max-memory", opts->max_memory_mb,
                  "memory ceiling in MiB (the process's data size); an input that needs more is refused "
                  "with exit code 16 (0 = none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e7));
  cmd->add_option("--max-wall-seconds", opts->max_wall_seconds,
                  "stop the job after this many seconds, exit code 16 (default: 10 x the input's duration, "
                  "at least 600 s; 0 = none)")
      ->check(CLI::Range(0.0, 1e9));
  cmd->footer(
      "Exit codes: 0 ok, 2 usage, 10 input missing, 11 empty, 12 not media, 13 no video, "
      "14 truncated/unreadable, 15 unsupported codec/container, 16 over limits, 17 "
      "undecodable, 20 output exists, 21 I/O error (or no room in the scratch directory), 22 no backend can run it, "
      "23 device failed, 30-36 object storage (30 unreachable, 31 unknown access key, 32 wrong secret, 33 clock "
      "skew, 34 no such bucket, 35 access denied, 36 other), 130 SIGINT, 143 SIGTERM, 1 internal.\n"
      "s3:// paths use AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), AWS_ENDPOINT_URL and "
      "AWS_REGION, or the shared credentials file.");
  return [opts] { return run(*opts); };
}

}  // namespace kiln::cli
