#include "kiln/job.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace kiln {
namespace {

struct StateRow {
  JobState state;
  const char* name;
  const char* status;
};
constexpr std::array kStates = {
    StateRow{JobState::kPending, "pending", "SUBMITTED"},
    StateRow{JobState::kScheduled, "scheduled", "SUBMITTED"},
    StateRow{JobState::kAvailable, "available", "SUBMITTED"},
    StateRow{JobState::kRunning, "running", "PROGRESSING"},
    StateRow{JobState::kRetryable, "retryable", "SUBMITTED"},
    StateRow{JobState::kCompleted, "completed", "COMPLETE"},
    StateRow{JobState::kCancelled, "cancelled", "CANCELED"},
    StateRow{JobState::kDiscarded, "discarded", "ERROR"},
};

}  // namespace

const char* state_name(JobState s) {
  for (const auto& r : kStates)
    if (r.state == s) return r.name;
  return "unknown";
}

std::optional<JobState> parse_state(std::string_view name) {
  for (const auto& r : kStates)
    if (name == r.name) return r.state;
  return std::nullopt;
}

const char* mediaconvert_status(JobState s) {
  for (const auto& r : kStates)
    if (r.state == s) return r.status;
  return "ERROR";
}

bool is_final(JobState s) {
  return s == JobState::kCompleted || s == JobState::kCancelled || s == JobState::kDiscarded;
}

double backoff_seconds(int attempt, double unit, double base, double cap, double jitter) {
  double d = std::min(cap, base * std::pow(2.0, std::max(0, attempt - 1)));
  return d * (1.0 + jitter * std::clamp(unit, 0.0, 1.0));
}

}  // namespace kiln
