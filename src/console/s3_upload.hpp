#pragma once
// Uploads into a bucket location: the browser sends the parts straight to the bucket with
// presigned UploadPart URLs, so the bytes never pass through the coordinator.
//
//   POST   /v1/uploads/s3               {filename, filetype, size, ladder?, output?, metadata?}
//                                       -> 201 {id, partSize, parts: [{partNumber, url}], expiresAt}
//   POST   /v1/uploads/s3/{id}/complete {etags: [...]} -> completes the multipart upload, checks
//                                       the object's size, and submits exactly one job
//   DELETE /v1/uploads/s3/{id}          aborts the multipart upload
// All need a submit scope. The bucket needs a CORS rule allowing PUT from the console's origin
// and exposing ETag (README). The media check of a bucket upload happens in the job's worker,
// when the node reads the object.

#include <string>

#include "coordinator/api.hpp"
#include "store/upload_store.hpp"

namespace kiln::console {

void add_bucket_upload_routes(coordinator::ApiServer& api);

/// "scheme://host[:port]" the browser PUTs parts to for a bucket location (for the CSP).
std::string bucket_origin(coordinator::ApiServer& api, const storage::Location& location);

/// Aborts a bucket upload's multipart upload, if it has one (expired uploads).
void abort_bucket_upload(coordinator::ApiServer& api, const store::Upload& u);

}  // namespace kiln::console
