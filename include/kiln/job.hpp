#pragma once
// A transcode job as the queue keeps it. States follow River's names:
//   pending    created but not yet released (unused by Kiln today)
//   scheduled  due at scheduled_at (submitted for later)
//   available  due now, waiting for a node
//   running    claimed by a node under a lease; `attempt` is the fencing token
//   retryable  failed, will be due again at scheduled_at (exponential backoff with jitter)
//   completed  published
//   cancelled  cancelled by a user
//   discarded  out of attempts, or failed in a way no retry can fix (the dead-letter state)
// The API shows MediaConvert's statuses beside them (SUBMITTED, PROGRESSING, COMPLETE, ERROR,
// CANCELED).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

enum class JobState { kPending, kScheduled, kAvailable, kRunning, kRetryable, kCompleted, kCancelled, kDiscarded };

const char* state_name(JobState s);
std::optional<JobState> parse_state(std::string_view name);
/// SUBMITTED (pending/scheduled/available/retryable), PROGRESSING, COMPLETE, ERROR, CANCELED.
const char* mediaconvert_status(JobState s);
bool is_final(JobState s);

/// What a submitter asks for. `spec` is kept as JSON: input, output, ladder, metadata, ...
struct NewJob {
  nlohmann::json spec;
  std::string queue = "default";
  int priority = 0;                // -50..50, higher runs first
  int max_attempts = 5;
  std::string idempotency_key;     // "" = none
  double delay_seconds = 0;        // > 0: scheduled for later
  std::string input_location;      // the [[location]] the input lies in ("" unknown): for filters
  std::string input_key;           // the input's path inside it
};

/// What GET /v1/jobs may filter on; empty fields do not filter.
struct JobFilter {
  std::optional<JobState> state;
  std::string input_location;      // with input_key: one input; alone: every input in it
  std::string input_key;
  std::string metadata_key;        // with metadata_value: spec.metadata[key] == value (a string)
  std::string metadata_value;
};

struct Job {
  int64_t id = 0;
  JobState state = JobState::kAvailable;
  int priority = 0;
  std::string queue;
  int attempt = 0;
  int max_attempts = 0;
  std::string node;
  std::string idempotency_key;
  nlohmann::json spec, input_info, progress, output, errors;
  bool cancel_requested = false;
  std::string created_at, scheduled_at, attempted_at, finalized_at, lease_expires_at;  // ISO 8601
};

/// A job a node claimed: the fencing token every later write must carry.
struct Claim {
  int64_t id = 0;
  int attempt = 0;
  nlohmann::json spec;
  double queue_wait_seconds = 0;  // from due to claimed
};

/// The retry delay after failed attempt `attempt` (1-based): base * 2^(attempt-1), capped,
/// times a jitter factor in [1, 1 + jitter). `unit` is a random number in [0, 1).
double backoff_seconds(int attempt, double unit, double base = 15, double cap = 3600, double jitter = 0.25);

}  // namespace kiln
