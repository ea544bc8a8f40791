#pragma once
// The tus resumable-upload protocol 1.0.0 (core, creation, termination, expiration) at
// /v1/uploads, into the console's upload location (a file location). The bytes go to
// LOCATION/PREFIX<id>/<name>.part, whose size is the upload's offset, so any coordinator that
// sees the same filesystem can resume an upload another one began; a PATCH holds an flock on
// the file, so two PATCHes of one upload never interleave. The last byte hands the upload to
// finish_file_upload (probe, then exactly one job).
//
//   OPTIONS /v1/uploads            Tus-Version, Tus-Extension, Tus-Max-Size (no token needed)
//   POST    /v1/uploads            creation: Upload-Length, Upload-Metadata (filename, filetype,
//                                  ladder, output, metadata) -> 201 Location, Upload-Expires
//   HEAD    /v1/uploads/{id}       Upload-Offset, Upload-Length, Upload-Expires (Kiln-Job-Id once done)
//   GET     /v1/uploads/{id}       the upload as JSON (state, offset, job, refusal)
//   PATCH   /v1/uploads/{id}       Upload-Offset + application/offset+octet-stream body -> 204
//                                  (the last one: 204 with Kiln-Job-Id, or 415/4xx with the refusal)
//   DELETE  /v1/uploads/{id}       termination: the bytes and the row are gone -> 204
// POST, PATCH and DELETE need a submit scope (a token, or a session with its CSRF header).

#include <string>

#include "coordinator/api.hpp"
#include "storage/location.hpp"

namespace kiln::console {

/// Where the upload location's files go; null location when there is no usable file location.
struct UploadPlace {
  const storage::Location* location = nullptr;
  std::string why_not;  // set when location is null
};
UploadPlace upload_place(const coordinator::Config& config);

/// Adds the tus routes.
void add_tus_routes(coordinator::ApiServer& api);

/// Deletes the bytes of a file upload (its .part or finished file and its directory).
void remove_upload_files(const coordinator::Config& config, const std::string& location, const std::string& key);

}  // namespace kiln::console
