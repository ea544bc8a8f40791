#include "coordinator/job_submission.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "log.hpp"

#include "coordinator/job_json.hpp"

namespace kiln::coordinator {
namespace {

/// Why a new job may not publish to `output`: something is there already. Only the job that
/// published an output may replace it (the node's result.json marker rule); a new job has no
/// output yet, so any existing entry, a symlink included, refuses it. nullopt: free.
std::optional<std::string> existing_output(const std::string& output) {
  std::error_code ec;
  auto st = std::filesystem::symlink_status(output, ec);
  if (ec || !std::filesystem::exists(st)) return std::nullopt;
  if (std::filesystem::exists(std::filesystem::path(output) / "result.json"))
    return fmt::format("output '{}' holds another job's published output; remove it or name another", output);
  return fmt::format("output '{}' exists and is not a Kiln output; name a new directory", output);
}

/// The same for an output in a bucket: a new job's output folder must hold no object at all.
/// A Status when the bucket cannot be listed.
Result<std::optional<std::string>> existing_s3_output(storage::S3Clients& clients, const std::string& output) {
  auto opened = clients.open(output);
  if (!opened) return opened.status();
  const std::string prefix = opened->object.key + "/";
  auto listed = opened->client->list(prefix, 1);
  if (!listed) return listed.status();
  if (listed->empty()) return std::optional<std::string>();
  return std::optional<std::string>(
      fmt::format("output '{}' already holds objects ('{}'); a new job never replaces them: remove them or name another",
                  output, listed->front().key.substr(prefix.size())));
}

}  // namespace

Prepared prepare_job(const nlohmann::json& body, const storage::Locations& locations, storage::S3Clients& s3,
                     const std::string& idempotency_key) {
  Prepared p;
  auto job = parse_job_request(body);
  if (!job) {
    p.refusal = Refusal{400, "invalid_spec", job.status().message()};
    return p;
  }
  // Paths only inside storage locations, resolved here (symlinks followed) so the row names
  // the real paths; the node checks them again before it touches a file.
  auto paths = locations.resolve_job(job->spec["input"].get<std::string>(), job->spec["output"].get<std::string>());
  if (!paths) {
    p.refusal = Refusal{400, "path_not_allowed", paths.status().message()};
    return p;
  }
  job->spec["input"] = paths->input;
  job->spec["output"] = paths->output;
  if (storage::is_s3_url(paths->output)) {
    auto existing = existing_s3_output(s3, paths->output);
    if (!existing) {
      logger("api")->warn("cannot check output {} at submit: {}", paths->output, existing.status().message());
      p.refusal = Refusal{503, "storage_unavailable",
                          fmt::format("cannot check whether output '{}' is free: object storage answered {}; try "
                                      "again, or ask the operator (the coordinator's log says more)",
                                      paths->output, code_name(existing.status().code()))};
      return p;
    }
    if (*existing) {
      p.refusal = Refusal{400, "output_exists", **existing};
      return p;
    }
  } else if (auto existing = existing_output(paths->output)) {
    p.refusal = Refusal{400, "output_exists", *existing};
    return p;
  }
  if (idempotency_key.size() > 256) {
    p.refusal = Refusal{400, "invalid_idempotency_key", "Idempotency-Key is longer than 256 bytes"};
    return p;
  }
  job->idempotency_key = idempotency_key;
  if (auto place = locations.locate(paths->input)) {
    job->input_location = place->location;
    job->input_key = place->key;
  }
  p.job = std::move(job).value();
  return p;
}

std::optional<Refusal> refusal_of(const store::JobStore::Submitted& r, const NewJob& job) {
  if (r.output_busy)
    return Refusal{409, "output_busy", fmt::format("job {} ({}) is already writing output '{}'", r.job.id,
                                                   state_name(r.job.state), job.spec.value("output", ""))};
  if (r.conflict)
    return Refusal{409, "idempotency_conflict", fmt::format("Idempotency-Key '{}' belongs to job {} with a different spec",
                                                            job.idempotency_key, r.job.id)};
  return std::nullopt;
}

}  // namespace kiln::coordinator
