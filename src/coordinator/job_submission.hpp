#pragma once
// What POST /v1/jobs does with a job spec before and after the store, shared by the API and by
// ingest (src/coordinator/ingest/), so a job made from an upload goes through exactly the checks
// and location resolution a submitted one does.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kiln/job.hpp"
#include "storage/location.hpp"
#include "storage/s3_clients.hpp"
#include "store/job_store.hpp"

namespace kiln::coordinator {

/// Why a job was not made: the API's HTTP status, error code and a message a user can act on.
struct Refusal {
  int http = 400;
  std::string code;  // invalid_spec, path_not_allowed, output_exists, storage_unavailable (503), output_busy,
                     // idempotency_conflict
  std::string message;

  /// "code: message", as ingest records it.
  std::string text() const { return code + ": " + message; }
};

/// A POST /v1/jobs body made ready for the store: validated (parse_job_request), its input and
/// output resolved inside `locations` (the row keeps the resolved paths, and the input's
/// location and key for GET /v1/jobs filters), the output checked to be free (on disk, or in its
/// bucket through `s3`: a 503 storage_unavailable when the bucket cannot be listed), and the
/// idempotency key checked. Pure apart from those lookups; thread-safe.
struct Prepared {
  NewJob job;
  std::optional<Refusal> refusal;  // set: `job` is not to be submitted
};
Prepared prepare_job(const nlohmann::json& body, const storage::Locations& locations, storage::S3Clients& s3,
                     const std::string& idempotency_key);

/// The store's refusals of a submission: another live job writes the output, or the
/// idempotency key belongs to a live job with another spec. nullopt: accepted.
std::optional<Refusal> refusal_of(const store::JobStore::Submitted& submitted, const NewJob& job);

}  // namespace kiln::coordinator
