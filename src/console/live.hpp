#pragma once
// What the console reads besides the plain API:
//   GET /v1/jobs/live              Server-Sent Events: `snapshot` (the newest jobs), then a `job`
//                                  event with the whole job each time one changes (LISTEN
//                                  kiln_job_changes: a trigger NOTIFYs on state, progress,
//                                  node, attempt, output, errors, cancel). No polling.
//   GET /v1/queue                  jobs by state (the queue depth)
//   GET /v1/jobs/{id}/files/PATH   a file of the job's published output (manifests, segments,
//                                  result.json), confined to the output directory
// All need a read scope. The stream counts against [api] max_streams.

#include "coordinator/api.hpp"

namespace kiln::console {

void add_live_routes(coordinator::ApiServer& api);

}  // namespace kiln::console
