#pragma once
// A job attempt's scratch space: where an object-store input is staged before it is probed,
// and where the ladder for an object-store output is built before it is uploaded. An input too
// large to stage may instead be read through a presigned URL where its location says so
// (stream_input); either way media is parsed only in the worker.

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "kiln/status.hpp"
#include "media/probe.hpp"
#include "storage/location.hpp"
#include "storage/s3/s3_client.hpp"

namespace kiln::pipeline {

/// The scratch root when none is configured: $TMPDIR, else /tmp (`kiln transcode`).
std::string default_scratch_root();

/// A directory of its own under the scratch root, removed with everything in it on
/// destruction (however the attempt ends). Move-only.
class ScratchSpace {
 public:
  /// Creates `<root>/kiln-j<job>-a<attempt>` for a queued job (job_id > 0; an earlier one of
  /// the same name, left by a killed worker, is emptied first), `<root>/kiln-<random>` for
  /// `kiln transcode`. The root is created if missing. kIo naming the directory otherwise.
  static Result<ScratchSpace> create(const std::string& root, int64_t job_id, int attempt);
  /// What create() names a job attempt's directory.
  static std::string name_for(int64_t job_id, int attempt);
  /// Removes what a worker that died without unwinding (SIGKILL) left of attempt `attempt`;
  /// true when there was something. For the node, once the worker is gone.
  static bool remove_left_over(const std::string& root, int64_t job_id, int attempt);
  /// Removes every scratch space of this process, for a last-resort exit that will not unwind
  /// (as StagingDir::remove_unpublished). Thread-safe; their owners must not use them after.
  static void remove_all_live();

  ScratchSpace(ScratchSpace&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  ScratchSpace& operator=(ScratchSpace&&) = delete;
  ~ScratchSpace();

  const std::string& path() const { return path_; }

 private:
  ScratchSpace() = default;
  std::string path_;
};

/// Bytes free for an unprivileged writer on the filesystem holding `dir`; -1 when unknown.
int64_t free_bytes(const std::string& dir);

/// Downloads object `key` (`url` names it in messages) into `dir` as `input<.ext>` (the key's
/// extension, if short and plain) with the client's ranged, resumable download, and returns the
/// local path. The object's size (HEAD) is checked against the free space first: kIo saying how
/// much is needed and free, and what to do, instead of a half-written file; a disk that fills up
/// during the download is kIo too, and no partial file remains either way. kInputMissing for no
/// such object, the client's storage codes otherwise, kCancelled when `cancel` is set.
Result<std::string> stage_input(const storage::s3::S3Client& client, const std::string& url, const std::string& key,
                                const std::string& dir, const std::atomic<bool>* cancel = nullptr);

/// An object-store input as the job reads it: a staged file, or a presigned URL.
struct InputSource {
  std::string path;                          // the staged file, or the presigned URL
  std::optional<media::RemoteInput> remote;  // set when streamed: the object's name and size
};

/// How long a presigned URL for a streamed input stays valid: it must outlive the job (each
/// reconnect and seek is a new request with it).
constexpr int kStreamUrlSeconds = 24 * 3600;

/// Object `key` (`url` names it) as the job will read it, as `mode` (the location's
/// stream_input) says: staged into `dir` with stage_input() (`on_staging` is called first), or
/// a presigned GET URL valid for kStreamUrlSeconds. kAuto streams when `dir`'s filesystem has
/// less room than the object. An image is always staged (libvips reads files); so is anything
/// whose first bytes cannot be read. kInputMissing / kInputEmpty as stage_input().
Result<InputSource> open_input_object(const storage::s3::S3Client& client, const std::string& url,
                                      const std::string& key, storage::Location::StreamInput mode,
                                      const std::string& dir, const std::function<void()>& on_staging,
                                      const std::atomic<bool>* cancel = nullptr);

}  // namespace kiln::pipeline
