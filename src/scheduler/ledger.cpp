#include "scheduler/ledger.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>

#include "log.hpp"
#include "metrics/registry.hpp"
#include "scheduler/device_health.hpp"

namespace kiln::scheduler {
namespace {

metrics::Family& jobs_family() {
  static metrics::Family& f = metrics::default_registry().gauge(
      "kiln_device_jobs", "Jobs placed on each device (backend:id), from the node's ledger.", {"device"});
  return f;
}
metrics::Family& sessions_family() {
  static metrics::Family& f = metrics::default_registry().gauge(
      "kiln_device_sessions", "Encoder sessions held on each device (backend:id), from the node's ledger.",
      {"device"});
  return f;
}
metrics::Family& load_family() {
  static metrics::Family& f = metrics::default_registry().gauge(
      "kiln_device_load_ratio", "Output pixels/s placed on each device over its capacity.", {"device"});
  return f;
}

}  // namespace

std::string device_key(const Device& d) { return d.backend + ":" + d.id; }

Ledger::Ledger(std::vector<Slot> slots) { set_slots(std::move(slots)); }

void Ledger::set_slots(std::vector<Slot> slots) {
  std::lock_guard lock(mu_);
  for (auto& s : slots) {
    s.jobs = 0;
    s.sessions = 0;
    s.load = 0;
  }
  slots_ = std::move(slots);
  for (auto it = held_.begin(); it != held_.end();) {  // a device that went away holds nothing
    Slot* s = find(it->second.key);
    if (!s) {
      it = held_.erase(it);
      continue;
    }
    add(it->second, +1);
    ++it;
  }
  for (const auto& s : slots_) publish(s);
}

Slot* Ledger::find(const std::string& key) {
  for (auto& s : slots_)
    if (device_key(s.device) == key) return &s;
  return nullptr;
}

void Ledger::add(const Held& h, int sign) {
  Slot* s = find(h.key);
  if (!s) return;
  s->jobs += sign;
  s->sessions += sign * h.sessions;
  s->load += sign * h.load;
  if (s->load < 1e-6) s->load = 0;  // sums of doubles: an empty device reads 0, not 1e-9
  publish(*s);
}

void Ledger::publish(const Slot& s) const {
  const std::string key = device_key(s.device);
  jobs_family().gauge({key}).set(s.jobs);
  sessions_family().gauge({key}).set(s.sessions);
  load_family().gauge({key}).set(s.load / std::max(s.capacity, 1.0));
}

Result<Placement> Ledger::place(int64_t job, const Demand& demand, const std::vector<std::string>& candidates,
                                const DeviceHealth* health) {
  std::lock_guard lock(mu_);
  if (auto it = held_.find(job); it != held_.end()) {  // placed again: its old place first goes back
    add(it->second, -1);
    held_.erase(it);
  }
  std::vector<Slot> offered;
  std::vector<size_t> index;  // offered[i] is slots_[index[i]]
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!candidates.empty() &&
        std::find(candidates.begin(), candidates.end(), device_key(slots_[i].device)) == candidates.end())
      continue;
    offered.push_back(slots_[i]);
    index.push_back(i);
  }
  std::vector<std::string> left_out;
  auto ranked = rank(demand, offered, health, &left_out);
  if (ranked.empty())
    return Status(Code::kBusy, left_out.empty() ? std::string("no device on this node matches the job")
                                                : fmt::format("no device can take the job now: {}",
                                                              fmt::join(left_out, "; ")));
  Placement p;
  for (const auto& c : ranked) p.order.push_back(device_key(offered[c.slot].device));
  const Slot& chosen = slots_[index[ranked.front().slot]];
  p.bind_cpus = chosen.bind_cpus;
  p.bind_numa = chosen.bind_numa;
  p.why = ranked.front().why;
  Held h{p.order.front(), demand.sessions, demand.pixels_per_second};
  add(h, +1);
  held_[job] = h;
  return p;
}

void Ledger::moved(int64_t job, const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = held_.find(job);
  if (it == held_.end() || it->second.key == key || !find(key)) return;
  add(it->second, -1);
  it->second.key = key;
  add(it->second, +1);
  const Slot* s = find(key);
  if ((s->max_sessions > 0 && s->sessions > s->max_sessions) || (s->max_jobs > 0 && s->jobs > s->max_jobs))
    logger("scheduler")->warn("job {} fell back to {}, which is now over its cap ({} jobs, {} sessions): the "
                              "fallback finishes the job rather than lose it", job, key, s->jobs, s->sessions);
}

void Ledger::release(int64_t job) {
  std::lock_guard lock(mu_);
  auto it = held_.find(job);
  if (it == held_.end()) return;
  add(it->second, -1);
  held_.erase(it);
}

int Ledger::room(const DeviceHealth* health) const {
  std::lock_guard lock(mu_);
  long total = 0;
  for (const auto& s : slots_) {
    if (!s.enabled || s.device.cpu_emulated) continue;  // lavapipe runs only jobs that name it
    if (health && health->quarantined(device_key(s.device))) continue;
    long free = LONG_MAX;
    if (s.max_sessions > 0) free = std::min<long>(free, s.max_sessions - s.sessions);
    if (s.max_jobs > 0) free = std::min<long>(free, s.max_jobs - s.jobs);
    if (free == LONG_MAX) return INT32_MAX;
    total += std::max(0L, free);
  }
  return static_cast<int>(std::min<long>(total, INT32_MAX));
}

std::vector<Slot> Ledger::snapshot() const {
  std::lock_guard lock(mu_);
  return slots_;
}

}  // namespace kiln::scheduler
