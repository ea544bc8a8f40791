#pragma once
// The node's claim loop: while it has room, claims the next due job of its queues and hands it
// to `start`; otherwise waits for a NOTIFY (new work, a cancel) or the poll timeout. While the
// database is unreachable it waits for the reconnect backoff instead of spinning.

#include <atomic>
#include <functional>
#include <string>

#include "kiln/job.hpp"
#include "kiln/node_config.hpp"
#include "node/db_link.hpp"
#include "node/running_job.hpp"

namespace kiln::node {

class ClaimLoop {
 public:
  struct Hooks {
    /// Runs a claimed job; `claimed_at` is when the claim was sent (its lease starts later).
    std::function<void(const Claim&, std::chrono::steady_clock::time_point claimed_at)> start;
    std::function<void()> notified;  // a NOTIFY arrived (the heartbeat loop looks for cancels)
    /// Whether a device could take one more job now (the ledger's room beyond the jobs claimed
    /// and not yet placed). Unset: always.
    std::function<bool()> has_room;
  };
  ClaimLoop(const NodeConfig& config, std::string node_name, int max_jobs, JobTable& jobs, DatabaseState& state,
            Hooks hooks);

  /// Claims until `stop` is set; never throws.
  void run(const std::atomic<bool>& stop);
  /// One step (claim one job, or wait): for run() and tests.
  void step(const std::atomic<bool>& stop);

 private:
  void wait_for_work(double seconds, const std::atomic<bool>& stop);
  static void sleep_unless_stopped(std::chrono::milliseconds d, const std::atomic<bool>& stop);

  const NodeConfig& config_;
  std::string name_;
  int max_jobs_;
  JobTable& jobs_;
  DbLink work_, listener_;
  Hooks hooks_;
};

}  // namespace kiln::node
