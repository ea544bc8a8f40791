#pragma once
// The coordinator's HTTP API (cpp-httplib): jobs, nodes, devices, events (SSE), health,
// metrics, and S3 event notifications for ingest. Bearer tokens on everything but /healthz and
// /readyz.

#include <memory>
#include <string>

#include "coordinator/config.hpp"
#include "kiln/status.hpp"

namespace kiln::store {
class StorePool;
}

namespace kiln::coordinator {

namespace ingest {
class EventIntake;
}

class ApiServer {
 public:
  /// `intake` (may be null: no [[watch]] rules) serves POST /v1/ingest/s3-events; it must
  /// outlive the server.
  ApiServer(const Config& config, store::StorePool& pool, const ingest::EventIntake* intake = nullptr);
  ~ApiServer();
  /// Binds the listening socket; returns the port (useful with port 0).
  Result<int> bind();
  /// Serves until stop(). Blocks.
  void serve();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::coordinator
