#pragma once
// One transcode job: probe and validate, run the ladder, package CMAF once for HLS and DASH,
// publish atomically. The in-process entry point used by `kiln transcode` and the node daemon.
// The input and the output may each be a local path or an `s3://BUCKET/KEY` inside a storage
// location: an object-store input is staged in a scratch directory first, and an object-store
// output is built there and uploaded in an order that keeps every published manifest whole.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kiln/backend.hpp"
#include "kiln/ladder.hpp"
#include "kiln/media_info.hpp"
#include "kiln/status.hpp"

namespace kiln::storage {
class Locations;
}

namespace kiln {

struct Progress {
  std::string phase;          // "staging" (an s3 input), "probing", "transcoding", "packaging",
                              // "uploading" (an s3 output), "publishing"
  double percent = 0;         // 0..100 of the source duration encoded by every rendition
  double fps = 0;             // source frames per wall-clock second
  double speed = 0;           // media seconds per wall-clock second (x realtime)
  double eta_seconds = -1;    // -1 while unknown
  int64_t frames = 0;         // source frames through the slowest rendition
};
using ProgressFn = std::function<void(const Progress&)>;

/// What a job needs of a device, as the pipeline knows it once the input is probed and the
/// ladder planned: for a scheduler outside the pipeline (the node's device ledger).
struct DeviceDemand {
  std::string selector;                 // the job's own pin (--device); "" = any
  std::string codec = "h264";
  int sessions = 1;                     // encoder sessions: one per rendition
  double pixels_per_second = 0;         // output pixels/s at real time
  std::vector<std::string> candidates;  // "backend:id" of the fallback chain, in its order
};

/// The scheduler's answer: the devices to try in order (the first holds the job's place), and
/// where the job's threads and memory go.
struct DevicePlacement {
  std::vector<std::string> order;  // "backend:id"
  std::string bind_cpus;
  int bind_numa = -1;
  std::string why;
};

struct TranscodeRequest {
  std::string input;       // a local path, or s3://BUCKET/KEY inside one of `locations`
  std::string output_dir;  // a local directory, or s3://BUCKET/PREFIX inside one of `locations`
  Ladder ladder;
  bool overwrite = false;
  std::string backend = "auto";                   // auto, or a backend name (kiln devices)
  std::string device;                             // selector: id, PCI address, render node, vendor
  /// Devices to choose from; nullptr = discover this machine's (hwloc + every backend's probe).
  const std::vector<Device>* devices = nullptr;
  /// The scheduler's word on devices across jobs ("backend:id"): quarantined ones are passed
  /// over, and a device that failed (lost, never merely busy) is reported. Unset: no
  /// quarantine, and strikes go nowhere.
  std::function<bool(const std::string& device)> quarantined;
  std::function<void(const std::string& device, const std::string& reason)> strike;
  int encoder_threads = 0;                        // per encoder; 0 = chosen from the cores
  ProgressFn on_progress;                         // called from a pipeline thread, ~4 Hz
  /// Called once the input is probed and valid (the node records it as input information).
  std::function<void(const MediaInfo&)> on_input;
  /// Called right before the atomic publish (an s3 output: after its media objects are
  /// uploaded, right before its manifests); false stops the job (kCancelled) with nothing
  /// published. The node daemon checks here that it still holds the job's lease.
  std::function<bool()> before_publish;
  /// An s3 output's manifests must be stored within this long of before_publish saying yes
  /// (the node: half its lease), else none are; 0 = no limit.
  double manifest_window_seconds = 0;
  /// The storage locations that s3:// paths lie in (their endpoints, regions, credentials and
  /// presign_seconds); null refuses s3:// paths. Not owned.
  const storage::Locations* locations = nullptr;
  /// Where an s3 input is staged and an s3 output built before upload ("" = $TMPDIR or /tmp).
  std::string scratch_dir;
  /// Called when the ladder starts on a device (`running` true, with its encoder sessions) and
  /// when it stops there (false): the node's sessions-per-device gauge.
  std::function<void(const Device& device, int sessions, bool running)> on_device;
  /// Earlier attempts at this job are fenced out: remove what they left half-written (only this
  /// job's staging directories of earlier attempts; never another job's).
  bool clear_stale_staging = false;
  /// A queued job's id and attempt (the node daemon); 0 for `kiln transcode`. They name the
  /// staging directory, go into result.json as the publish marker, and make an existing output
  /// replaceable only when its marker names this job (an earlier attempt's): any other existing
  /// output refuses the job (kOutputExists), whatever `overwrite` says.
  int64_t job_id = 0;
  int job_attempt = 0;
  const std::atomic<bool>* cancel = nullptr;      // set to stop; the job returns kCancelled
  /// Placement, asked once the ladder is planned: the node's ledger in a worker, a ledger of
  /// this process for `kiln transcode --node-config`. kBusy when no device can take the job
  /// now (the node hands it back to the queue). The process is then bound where it was
  /// placed. Unset: the chain's own order, nothing bound.
  std::function<Result<DevicePlacement>(const DeviceDemand&)> place;
};

struct RenditionOutput {
  std::string name;
  std::string playlist;       // relative to the output dir: "720p/playlist.m3u8" (s3: "a3/720p/...")
  std::string init_segment;
  int width = 0;
  int height = 0;
  int64_t target_bitrate = 0;
  int64_t average_bitrate = 0;  // measured from the segments
  int64_t peak_bitrate = 0;     // measured: the largest segment's rate
  double duration_seconds = 0;
  int segment_count = 0;
  std::string codecs;           // RFC 6381: "avc1.64001f"
  double frame_rate = 0;
  std::string codec = "h264";   // h264, hevc, av1
  std::string encoder;          // libx264, libsvtav1, hevc_vaapi...
};

/// A single-file MP4 (mp4/<rung>.mp4), H.264 + AAC, moov first.
struct Mp4FileOutput {
  std::string name;             // the rung
  std::string file;             // relative to the output dir
  int width = 0, height = 0;
  bool remux = false;           // the rung's own packets (true), or an encode of its own
  int64_t bytes = 0;
  double duration_seconds = 0;
};

struct AudioOutput {
  std::string playlist;
  std::string init_segment;
  int64_t target_bitrate = 0;
  int64_t average_bitrate = 0;
  int64_t peak_bitrate = 0;
  double duration_seconds = 0;
  int segment_count = 0;
  std::string codecs;           // "mp4a.40.2"
  int channels = 0;
  int sample_rate = 0;
};

/// Presigned HTTPS URLs of a published s3 output's manifests (the location's presign_seconds).
struct PlaybackUrls {
  std::string hls;
  std::string dash;
  std::string expires_at;  // ISO 8601, UTC
};

/// One variant of an image job: a width in a format.
struct ImageOutput {
  std::string path;             // relative to the output dir: "image/1280.webp"
  std::string format;           // "webp", "avif", "jpg"
  int width = 0;
  int height = 0;
  int64_t size_bytes = 0;
  int quality = 0;
};

struct TranscodeResult {
  MediaInfo input;
  std::string output_dir;       // absolute path, or s3://BUCKET/PREFIX
  std::string hls_master;       // absolute path (or s3:// URL) of the multivariant playlist
  std::string dash_manifest;    // absolute path (or s3:// URL) of the MPD
  std::optional<PlaybackUrls> playback;  // an s3 output whose location asks for presigned URLs
  std::vector<RenditionOutput> renditions;
  std::optional<AudioOutput> audio;
  std::vector<Mp4FileOutput> mp4;
  /// Thumbnails, storyboard sprites and their WebVTT track, and the poster (paths relative to
  /// the output dir; empty when not asked for).
  struct Images {
    std::vector<std::string> thumbnails, sprites;
    std::string vtt;
    double interval_seconds = 0;
    int tile_width = 0, tile_height = 0, columns = 0, rows = 0;
    std::string poster;
    int poster_width = 0, poster_height = 0;
    double poster_seconds = 0;
  } images;
  /// An image job's variants (input.image is set; no renditions, audio or manifests then).
  std::vector<ImageOutput> image_variants;
  std::string backend;
  std::string device;
  bool accelerated = false;
  std::string variant;              // the recipe: "zero-copy: ...", "hybrid: ...", "software"
  std::string acceleration_reason;  // why not accelerated, when not
  // Where each stage really ran: "cpu", or the device ("vaapi 0000:03:00.0"; scale "none" when
  // every rendition is at the source's size); and the encoder.
  // accelerated is true only when the video encode ran on the device.
  std::string decode_ran_on = "cpu", scale_ran_on = "cpu", encode_ran_on = "cpu";
  std::string encoder;
  std::vector<std::string> fallbacks;  // each device the job left, and why
  // Where the job was placed and how its process was bound (CPUs, memory), as applied.
  std::string placement;               // "least loaded: load 0.00 of capacity, CPUs 0-7"; "" = none
  std::string bound_cpus;              // "" = not bound
  int bound_numa = -1;
  std::string binding;                 // the binding's own words, what it could not apply too
  int64_t job_id = 0;                  // the queued job's id and attempt (result.json marker)
  int job_attempt = 0;
  std::vector<std::string> warnings;
  int64_t frames = 0;
  int corrupt_packets = 0;
  double elapsed_seconds = 0;
  /// Wall time per stage summed over pipeline threads: decode, scale, encode, package.
  double decode_seconds = 0, scale_seconds = 0, encode_seconds = 0, package_seconds = 0;
};

/// Runs one job to completion. On any failure (including cancellation) nothing is published
/// and no temporary files remain. Thread-safe: independent jobs may run concurrently.
Result<TranscodeResult> transcode(const TranscodeRequest& request);

}  // namespace kiln
