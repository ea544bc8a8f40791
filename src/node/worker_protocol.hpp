#pragma once
// The node <-> worker protocol. The node starts one `kiln worker` process per job and talks to
// it over two pipes, one JSON object per line:
//   node -> worker (the worker's stdin):   {"type":"job",...} first, then {"type":"placed",...}
//                                          as the answer to "place?" and {"type":"publish","ok":B}
//                                          as the answer to each "publish?" request
//   worker -> node (the worker's fd 3):    progress, input, place? (once the ladder is planned),
//                                          device, strike, publish?, counters (what it counted:
//                                          a worker serves no /metrics), then exactly one of
//                                          result / error
// Plain data and pure functions: no I/O here, so both ends and the tests share one definition.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/backend.hpp"
#include "kiln/ladder.hpp"
#include "kiln/node_config.hpp"
#include "kiln/pipeline.hpp"
#include "kiln/status.hpp"
#include "metrics/registry.hpp"
#include "storage/location.hpp"

namespace kiln::node::worker {

/// The fd the worker writes its reports to (stdin carries the job and the answers).
constexpr int kReportFd = 3;
/// A longer line is a protocol error (the worker is killed): bounds the node's memory.
constexpr size_t kMaxLineBytes = 4 << 20;

/// What the node tells a worker: the job, and the node's view it must schedule against.
struct JobMessage {
  int64_t id = 0;
  int attempt = 1;
  nlohmann::json spec;                    // the jobs row's spec, as claimed
  std::vector<Device> devices;            // the node's discovered devices
  NodeConfig config;                      // device rules, caps, strikes, scratch_dir, lease_seconds
                                          // (not the database url)
  std::vector<std::string> quarantined;   // "backend:id" keys the node has quarantined
  storage::Locations locations;           // the node's [[location]]s: how s3:// paths are reached
};

nlohmann::json encode_job(const JobMessage& job);
/// kInternal naming the missing or mistyped field on a malformed message.
Result<JobMessage> decode_job(const nlohmann::json& j);

/// One report from the worker.
struct Report {
  enum class Kind { kProgress, kInput, kPlaceRequest, kDevice, kStrike, kPublishRequest, kCounters, kResult, kError };
  Kind kind = Kind::kProgress;
  Progress progress;                      // kProgress
  nlohmann::json input_details;           // kInput: MediaConvert's inputDetails entry
  double input_duration_seconds = 0;      // kInput
  DeviceDemand demand;                    // kPlaceRequest
  std::string device_backend, device_id;  // kDevice, and kStrike's key is backend:id
  int sessions = 0;                       // kDevice
  bool running = false;                   // kDevice
  std::string strike_key, reason;         // kStrike
  nlohmann::json output;                  // kResult: result_json() of the TranscodeResult
  std::string backend;                    // kResult
  std::vector<std::string> fallbacks;     // kResult
  Status status;                          // kError (never ok)
  std::vector<metrics::CounterSample> counters;  // kCounters
};

/// Counters a worker may hand to its node (the worker runs untrusted media: the node takes
/// only these names, at most kMaxCounterSamples of them, label values up to 128 bytes).
inline constexpr const char* kForwardedCounters[] = {
    "kiln_s3_retries_total",          "kiln_s3_download_resumes_total", "kiln_s3_multipart_aborts_total",
    "kiln_s3_cleanup_failures_total", "kiln_fallbacks_total",   "kiln_inputs_streamed_total",
};
constexpr size_t kMaxCounterSamples = 64;

/// Each returns one line, newline included.
std::string progress_line(const Progress& p);
std::string input_line(const nlohmann::json& details, double duration_seconds);
std::string device_line(const Device& d, int sessions, bool running);
std::string strike_line(const std::string& key, const std::string& reason);
std::string place_request_line(const DeviceDemand& demand);
std::string publish_request_line();
std::string result_line(const nlohmann::json& output, const std::string& backend,
                        const std::vector<std::string>& fallbacks);
std::string error_line(const Status& status);
std::string publish_answer_line(bool ok);
/// The worker's counters of kForwardedCounters, for the node to add to its own.
std::string counters_line(const std::vector<metrics::CounterSample>& samples);
/// The node's answer to "place?": where the job goes, or why it cannot run now (kBusy).
std::string place_answer_line(const Result<DevicePlacement>& placed);

/// Parses one report line (without its newline). kInternal on anything malformed; a counters
/// report keeps only what kForwardedCounters and the bounds allow.
Result<Report> decode_report(std::string_view line);
/// Parses the node's answer to "publish?". kInternal on anything malformed.
Result<bool> decode_publish_answer(std::string_view line);
/// Parses the node's answer to "place?": the placement, or the node's refusal as a Status.
/// kInternal on anything malformed.
Result<DevicePlacement> decode_place_answer(std::string_view line);

/// The code whose code_name() is `name`; kInternal for a name no code has.
Code code_from_name(std::string_view name);

/// Splits a byte stream into lines. Not thread-safe; one per pipe.
class LineSplitter {
 public:
  /// Appends bytes; complete lines are returned in order. kInternal once a line passes
  /// kMaxLineBytes without a newline.
  Result<std::vector<std::string>> feed(std::string_view bytes);
  /// Bytes after the last newline (a worker that died mid-line leaves some).
  const std::string& pending() const { return buffer_; }

 private:
  std::string buffer_;
};

/// The ladder a job spec asks for ("ladder": "720p,480p", "segmentSeconds"): the node checks
/// it before starting a worker, and the worker builds its request from it.
Result<Ladder> ladder_from_spec(const nlohmann::json& spec);

}  // namespace kiln::node::worker
