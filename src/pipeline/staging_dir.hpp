#pragma once
// Atomic publish: a job writes into a hidden directory beside OUTDIR and renames it into
// place only when everything is written. Until publish() succeeds, destruction removes it.

#include <string>

#include "kiln/status.hpp"

namespace kiln::pipeline {

class StagingDir {
 public:
  /// Refuses (kOutputExists) if `final_dir` exists and `overwrite` is false; creates
  /// `<parent>/.<name>.kiln-staging-<random>`.
  static Result<StagingDir> create(const std::string& final_dir, bool overwrite);
  /// Removes staging directories of earlier attempts at `final_dir` (a process killed with
  /// SIGKILL cannot clean up its own). Only for a caller that knows those attempts are over:
  /// the node daemon, once the queue has fenced them out. Returns how many it removed.
  static int remove_stale(const std::string& final_dir);

  StagingDir(StagingDir&& other) noexcept;
  StagingDir& operator=(StagingDir&&) = delete;
  ~StagingDir();

  const std::string& path() const { return path_; }
  /// Renames the staging directory to the final one (replacing it when overwriting).
  Status publish();

 private:
  StagingDir() = default;
  std::string path_;
  std::string final_;
  bool overwrite_ = false;
  bool published_ = false;
};

}  // namespace kiln::pipeline
