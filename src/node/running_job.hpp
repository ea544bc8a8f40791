#pragma once
// A job this node runs, as its threads share it: the claim (the fencing token), the flags that
// stop it, its latest progress, and the lease deadline as this node knows it. JobTable is the
// node's list of them. Both thread-safe.

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/job.hpp"

namespace kiln::node {

struct RunningJob {
  using Clock = std::chrono::steady_clock;

  Claim claim;
  std::atomic<bool> cancel{false};            // set: the transcode stops (kCancelled)
  std::atomic<bool> lost{false};              // the lease is gone: publish nothing, report nothing
  std::atomic<bool> cancel_requested{false};  // a user cancelled it
  std::atomic<bool> handing_back{false};      // the node drains: give it back, attempt not spent
  std::atomic<bool> done{false};
  std::atomic<bool> placed{false};            // the ledger holds its place (or it ended)
  std::string place_refused;                  // job thread only: why no device could take it
  Clock::time_point last_status_update = Clock::now();
  std::mutex mu;
  nlohmann::json progress = {{"phase", "starting"}};
  nlohmann::json device = nlohmann::json::object();  // {backend, device}: where it runs now (under mu)
  std::thread thread;

  /// A renewal (claim or heartbeat) sent at `sent_at` succeeded: the lease runs at least until
  /// sent_at + lease (the database's clock started later than `sent_at`).
  void renewed(Clock::time_point sent_at, double lease_seconds) {
    auto until = sent_at + std::chrono::milliseconds(static_cast<int64_t>(lease_seconds * 1000));
    lease_until_.store(until.time_since_epoch().count());
  }
  Clock::time_point lease_until() const { return Clock::time_point(Clock::duration(lease_until_.load())); }
  bool lease_expired(Clock::time_point now = Clock::now()) const { return now >= lease_until(); }

  nlohmann::json progress_copy() {
    std::lock_guard lock(mu);
    return progress;
  }

 private:
  std::atomic<Clock::rep> lease_until_{0};
};

class JobTable {
 public:
  void add(std::shared_ptr<RunningJob> job) {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  /// Joins and forgets finished jobs; returns how many still run.
  size_t reap_done() {
    std::list<std::shared_ptr<RunningJob>> finished;
    size_t left;
    {
      std::lock_guard lock(mu_);
      for (auto it = jobs_.begin(); it != jobs_.end();) {
        if ((*it)->done) {
          finished.push_back(std::move(*it));
          it = jobs_.erase(it);
        } else {
          ++it;
        }
      }
      left = jobs_.size();
    }
    for (auto& j : finished) j->thread.join();
    return left;
  }
  /// The jobs not finished yet (shared: safe to use while the table changes).
  std::vector<std::shared_ptr<RunningJob>> snapshot() {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<RunningJob>> out;
    for (auto& j : jobs_)
      if (!j->done) out.push_back(j);
    return out;
  }
  /// Jobs claimed and not yet placed on a device (their worker is still probing).
  int unplaced() {
    std::lock_guard lock(mu_);
    int n = 0;
    for (auto& j : jobs_) n += !j->done && !j->placed;
    return n;
  }
  std::list<std::shared_ptr<RunningJob>> take_all() {
    std::lock_guard lock(mu_);
    return std::move(jobs_);
  }

 private:
  std::mutex mu_;
  std::list<std::shared_ptr<RunningJob>> jobs_;
};

}  // namespace kiln::node
