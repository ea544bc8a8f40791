#pragma once
// The job result as JSON, shaped like a MediaConvert "Job State Change" COMPLETE event so
// tooling written for MediaConvert notifications can read it.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/pipeline.hpp"

namespace kiln::pipeline {

/// With `kilnJob: {id, attempt}` when the result belongs to a queued job (the publish marker).
nlohmann::json result_json(const TranscodeResult& result);

/// Who published an output directory: its result.json's kilnJob marker. nullopt when there is no
/// result.json, or it has no marker (a `kiln transcode` output, or not Kiln's at all). result.json
/// is written before the atomic publish, so a marker means the output is complete.
struct OutputOwner {
  int64_t job_id = 0;
  int attempt = 0;
  nlohmann::json result;  // the whole result.json: what the job completed with
};
std::optional<OutputOwner> output_owner(const std::string& output_dir);
/// The same from the text of a result.json (an object-store output's, fetched by the caller).
std::optional<OutputOwner> parse_output_owner(std::string_view result_json_text);
/// The recipe as the result reports it: a "zero-copy: ..." recipe keeps that name only when the
/// frames stayed on the device from decoder to encoder (device frames out of the decoder, no
/// scaler in system memory, a hardware encoder); otherwise it says where they left.
std::string recipe_label(const std::string& variant, bool device_decoded, bool cpu_scaled, bool hw_encoder);

/// MediaConvert's inputDetails entry for a probed input.
nlohmann::json input_details(const MediaInfo& input);
/// An image job's inputDetails entry (input.image set) and its IMAGE_GROUP output group
/// (image_result_json.cpp); input_details() and result_json() use them for an image job.
nlohmann::json image_input_details(const MediaInfo& input);
nlohmann::json image_output_group(const TranscodeResult& result);

/// The ERROR event for a failed job.
nlohmann::json error_json(const std::string& input, const Status& status);

}  // namespace kiln::pipeline
