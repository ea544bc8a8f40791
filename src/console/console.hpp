#pragma once
// The web console, served by the coordinator: pages (one HTML shell whose ES modules render
// each page), its assets, sessions, the tus upload server, bucket uploads, the live job list
// and output files. install() adds it all to an ApiServer and starts the console's chore
// (expired uploads and sessions); the returned object stops the chore when destroyed.
//
//   GET /console/sign-in                       the sign-in page (no session needed)
//   GET /console/{,jobs,jobs/ID,upload,nodes}  pages: 303 to /console/sign-in without a session
//   GET /console/assets/PATH                   ES modules, CSS, hls.js, dash.js (ETag, caching)
//   GET /console/settings                      what the upload form offers (read scope)
// Routes of the API it adds: console/session.hpp, console/tus.hpp, console/live.hpp,
// console/s3_upload.hpp.

#include <atomic>
#include <memory>

#include "coordinator/api.hpp"

namespace kiln::console {

/// Adds the console to `api` unless [console] enabled = false (then nullptr).
std::shared_ptr<void> install(coordinator::ApiServer& api, const std::atomic<bool>& stop);

/// One round of the console's chore: expired unfinished uploads (rows and bytes) and expired
/// sessions are deleted. Returns how many uploads expired.
int expire_uploads(coordinator::ApiServer& api);

}  // namespace kiln::console
