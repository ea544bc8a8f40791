#pragma once
// A finished upload becomes exactly one job: the row goes receiving -> checking in one UPDATE
// (one request wins), the file is checked (size, then `kiln probe` in a child process), and the
// job is submitted with the idempotency key "upload:ID". A refused file is deleted and the row
// keeps the probe's message for the uploader. Shared by the tus server and bucket uploads.

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/api.hpp"
#include "coordinator/job_submission.hpp"
#include "kiln/job.hpp"
#include "store/upload_store.hpp"

namespace kiln::console {

/// What to answer the request that finished (or asked about) an upload.
struct Finished {
  int http = 200;           // 200/201 done, 409 being checked, 4xx refused, 503 database
  int64_t job_id = 0;
  nlohmann::json body;      // the upload as JSON (uploadJson), or {"error": ...}
};

/// The upload as the console shows it.
nlohmann::json upload_json(const store::Upload& u, int64_t offset);

/// The job an upload becomes (input: `input_ref`), made by the same prepare_job() POST /v1/jobs
/// and ingest use (spec checked, paths resolved inside the locations, output free), with the
/// idempotency key "upload:ID".
coordinator::Prepared job_for_upload(coordinator::ApiServer& api, const store::Upload& u, const std::string& input_ref);

/// Finishes a file upload whose last byte has arrived at `part_path` (the .part file).
Finished finish_file_upload(coordinator::ApiServer& api, const store::Upload& u, const std::string& part_path,
                            const std::string& final_path);

/// Submits the job of an upload already checked (bucket uploads: the object is in the bucket)
/// and marks the upload done. `input_ref` is what the job reads.
Finished submit_upload_job(coordinator::ApiServer& api, const store::Upload& u, const std::string& input_ref);

/// The types an upload may declare ("video/*" is a prefix), and the extensions that let one
/// through with no type (or application/octet-stream). The console's page gets both, so the
/// browser refuses what the server would.
const std::vector<std::string>& upload_types();
const std::vector<std::string>& upload_extensions();

/// Why a file type the browser declared is not one an upload may have; "" if it may.
std::string refuse_type(const std::string& filetype, const std::string& filename);

/// A file name made safe to store: [A-Za-z0-9._ -] kept, anything else '_', no leading dot.
std::string safe_filename(const std::string& name);

}  // namespace kiln::console
