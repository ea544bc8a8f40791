#include "coordinator/job_json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "kiln/ladder.hpp"

namespace kiln::coordinator {

nlohmann::json job_json(const Job& j) {
  return {{"id", j.id},
          {"state", state_name(j.state)},
          {"status", mediaconvert_status(j.state)},
          {"priority", j.priority},
          {"queue", j.queue},
          {"attempt", j.attempt},
          {"maxAttempts", j.max_attempts},
          {"node", j.node},
          {"idempotencyKey", j.idempotency_key},
          {"spec", j.spec},
          {"inputInformation", j.input_info},
          {"progress", j.progress},
          {"output", j.output},
          {"errors", j.errors},
          {"cancelRequested", j.cancel_requested},
          {"createdAt", j.created_at},
          {"scheduledAt", j.scheduled_at},
          {"attemptedAt", j.attempted_at},
          {"finalizedAt", j.finalized_at}};
}

int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

Result<NewJob> parse_job_request(const nlohmann::json& body) {
  static const std::set<std::string> kFields = {"input", "output", "ladder", "segmentSeconds", "priority",
                                                "queue", "maxAttempts", "metadata", "backend", "device",
                                                "delaySeconds"};
  if (!body.is_object()) return Status(Code::kUsage, "the body must be a JSON object");
  for (const auto& [k, v] : body.items())
    if (!kFields.count(k)) return Status(Code::kUsage, fmt::format("unknown field '{}'", k));
  auto str = [&](const char* k) -> Result<std::string> {
    if (!body.contains(k)) return std::string();
    if (!body[k].is_string()) return Status(Code::kUsage, fmt::format("'{}' must be a string", k));
    return body[k].get<std::string>();
  };
  NewJob j;
  nlohmann::json spec;
  for (const char* k : {"input", "output"}) {
    auto v = str(k);
    if (!v) return v.status();
    if (v->empty()) return Status(Code::kUsage, fmt::format("'{}' is required", k));
    if (v->size() > 4096) return Status(Code::kUsage, fmt::format("'{}' is longer than 4096 bytes", k));
    spec[k] = *v;
  }
  auto ladder = str("ladder");
  if (!ladder) return ladder.status();
  if (!ladder->empty()) {
    auto selected = select_renditions(default_ladder(), *ladder);
    if (!selected) return Status(Code::kUsage, fmt::format("'ladder': {}", selected.status().message()));
  }
  spec["ladder"] = *ladder;
  if (body.contains("segmentSeconds")) {
    if (!body["segmentSeconds"].is_number() ||
        !(body["segmentSeconds"].get<double>() >= 1 && body["segmentSeconds"].get<double>() <= 60))
      return Status(Code::kUsage, "'segmentSeconds' must be a number from 1 to 60");
    spec["segmentSeconds"] = body["segmentSeconds"];
  }
  for (const char* k : {"backend", "device"}) {
    auto v = str(k);
    if (!v) return v.status();
    spec[k] = v->empty() && std::string(k) == "backend" ? "auto" : *v;
  }
  if (body.contains("metadata")) {
    if (!body["metadata"].is_object()) return Status(Code::kUsage, "'metadata' must be an object");
    spec["metadata"] = body["metadata"];
  }
  j.spec = spec;
  // Range first, as a double: get<int>() on 1e300 or 2^64 would wrap.
  auto integer = [&](const char* k, int lo, int hi, int* out) -> Status {
    if (!body.contains(k)) return Status::ok();
    const auto& v = body[k];
    double d = v.is_number() ? v.get<double>() : 0;
    if (!v.is_number_integer() || !(d >= lo && d <= hi))
      return Status(Code::kUsage, fmt::format("'{}' must be an integer from {} to {}", k, lo, hi));
    *out = static_cast<int>(d);
    return Status::ok();
  };
  KILN_RETURN_IF_ERROR(integer("priority", -50, 50, &j.priority));
  KILN_RETURN_IF_ERROR(integer("maxAttempts", 1, 25, &j.max_attempts));
  auto queue = str("queue");
  if (!queue) return queue.status();
  if (queue->size() > 128) return Status(Code::kUsage, "'queue' is longer than 128 bytes");
  if (!queue->empty()) j.queue = *queue;
  if (body.contains("delaySeconds")) {
    if (!body["delaySeconds"].is_number() ||
        !(body["delaySeconds"].get<double>() >= 0 && body["delaySeconds"].get<double>() <= kMaxDelaySeconds))
      return Status(Code::kUsage, fmt::format("'delaySeconds' must be a number from 0 to {} (30 days)", kMaxDelaySeconds));
    j.delay_seconds = body["delaySeconds"].get<double>();
  }
  return j;
}

}  // namespace kiln::coordinator
