#pragma once
// The job result as JSON, shaped like a MediaConvert "Job State Change" COMPLETE event so
// tooling written for MediaConvert notifications can read it.

#include <nlohmann/json.hpp>

#include "kiln/pipeline.hpp"

namespace kiln::pipeline {

nlohmann::json result_json(const TranscodeResult& result);
/// MediaConvert's inputDetails entry for a probed input.
nlohmann::json input_details(const MediaInfo& input);
/// The ERROR event for a failed job.
nlohmann::json error_json(const std::string& input, const Status& status);

}  // namespace kiln::pipeline
