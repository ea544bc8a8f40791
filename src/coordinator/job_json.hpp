#pragma once
// Jobs and job specs as the HTTP API shows and takes them.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "kiln/job.hpp"
#include "kiln/status.hpp"

namespace kiln::coordinator {

/// The API's view of a job: internal state beside the MediaConvert status.
nlohmann::json job_json(const Job& job);

/// The longest delay a submission may ask for.
inline constexpr double kMaxDelaySeconds = 30 * 86400;
/// The deepest the JSON request body may nest before it is parsed.
inline constexpr int kMaxJsonDepth = 16;

/// How deep `text` nests objects and arrays (a cheap scan, run before parsing).
int json_depth(std::string_view text);

/// Validates a POST /v1/jobs body and turns it into a NewJob. kUsage names the field.
Result<NewJob> parse_job_request(const nlohmann::json& body);

}  // namespace kiln::coordinator
