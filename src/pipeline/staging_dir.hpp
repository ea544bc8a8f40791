#pragma once
// Atomic publish: a job writes into a hidden directory beside OUTDIR and renames it into
// place only when everything is written and synced to disk. Until publish() succeeds,
// destruction removes it.

#include <cstdint>
#include <string>

#include "kiln/status.hpp"

namespace kiln::pipeline {

class StagingDir {
 public:
  /// A queued job's attempt (the node daemon); {0, 0} for `kiln transcode`.
  struct Owner {
    int64_t job_id = 0;
    int attempt = 0;
  };

  /// Creates `<parent>/.<name>.kiln-staging-<suffix>`: for a job, the suffix names its id and
  /// attempt (j<id>-a<attempt>-<random>), so clean-up can tell its own from another job's.
  /// Refuses (kOutputExists) if `final_dir` exists, unless: for a job, the existing output's
  /// result.json marker names the same job (an earlier attempt's; `overwrite` is ignored); without
  /// an owner, `overwrite` (the CLI's --overwrite).
  static Result<StagingDir> create(const std::string& final_dir, Owner owner, bool overwrite);
  /// `kiln transcode`'s form: no owner.
  static Result<StagingDir> create(const std::string& final_dir, bool overwrite) {
    return create(final_dir, Owner{}, overwrite);
  }
  /// Removes the staging directories that earlier attempts (< `attempt`) of job `job_id` left at
  /// `final_dir` (a process killed with SIGKILL cannot clean up its own). Never touches another
  /// job's, nor this attempt's. Only for a caller that knows those attempts are over: the node
  /// daemon, once the queue has fenced them out. Returns how many it removed.
  static int remove_stale(const std::string& final_dir, int64_t job_id, int attempt);

  /// Removes every staging directory of this process that is not published yet, for a last-resort
  /// exit that will not unwind (a job stuck past its wall-clock limit inside a library call).
  /// Thread-safe; the directories' owners must not publish afterwards.
  static void remove_unpublished();

  StagingDir(StagingDir&& other) noexcept;
  StagingDir& operator=(StagingDir&&) = delete;
  ~StagingDir();

  const std::string& path() const { return path_; }
  /// fsyncs every file and directory written, then renames the staging directory to the final
  /// one (replacing it only as create() allows), then fsyncs the parent directory: once this
  /// returns ok the output survives a power cut.
  Status publish();

 private:
  StagingDir() = default;
  Status may_replace() const;
  std::string path_;
  std::string final_;
  Owner owner_;
  bool overwrite_ = false;
  bool published_ = false;
};

/// fsync(2) of every regular file and directory under `root`, and `root` itself.
Status sync_tree(const std::string& root);

}  // namespace kiln::pipeline
