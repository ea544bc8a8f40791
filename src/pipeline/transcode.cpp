// kiln::transcode: [stage an s3 input] -> an image input goes to pipeline/image_job; otherwise
// probe -> plan -> choose a recipe -> run the ladder into a staging dir -> manifests ->
// result.json -> atomic publish (a local output) or the ordered upload (an s3 output,
// pipeline/s3_publish.hpp).

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <optional>

extern "C" {
#include <libavcodec/avcodec.h>
}

#include "kiln/backend.hpp"
#include "kiln/pipeline.hpp"
#include "kiln/topology.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "media/probe.hpp"
#include "package/manifest.hpp"
#include "package/manifest_io.hpp"
#include "pipeline/device_check.hpp"
#include "pipeline/fault.hpp"
#include "pipeline/image_job.hpp"
#include "pipeline/ladder_runner.hpp"
#include "pipeline/result_json.hpp"
#include "pipeline/s3_publish.hpp"
#include "pipeline/scratch.hpp"
#include "pipeline/staging_dir.hpp"
#include "storage/location.hpp"
#include "storage/s3_clients.hpp"

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
                         const std::string& final_dir, const Ladder& ladder,
                         const std::vector<PlannedRendition>& plan, const std::string& media_prefix) {
  TranscodeResult r;
  r.input = input.info;
  r.output_dir = final_dir;
  r.hls_master = final_dir + "/" + package::kHlsMaster;
  r.dash_manifest = final_dir + "/" + package::kDashManifest;
  r.backend = recipe.backend;
  r.device = recipe.device.id;
  r.encoder = recipe.encoder;
  // Where each stage ran, from what happened (device frames out of the decoder, device
  // scalers, a hardware encoder), not from the recipe's intent.
  const std::string on_device = fmt::format("{} {}", recipe.backend,
                                            recipe.device.pci_address.empty() ? recipe.device.id
                                                                              : recipe.device.pci_address);
  const AVCodec* enc = avcodec_find_encoder_by_name(recipe.encoder.c_str());
  const bool hw_encoder = enc && (enc->capabilities & AV_CODEC_CAP_HARDWARE);
  if (run.device_decoded_frames > 0) r.decode_ran_on = on_device;
  if (run.device_scalers > 0) r.scale_ran_on = run.cpu_scalers > 0 ? on_device + " and cpu" : on_device;
  else if (run.cpu_scalers == 0) r.scale_ran_on = "none";  // every rendition at the source's size
  if (hw_encoder) r.encode_ran_on = on_device;
  r.variant = pipeline::recipe_label(recipe.variant, run.device_decoded_frames > 0, run.cpu_scalers > 0, hw_encoder);
  r.accelerated = hw_encoder && !recipe.device.cpu_emulated;
  if (recipe.device.cpu_emulated)
    r.acceleration_reason = fmt::format("{} device {} ({}) is emulated on the CPU", recipe.backend,
                                        recipe.device.id, recipe.device.model);
  else if (!r.accelerated && (r.decode_ran_on != "cpu" || r.scale_ran_on != "cpu"))
    r.acceleration_reason = fmt::format("{}{}: decoded on {}, scaled on {}, encoded by {} on the CPU",
                                        on_device,
                                        recipe.device.encode_codecs.empty() ? " has no H.264 encoder"
                                                                            : " did not encode this job",
                                        r.decode_ran_on, r.scale_ran_on, recipe.encoder);
  else if (!r.accelerated)
    r.acceleration_reason = passed_over.empty()
                                ? fmt::format("{} backend requested", recipe.backend)
                                : fmt::format("{}", fmt::join(passed_over, "; "));
  for (const auto& v : run.presentation.video) {
    RenditionOutput o;
    o.name = v.track.folder;
    o.playlist = media_prefix + v.track.folder + "/" + package::kMediaPlaylist;
    o.init_segment = media_prefix + v.track.folder + "/init.mp4";
    o.width = v.width;
    o.height = v.height;
    for (const auto& p : plan)
      if (p.folder == v.track.folder) o.target_bitrate = p.spec.video_bitrate;
    if (auto e = run.encoders.find(v.track.folder); e != run.encoders.end()) o.encoder = e->second;
    o.average_bitrate = v.track.average_bitrate();
    o.peak_bitrate = v.track.peak_bitrate();
    o.duration_seconds = v.track.duration_seconds();
    o.segment_count = static_cast<int>(v.track.segments.size());
    o.codecs = v.track.codecs;
    o.frame_rate = v.frame_rate.value();
    o.codec = v.codec;
    r.renditions.push_back(std::move(o));
  }
  // The images and MP4s lie beside the media: under the attempt's folder in a bucket.
  const auto& th = run.thumbnails;
  auto prefixed = [&](const std::string& file) { return file.empty() ? file : media_prefix + file; };
  std::vector<std::string> thumbnails, sprites;
  for (const auto& t : th.thumbnails) thumbnails.push_back(prefixed(t));
  for (const auto& s : th.sprites) sprites.push_back(prefixed(s));
  r.images = {thumbnails, sprites, prefixed(th.vtt), th.interval_seconds, th.tile_width, th.tile_height, th.columns,
              th.rows, prefixed(th.poster), th.poster_width, th.poster_height, th.poster_seconds};
  for (const auto& m : run.mp4)
    r.mp4.push_back({m.name, prefixed(m.file), m.width, m.height, m.remux, m.summary.bytes, m.summary.duration_seconds});
  if (const auto& a = run.presentation.audio) {
    AudioOutput o;
    o.playlist = media_prefix + a->track.folder + "/" + package::kMediaPlaylist;
    o.init_segment = media_prefix + a->track.folder + "/init.mp4";
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
  r.decode_seconds = run.stages.decode;
  r.scale_seconds = run.stages.scale;
  r.encode_seconds = run.stages.encode;
  r.package_seconds = run.stages.package;
  r.corrupt_packets = run.corrupt_packets;
  return r;
}

}  // namespace

namespace {

/// Failures that another device may not have: the job moves down its chain. Input errors,
/// cancellation and output errors would fail the same way anywhere.
bool is_device_failure(Code code) {
  return code == Code::kDeviceLost || code == Code::kBusy || code == Code::kUnsupported;
}

std::string health_key(const Device& d) { return d.backend + ":" + d.id; }

/// Every time a job leaves a device: at open or mid-job, and why (the status code's name).
void count_fallback(const Device& d, const char* when, Code code) {
  metrics::default_registry()
      .counter("kiln_fallbacks_total", "Jobs that left a device for the next in their chain.",
               {"backend", "when", "reason"})
      .counter({d.backend, when, code_name(code)})
      .inc();
}

/// Where an object-store job reads and writes, once its input is staged and its output opened.
struct ObjectIo {
  std::string input_uri;  // the input as the job names it (s3://... or a path), for the result
  std::optional<media::RemoteInput> remote;  // set: the input is read through a presigned URL
  std::shared_ptr<const storage::s3::S3Client> output_client;
  std::optional<pipeline::S3Output> output;  // set: the ladder is uploaded here, not renamed
  std::string folder;                        // this attempt's media folder under the output
  int presign_seconds = 0;                   // the output location's presign_seconds
};

struct Attempt {
  VideoRecipe recipe;
  pipeline::StagingDir staging;
  pipeline::RunnerOutput output;
};

/// Runs the ladder on each candidate in turn until one completes. Every device left behind
/// adds a line to `passed_over` (and, when it failed mid-job, to `fallbacks`) and a strike.
Result<Attempt> run_on_chain(const TranscodeRequest& req, media::ProbedInput& first_input,
                             const std::vector<PlannedRendition>& plan,
                             const std::vector<Candidate>& chain,
                             std::vector<std::string>& passed_over,
                             std::vector<std::string>& fallbacks, const std::string& media_folder,
                             const media::RemoteInput* remote) {
  auto log = logger("pipeline");
  const auto fault = pipeline::fault_from_env();
  media::ProbedInput* input = &first_input;
  std::optional<media::ProbedInput> reopened;
  Status last = Status(Code::kUnsupported, "no device could run this job");
  for (size_t i = 0; i < chain.size(); ++i) {
    const Candidate& c = chain[i];
    const std::string key = health_key(c.device);
    if (req.quarantined && req.quarantined(key)) {
      passed_over.push_back(fmt::format("{} ({}): quarantined after repeated failures", c.device.backend,
                                        c.device.id));
      continue;
    }
    const bool faulty = fault && fault->backend == c.backend->name;
    auto recipe = pipeline::open_recipe(*c.backend, c.device, input->info);
    if (!recipe) {
      passed_over.push_back(fmt::format("{} ({}): {}", c.device.backend, c.device.id,
                                        recipe.status().message()));
      if (recipe.status().code() == Code::kDeviceLost && req.strike) req.strike(key, recipe.status().message());
      if (c.device.backend != "software") count_fallback(c.device, "open", recipe.status().code());
      last = recipe.status();
      continue;
    }
    if (input->format == nullptr || input->consumed) {  // an earlier attempt read the input
      auto again = media::open_and_probe(req.input, req.ladder.limits, remote);
      if (!again) return again.status();
      reopened.emplace(std::move(again).value());
      input = &*reopened;
    }
    auto staging = pipeline::StagingDir::create(
        req.output_dir, req.job_id > 0 ? pipeline::StagingDir::Owner{req.job_id, req.job_attempt}
                                       : pipeline::StagingDir::Owner{},
        req.overwrite && req.job_id == 0);
    if (!staging) return staging.status();
    pipeline::RunnerConfig cfg;
    cfg.input = input;
    cfg.renditions = plan;
    cfg.ladder = req.ladder;
    cfg.recipe = *recipe;
    cfg.out_dir = media_folder.empty() ? staging->path() : staging->path() + "/" + media_folder;
    cfg.encoder_threads = req.encoder_threads;
    cfg.on_progress = req.on_progress;
    cfg.cancel = req.cancel;
    if (faulty) cfg.fault_at_frame = fault->at_frame;
    input->consumed = true;
    const int sessions = static_cast<int>(plan.size());
    if (req.on_device) req.on_device(c.device, sessions, true);
    auto run = pipeline::run_ladder(cfg);
    if (req.on_device) req.on_device(c.device, sessions, false);
    if (run) return Attempt{std::move(recipe).value(), std::move(staging).value(), std::move(run).value()};
    last = run.status();
    if (!is_device_failure(last.code()) || i + 1 == chain.size()) return last;
    std::string why = fmt::format("{} ({}) failed mid-job: {}; restarted on {}", c.device.backend,
                                  c.device.id, last.message(), chain[i + 1].device.backend);
    log->warn("fallback: {}", why);
    fallbacks.push_back(why);
    passed_over.push_back(why);
    if (last.code() == Code::kDeviceLost && req.strike) req.strike(key, last.message());  // busy is not broken
    count_fallback(c.device, "mid_job", last.code());
  }
  return last;
}

/// Orders the chain as the scheduler placed it: the device holding the job's place first,
/// its fallbacks after, each bound as the ledger says. kBusy when nothing can take it now.
Result<std::vector<Candidate>> place_with_node(const std::vector<Candidate>& chain,
                                              const std::vector<PlannedRendition>& plan,
                                              const TranscodeRequest& req, const MediaInfo& info) {
  DeviceDemand demand;
  demand.selector = req.device;
  demand.codec = req.ladder.codecs.empty() ? "h264" : req.ladder.codecs.front();  // the ladder's fallback codec
  demand.sessions = static_cast<int>(plan.size());
  demand.pixels_per_second = output_pixel_rate(plan, info.video.frame_rate.value());
  for (const auto& c : chain) demand.candidates.push_back(c.device.backend + ":" + c.device.id);
  auto placed = req.place(demand);
  if (!placed) return placed.status();
  std::vector<Candidate> out;
  for (const auto& key : placed->order)
    for (const auto& c : chain)
      if (c.device.backend + ":" + c.device.id == key) {
        Candidate chosen = c;
        chosen.bind_cpus = placed->bind_cpus;  // the whole job stays where it was placed
        chosen.bind_numa = placed->bind_numa;
        chosen.why = out.empty() ? placed->why : "fallback";
        out.push_back(std::move(chosen));
      }
  if (out.empty()) return Status(Code::kInternal, "the node placed the job on a device it was not offered");
  return out;
}

std::string iso_utc_in(std::chrono::seconds from_now) {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + from_now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// Publishes the finished ladder in `staging`: renamed into place, or uploaded to `io.output`.
Status publish(const TranscodeRequest& req, pipeline::StagingDir& staging, const ObjectIo* io) {
  if (!io || !io->output) {
    report(req, "publishing", 100);
    if (req.before_publish && !req.before_publish())
      return Status(Code::kCancelled, "the job is no longer ours (lease lost or cancelled); nothing was published");
    return staging.publish();
  }
  report(req, "uploading", 100);
  pipeline::S3PublishOptions o;
  o.folder = io->folder;
  o.job_id = req.job_id;
  o.attempt = req.job_attempt;
  o.overwrite = req.overwrite && req.job_id == 0;
  o.before_manifests = [&req] {
    report(req, "publishing", 100);
    return !req.before_publish || req.before_publish();
  };
  o.manifest_window = std::chrono::milliseconds(static_cast<int64_t>(req.manifest_window_seconds * 1000));
  o.cancel = req.cancel;
  return pipeline::publish_to_s3(staging.path(), *io->output, o);
}

Result<TranscodeResult> run_job(const TranscodeRequest& req, const ObjectIo* io) {
  // An image is told by its first bytes, never its name, and makes an image job (libvips)
  // instead of a ladder; anything else (a text file called photo.jpg too) goes to the probe.
  const media::RemoteInput* remote = io && io->remote ? &*io->remote : nullptr;  // streamed, not staged
  if (auto image = remote ? std::nullopt : image::sniff_image(req.input)) {
    pipeline::ImageDestination to;
    if (io) to.input_uri = io->input_uri;
    if (io && io->output) {
      to.media_prefix = io->folder + "/";
      to.final_dir = io->output->url;
    }
    to.publish = [&req, io](pipeline::StagingDir& staging) { return publish(req, staging, io); };
    return pipeline::transcode_image(req, *image, to);
  }
  auto log = logger("pipeline");
  const auto start = std::chrono::steady_clock::now();
  const bool to_s3 = io && io->output;
  const std::string media_folder = to_s3 ? io->folder : "";
  const std::string media_prefix = to_s3 ? io->folder + "/" : "";
  report(req, "probing", 0);
  auto probed = media::open_and_probe(req.input, req.ladder.limits, remote);
  if (!probed) return probed.status();
  if (io) probed->info.path = io->input_uri;  // results name the object, not its staged copy
  const MediaInfo& info = probed->info;
  for (const auto& w : probed->warnings) log->warn("{}", w);
  if (req.on_input) req.on_input(info);
  log->info("input {}: {} {}x{} {:.3f} fps{}, {:.2f} s{}", info.path, info.video.codec,
            info.video.width, info.video.height, info.video.frame_rate.value(),
            info.video.interlaced ? " interlaced" : "", info.duration_seconds,
            info.audio ? fmt::format(", audio {} {} ch", info.audio->codec, info.audio->channels)
                       : std::string(", no audio"));

  std::vector<Device> discovered;
  if (!req.devices) {
    auto topology = load_topology("");
    if (!topology) return topology.status();
    discovered = discover_devices(*topology, req.backend == "auto" && req.device.empty());
  }
  std::vector<std::string> passed_over, fallbacks;
  auto chain = candidate_chain(req.backend, req.device, req.devices ? *req.devices : discovered,
                               &passed_over);
  if (!chain) return chain.status();
  auto plan = plan_ladder(req.ladder, info.video);
  for (const auto& p : plan)
    log->info("rendition {}: {}x{} {} at {} kb/s{}{}", p.folder, p.width, p.height, p.codec,
              p.spec.video_bitrate / 1000, p.mp4 ? ", also as an MP4" : "", p.packaged ? "" : " (MP4 only)");

  if (req.clear_stale_staging)
    if (int n = pipeline::StagingDir::remove_stale(req.output_dir, req.job_id, req.job_attempt))
      log->warn("removed {} staging director{} an earlier attempt left behind", n, n == 1 ? "y" : "ies");
  if (req.place) {
    auto placed = place_with_node(*chain, plan, req, info);
    if (!placed) return placed.status();
    chain = std::move(placed);
    log->info("placement: {} ({}): {}", chain->front().device.backend, chain->front().device.id,
              chain->front().why);
  }
  // The whole process goes where the job was placed, once, before any pipeline thread starts:
  // its threads and x264's inherit the CPU set and the memory policy.
  Binding binding;
  if (req.place) {
    binding = bind_process(chain->front().bind_cpus, chain->front().bind_numa);
    log->info("bound: {}", binding.note);
  }
  auto attempt = run_on_chain(req, probed.value(), plan, *chain, passed_over, fallbacks, media_folder, remote);
  if (!attempt) return attempt.status();
  const auto& run = attempt->output;
  auto& staging = attempt->staging;
  log->info("ran on {} ({})", attempt->recipe.backend, attempt->recipe.device.id);

  report(req, "packaging", 100);
  KILN_RETURN_IF_ERROR(package::write_hls(staging.path(), run.presentation, media_prefix));
  KILN_RETURN_IF_ERROR(package::write_dash(staging.path(), run.presentation, media_prefix));

  std::string final_dir = to_s3 ? io->output->url : fs::absolute(fs::path(req.output_dir)).lexically_normal().string();
  if (!final_dir.empty() && final_dir.back() == '/') final_dir.pop_back();
  TranscodeResult result = describe(*probed, run, attempt->recipe, passed_over, final_dir, req.ladder, plan, media_prefix);
  if (to_s3 && io->presign_seconds > 0) {
    const auto valid = std::chrono::seconds(io->presign_seconds);
    result.playback = PlaybackUrls{io->output_client->presign_get(io->output->key + "/" + package::kHlsMaster, valid),
                                   io->output_client->presign_get(io->output->key + "/" + package::kDashManifest, valid),
                                   iso_utc_in(valid)};
  }
  result.fallbacks = fallbacks;
  if (req.place) {
    result.placement = chain->front().why;
    result.bound_cpus = binding.cpus;
    result.bound_numa = binding.numa;
    result.binding = binding.note;
  }
  result.job_id = req.job_id;
  result.job_attempt = req.job_attempt;
  result.warnings.insert(result.warnings.end(), fallbacks.begin(), fallbacks.end());
  result.elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  KILN_RETURN_IF_ERROR(package::write_text_file(staging.path() + "/result.json",
                                                pipeline::result_json(result).dump(2) + "\n"));
  if (req.cancel && req.cancel->load()) return Status(Code::kCancelled, "cancelled");
  KILN_RETURN_IF_ERROR(publish(req, staging, io));
  for (const auto& w : result.warnings) log->warn("{}", w);
  return result;
}

}  // namespace

Result<TranscodeResult> transcode(const TranscodeRequest& req) {
  const bool s3_in = storage::is_s3_url(req.input), s3_out = storage::is_s3_url(req.output_dir);
  if (!s3_in && !s3_out) return run_job(req, nullptr);
  if (!req.locations)
    return Status(Code::kPathNotAllowed, fmt::format("'{}': object storage paths need a [[location]] for their bucket",
                                                     s3_in ? req.input : req.output_dir));
  storage::S3Clients clients(*req.locations);
  ObjectIo io;
  io.input_uri = req.input;
  TranscodeRequest local = req;
  if (s3_out) {  // before staging the input: a refused output should not cost a download
    auto opened = clients.open(req.output_dir);
    if (!opened) return opened.status();
    io.output_client = opened->client;
    io.output = pipeline::S3Output{io.output_client.get(), req.output_dir, opened->object.key};
    io.folder = pipeline::attempt_folder(req.job_id, req.job_attempt);
    io.presign_seconds = opened->object.location->presign_seconds;
    KILN_RETURN_IF_ERROR(pipeline::check_s3_output(*io.output, req.job_id, req.overwrite && req.job_id == 0));
  }
  auto scratch = pipeline::ScratchSpace::create(req.scratch_dir, req.job_id, req.job_attempt);
  if (!scratch) return scratch.status();
  if (s3_in) {
    auto opened = clients.open(req.input);
    if (!opened) return opened.status();
    auto source = pipeline::open_input_object(*opened->client, req.input, opened->object.key,
                                              opened->object.location->stream_input, scratch->path(),
                                              [&req] { report(req, "staging", 0); }, req.cancel);
    if (!source) return source.status();
    local.input = std::move(source->path);
    io.remote = std::move(source->remote);
  }
  if (s3_out) local.output_dir = scratch->path() + "/out";
  return run_job(local, &io);
}

}  // namespace kiln
