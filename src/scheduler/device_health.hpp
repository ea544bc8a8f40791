#pragma once
// Strikes and quarantine: a device that fails jobs is taken out of scheduling before it eats
// more of them, and let back in when a test encode succeeds. Thread-safe.

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kiln/backend.hpp"
#include "metrics/registry.hpp"

namespace kiln::scheduler {

class DeviceHealth {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  struct Policy {
    int strikes = 3;                              // strikes within `window` that quarantine
    std::chrono::seconds window{std::chrono::minutes(10)};
  };

  DeviceHealth();
  /// Counts strikes and quarantines in `registry` (kiln_device_strikes_total,
  /// kiln_device_quarantines_total, kiln_device_quarantined); nullptr = the process's registry.
  explicit DeviceHealth(Policy policy, Clock clock = &std::chrono::steady_clock::now,
                        metrics::Registry* registry = nullptr);

  /// Records a failure of the device `key` ("vaapi:/dev/dri/renderD128"). Returns true when
  /// this strike quarantined it (logged at warn).
  bool strike(const std::string& key, const std::string& reason);
  /// Called after every strike (outside the lock), so a job's worker process can tell the
  /// node's DeviceHealth. Set it before the object is shared between threads.
  void set_strike_observer(std::function<void(const std::string& key, const std::string& reason)> fn) {
    on_strike_ = std::move(fn);
  }
  bool quarantined(const std::string& key) const;
  /// A test encode on the device succeeded: it is scheduled again and its strikes forgotten.
  void clear(const std::string& key);
  std::vector<std::string> quarantined_devices() const;

  int64_t strikes_total() const;
  int64_t quarantines_total() const;

 private:
  struct Entry {
    std::deque<std::chrono::steady_clock::time_point> strikes;
    bool quarantined = false;
    std::string last_reason;
  };
  bool strike_locked(const std::string& key, const std::string& reason);

  Policy policy_;
  Clock clock_;
  metrics::Family& strikes_metric_;
  metrics::Family& quarantines_metric_;
  metrics::Family& quarantined_metric_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
  int64_t strikes_total_ = 0;
  int64_t quarantines_total_ = 0;
  std::function<void(const std::string&, const std::string&)> on_strike_;
};

/// Runs `test_encode` (pipeline::test_encode_device in the node) on every quarantined device
/// in `devices` and lets back in those that pass. What the node daemon calls periodically.
/// Returns how many came back.
int recheck_quarantined(DeviceHealth& health, const std::vector<Device>& devices,
                        const std::function<Status(const Device&)>& test_encode);

}  // namespace kiln::scheduler
