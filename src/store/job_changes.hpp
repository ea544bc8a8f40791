#pragma once
// Which jobs changed: LISTEN kiln_job_changes on a connection of its own (migration 7's trigger
// NOTIFYs a job's id on every change a job list shows). For the console's live list. Not
// thread-safe: one per stream. A lost connection is an error (kIo), never re-established here:
// the stream ends and the browser reconnects, getting a fresh snapshot.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/status.hpp"

namespace kiln::store {

class JobChanges {
 public:
  /// Connects and LISTENs; changes committed after this returns are all announced.
  static Result<std::unique_ptr<JobChanges>> open(const std::string& url);
  ~JobChanges();

  /// The ids of jobs changed since the last call (each once, in the order first seen), waiting
  /// up to `seconds` for the first; empty if none came.
  Result<std::vector<int64_t>> wait(double seconds);

 private:
  struct Impl;
  explicit JobChanges(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::store
