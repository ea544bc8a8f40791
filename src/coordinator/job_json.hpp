#pragma once
// Jobs and job specs as the HTTP API shows and takes them.

#include <nlohmann/json.hpp>
#include <string>

#include "kiln/job.hpp"
#include "kiln/status.hpp"

namespace kiln::coordinator {

/// The API's view of a job: internal state beside the MediaConvert status.
nlohmann::json job_json(const Job& job);

/// Validates a POST /v1/jobs body and turns it into a NewJob. kUsage names the field.
Result<NewJob> parse_job_request(const nlohmann::json& body);

}  // namespace kiln::coordinator
