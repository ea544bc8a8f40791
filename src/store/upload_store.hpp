#pragma once
// Console uploads (tus into a file location, presigned multipart into a bucket): the row that
// says where the bytes go, how many there will be, and which job the upload became. A view over
// a Db: not thread-safe, like the Db it uses.
//
// Exactly one job per upload: finishing takes the row from 'receiving' to 'checking' in one
// UPDATE (one request wins), and the job is submitted with the idempotency key "upload:ID".

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/status.hpp"
#include "store/db.hpp"

namespace kiln::store {

struct Upload {
  std::string id;
  std::string location;      // a [[location]] name
  std::string key;           // the file's path inside the location
  std::string filename;      // as the browser named it
  std::string filetype;      // as the browser said (checked again after the upload)
  int64_t length = 0;
  nlohmann::json spec;       // ladder, output location, metadata: the job to submit
  std::string state;         // receiving, checking, done, refused
  std::string s3_upload_id;  // bucket uploads: the multipart upload
  int64_t job_id = 0;
  std::string error;
  std::string expires_at;    // ISO 8601 (tus Upload-Expires is made from it)
  double expires_in_seconds = 0;
};

class UploadStore {
 public:
  explicit UploadStore(Db& db);

  /// Records a new upload with a fresh random id, expiring `expires_seconds` from now; "{id}" in
  /// its key and in spec["output"] becomes the id. Returns the row as stored.
  Result<Upload> create(Upload u, double expires_seconds);
  Result<std::optional<Upload>> get(const std::string& id);
  /// Sets the multipart upload id of a bucket upload.
  Status set_s3_upload_id(const std::string& id, const std::string& s3_upload_id);
  /// receiving -> checking. False if another request finished it first (or it is gone).
  Result<bool> begin_check(const std::string& id);
  /// checking -> done, with its job.
  Status finish(const std::string& id, int64_t job_id);
  /// -> refused, with the reason shown to the uploader.
  Status refuse(const std::string& id, const std::string& error);
  /// Deletes the row (termination). False if there was none.
  Result<bool> remove(const std::string& id);
  /// Takes up to `limit` unfinished uploads past their expiry out of the table and returns them
  /// (the caller deletes their bytes).
  Result<std::vector<Upload>> take_expired(int limit);

 private:
  Db& db_;
};

}  // namespace kiln::store
