#include "scheduler/placement.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "scheduler/device_health.hpp"

namespace kiln::scheduler {
namespace {

struct CapacityRow {
  const char* backend;
  double pixels_per_second;  // per device; software: per CPU thread
};
// Defaults until an operator measures their own (kiln bench) and sets capacity in node.toml.
// Software: this project's 2-thread machine ran the default 720p+480p ladder of a 1080p30
// source at ~3.1x real time, ~6e7 output pixels/s per thread. Hardware figures are
// conservative single-engine numbers for current Intel/NVIDIA media engines.
constexpr std::array kCapacities = {
    CapacityRow{"software", 6.0e7}, CapacityRow{"vulkan", 6.0e7}, CapacityRow{"vaapi", 5.0e8},
    CapacityRow{"qsv", 5.0e8},      CapacityRow{"nvenc", 1.0e9},
};

bool allows(const Slot& s, const std::string& codec) {
  return s.codecs.empty() || std::find(s.codecs.begin(), s.codecs.end(), codec) != s.codecs.end();
}

}  // namespace

double default_capacity(const Device& d) {
  for (const auto& row : kCapacities)
    if (d.backend == row.backend)
      return row.pixels_per_second * (d.backend == "software" || d.backend == "vulkan" ? d.capacity : 1);
  return kCapacities.front().pixels_per_second;
}

std::vector<Slot> make_slots(const std::vector<Device>& devices, const NodeConfig& config,
                             const Measurements* measured) {
  std::vector<Slot> slots;
  for (const auto& d : devices) {
    Slot s;
    s.device = d;
    if (const DeviceRule* r = rule_for(config, d)) s.rule = *r;
    const MeasuredDevice* m = nullptr;
    if (measured)
      if (auto it = measured->devices.find(d.backend + ":" + d.id); it != measured->devices.end()) m = &it->second;
    s.enabled = d.usable && (!s.rule || s.rule->enabled);
    // Configured beats measured beats the device's own answer (or the built-in estimate).
    s.max_sessions = d.session_limit;
    if (m && m->sessions > 0 && d.backend != "software") s.max_sessions = m->sessions;
    if (s.rule && s.rule->max_sessions > 0) s.max_sessions = s.rule->max_sessions;
    s.codecs = s.rule && !s.rule->codecs.empty() ? s.rule->codecs : std::vector<std::string>{};
    if (s.rule && s.rule->capacity > 0) {
      s.capacity = s.rule->capacity;
      s.capacity_source = "configured";
    } else if (m && m->capacity > 0) {
      s.capacity = m->capacity;
      s.capacity_source = "measured";
    } else {
      s.capacity = default_capacity(d);
      s.capacity_source = "estimate";
    }
    if (d.backend == "software")
      s.max_jobs = config.software_slots >= 0 ? config.software_slots
                   : m && m->jobs > 0         ? m->jobs
                                              : std::max(1, d.capacity / 4);
    if (d.backend == "software" && s.max_jobs == 0) s.enabled = false;  // software_slots = 0
    NumaPolicy numa = s.rule ? s.rule->numa : NumaPolicy::kLocal;
    if (numa == NumaPolicy::kCpus) {
      s.bind_cpus = s.rule->cpus;
    } else if (numa == NumaPolicy::kLocal && d.numa_node >= 0) {
      s.bind_cpus = d.local_cpus;
      s.bind_numa = d.numa_node;
    }
    slots.push_back(std::move(s));
  }
  return slots;
}

std::vector<Choice> rank(const Demand& demand, const std::vector<Slot>& slots,
                         const DeviceHealth* health, std::vector<std::string>* left_out) {
  auto note = [&](const Slot& s, const std::string& why) {
    if (left_out) left_out->push_back(fmt::format("{} ({}): {}", s.device.backend, s.device.id, why));
  };
  struct Scored {
    size_t index;
    bool pinned;
    double load_after;
  };
  std::vector<Scored> ok;
  for (size_t i = 0; i < slots.size(); ++i) {
    const Slot& s = slots[i];
    if (!device_matches(s.device, demand.selector)) continue;
    if (!s.enabled) {
      note(s, !s.device.usable ? s.device.health
              : s.rule          ? fmt::format("disabled by {}", s.rule->origin)
                                : std::string("software_slots = 0 in the node config"));
      continue;
    }
    if (!allows(s, demand.codec)) {
      note(s, fmt::format("{} not allowed here ({})", demand.codec, s.rule->origin));
      continue;
    }
    if (health && health->quarantined(s.device.backend + ":" + s.device.id)) {
      note(s, "quarantined");
      continue;
    }
    if (s.max_sessions > 0 && s.sessions + demand.sessions > s.max_sessions) {
      note(s, fmt::format("busy: {} of {} encoder sessions in use, the job needs {}", s.sessions,
                          s.max_sessions, demand.sessions));
      continue;
    }
    if (s.max_jobs > 0 && s.jobs >= s.max_jobs) {
      note(s, fmt::format("busy: {} of {} job slots in use", s.jobs, s.max_jobs));
      continue;
    }
    bool pinned = s.rule.has_value() || !demand.selector.empty();
    ok.push_back({i, pinned, (s.load + demand.pixels_per_second) / std::max(s.capacity, 1.0)});
  }
  // Software last whatever its load: it is the fallback, not a peer of the accelerators.
  std::stable_sort(ok.begin(), ok.end(), [&](const Scored& a, const Scored& b) {
    bool sa = slots[a.index].device.backend == "software";
    bool sb = slots[b.index].device.backend == "software";
    if (sa != sb) return sb;
    if (a.pinned != b.pinned) return a.pinned;
    return a.load_after < b.load_after;
  });
  std::vector<Choice> out;
  for (const auto& sc : ok) {
    const Slot& s = slots[sc.index];
    out.push_back({sc.index, fmt::format("{}load {:.2f} of capacity after placing{}",
                                         s.rule ? fmt::format("configured by {}, ", s.rule->origin) : "",
                                         sc.load_after,
                                         s.bind_cpus.empty() ? "" : fmt::format(", CPUs {}", s.bind_cpus))});
  }
  return out;
}

}  // namespace kiln::scheduler
