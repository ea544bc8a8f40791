#pragma once
// Publishing a finished ladder to an S3-compatible bucket. S3 has no atomic rename, so a
// publish is an order and two invariants.
//
// Order: (1) init and media segments, (2) media playlists, both under a folder of this
// attempt's own (`OUTPUT/a<attempt>/720p/seg_00001.m4s`); (3) the output checked again (nothing
// of another job's appeared) and the lease check (before_manifests); (4) the multivariant playlist and the MPD at the output's top
// (`OUTPUT/master.m3u8`, `OUTPUT/manifest.mpd`), naming the attempt's folder; (5) result.json,
// last: its presence means the output is complete; (6) the folders of earlier attempts.
//
// Invariants: a reader never sees a manifest that names a missing object (objects before the
// manifests that name them; a failure deletes this attempt's manifests before its objects; an
// earlier attempt's folder goes only after the new manifests replaced the ones naming it), and
// an attempt that lost its lease never changes a byte a published manifest names (media is
// written only under the attempt's own folder; manifests only after the lease check, and only
// within manifest_window of it).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "kiln/status.hpp"
#include "storage/s3/s3_client.hpp"

namespace kiln::pipeline {

/// Where a ladder is published: a folder (key prefix) in a bucket.
struct S3Output {
  const storage::s3::S3Client* client = nullptr;  // not owned
  std::string url;  // "s3://bucket/out": for messages and results
  std::string key;  // "out": objects go under "out/"
};

/// The folder an attempt writes its media under: "a<attempt>" for a queued job, "run-<random>"
/// for `kiln transcode` (a run of its own, so an --overwrite never touches what the published
/// manifests name).
std::string attempt_folder(int64_t job_id, int attempt);

/// The Content-Type and Cache-Control an object gets, by where it lies (`relative` to the
/// output) and its extension: media and media playlists under an attempt's folder never change
/// (a new attempt writes new names), so they are cached for a year; the manifests and
/// result.json at the top are replaced by a later publish, so every use revalidates them.
struct ObjectHeaders {
  std::string content_type;
  std::string cache_control;
};
ObjectHeaders headers_for(const std::string& relative);

/// Whether a publish to `out` may go ahead: ok when nothing is under it, or everything there is
/// this job's (its result.json names job `job_id`; or, with no result.json, objects laid out as
/// an earlier attempt's: `a<N>/...`, master.m3u8, manifest.mpd); for `kiln transcode`
/// (job_id 0), when nothing is there or `overwrite`. Objects under `own_folder` (this attempt's,
/// when checking again before the manifests) are not counted. kOutputExists naming what is in the
/// way; the client's codes when the bucket cannot be listed.
Status check_s3_output(const S3Output& out, int64_t job_id, bool overwrite, const std::string& own_folder = "");

struct S3PublishOptions {
  std::string folder;  // attempt_folder()
  int64_t job_id = 0;
  int attempt = 0;
  /// `kiln transcode --overwrite`: once published, every other object under the output goes.
  bool overwrite = false;
  /// The lease check, right before the manifests; false: nothing is published, what was
  /// uploaded is deleted, and the publish ends kCancelled.
  std::function<bool()> before_manifests;
  /// The manifests must be stored within this long of the start of the lease check (a part of
  /// the lease it renews), else none are and the publish fails (kCancelled); 0: no limit. A
  /// manifest upload still running at the deadline is stopped.
  std::chrono::milliseconds manifest_window{0};
  /// The clock the window is measured on (tests move it).
  std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
  const std::atomic<bool>* cancel = nullptr;
  /// Called after each object is stored, with its key (progress; tests check the order with it).
  std::function<void(const std::string& key)> on_stored;
};

/// Uploads `local_dir`, laid out as published (manifests and result.json at its top, media and
/// media playlists under options.folder), to `out` in the order above, then deletes earlier
/// attempts' folders. On failure, cancel or a refused lease check, deletes what it stored (its
/// manifests, then its folder) before returning; what it could not delete (the store down) is
/// logged at warn, counted in kiln_s3_cleanup_failures_total{when="failed_publish"} and left
/// for the next attempt's publish, which deletes it. A failed deletion of earlier attempts'
/// folders after a publish is logged and counted the same way ({when="earlier_attempts"}) and
/// does not fail the publish. Thread-safe for distinct outputs.
Status publish_to_s3(const std::string& local_dir, const S3Output& out, const S3PublishOptions& options);

}  // namespace kiln::pipeline
