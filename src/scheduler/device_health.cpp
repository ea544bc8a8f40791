#include "scheduler/device_health.hpp"

#include "log.hpp"

namespace kiln::scheduler {

DeviceHealth::DeviceHealth() : DeviceHealth(Policy{}) {}

DeviceHealth::DeviceHealth(Policy policy, Clock clock, metrics::Registry* registry)
    : policy_(policy),
      clock_(std::move(clock)),
      strikes_metric_((registry ? *registry : metrics::default_registry())
                          .counter("kiln_device_strikes_total",
                                   "Failures counted against a device (backend:id).", {"device"})),
      quarantines_metric_((registry ? *registry : metrics::default_registry())
                              .counter("kiln_device_quarantines_total",
                                       "Times a device was quarantined.", {"device"})),
      quarantined_metric_((registry ? *registry : metrics::default_registry())
                              .gauge("kiln_device_quarantined",
                                     "1 while a device is quarantined.", {"device"})) {}

bool DeviceHealth::strike(const std::string& key, const std::string& reason) {
  bool quarantined = strike_locked(key, reason);
  if (on_strike_) on_strike_(key, reason);
  return quarantined;
}

bool DeviceHealth::strike_locked(const std::string& key, const std::string& reason) {
  std::lock_guard lock(mu_);
  auto now = clock_();
  Entry& e = entries_[key];
  ++strikes_total_;
  strikes_metric_.counter({key}).inc();
  e.last_reason = reason;
  e.strikes.push_back(now);
  while (!e.strikes.empty() && now - e.strikes.front() > policy_.window) e.strikes.pop_front();
  logger("scheduler")->warn("device {}: strike {}/{} within {} s: {}", key, e.strikes.size(),
                            policy_.strikes, policy_.window.count(), reason);
  if (e.quarantined || static_cast<int>(e.strikes.size()) < policy_.strikes) return false;
  e.quarantined = true;
  ++quarantines_total_;
  quarantines_metric_.counter({key}).inc();
  quarantined_metric_.gauge({key}).set(1);
  logger("scheduler")->warn("device {} quarantined after {} failures; jobs go to the next device "
                            "until a test encode succeeds (last: {})", key, e.strikes.size(), reason);
  return true;
}

bool DeviceHealth::quarantined(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.quarantined;
}

void DeviceHealth::clear(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (it->second.quarantined) {
    logger("scheduler")->info("device {} passed a test encode: back in service", key);
    quarantined_metric_.gauge({key}).set(0);
  }
  entries_.erase(it);
}

std::vector<std::string> DeviceHealth::quarantined_devices() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [key, e] : entries_)
    if (e.quarantined) out.push_back(key);
  return out;
}

int64_t DeviceHealth::strikes_total() const {
  std::lock_guard lock(mu_);
  return strikes_total_;
}

int64_t DeviceHealth::quarantines_total() const {
  std::lock_guard lock(mu_);
  return quarantines_total_;
}

}  // namespace kiln::scheduler

namespace kiln::scheduler {

int recheck_quarantined(DeviceHealth& health, const std::vector<Device>& devices,
                        const std::function<Status(const Device&)>& test_encode) {
  int back = 0;
  for (const auto& key : health.quarantined_devices()) {
    for (const auto& d : devices) {
      if (d.backend + ":" + d.id != key) continue;
      Status st = test_encode(d);
      if (st.is_ok()) {
        health.clear(key);
        ++back;
      } else {
        logger("scheduler")->info("device {} stays quarantined: test encode failed: {}", key, st.message());
      }
    }
  }
  return back;
}

}  // namespace kiln::scheduler
