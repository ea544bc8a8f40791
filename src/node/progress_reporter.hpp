#pragma once
// The node's heartbeat loop: renews each running job's lease with its progress, stops jobs that
// were cancelled or whose lease was lost, beats for the node itself and for systemd's watchdog.
// While the database is unreachable it keeps going: progress stays with the job and is sent when
// the database is back; a job whose lease ran out meanwhile (as this node's clock knows it) is
// stopped and publishes nothing.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "kiln/node_config.hpp"
#include "node/db_link.hpp"
#include "node/running_job.hpp"

namespace kiln::node {

class ProgressReporter {
 public:
  struct Hooks {
    std::function<bool()> draining;            // the node's state: draining or up
    std::function<void(store::Db*)> each_beat; // hotplug, quarantine rechecks; nullptr db while down
    std::function<nlohmann::json()> devices;   // the live device list sent with each beat (optional)
  };
  ProgressReporter(const NodeConfig& config, std::string node_name, JobTable& jobs, DatabaseState& state,
                   Hooks hooks);

  /// Beats until stop() is called; never throws (a failed round is logged and the next one runs).
  void run();
  /// One round, for run() and tests.
  void beat();
  /// Asks for a beat now (a NOTIFY came: maybe a cancel).
  void poke();
  void stop();

 private:
  void beat_job(RunningJob& j, double* fps_total);
  void wait_beat();

  const NodeConfig& config_;
  std::string name_;
  JobTable& jobs_;
  DbLink link_;
  Hooks hooks_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool now_ = false;
  std::atomic<bool> stop_{false};
};

}  // namespace kiln::node
