#include "coordinator/ingest/ingest_service.hpp"

#include <functional>

#include "log.hpp"

namespace kiln::coordinator::ingest {
namespace {

/// A loop's top: an exception (a bug, a library surprise) is logged and the loop starts again
/// a second later, until `stop`.
void guarded(const char* what, const std::atomic<bool>& stop, const std::function<void()>& loop) {
  while (!stop.load()) {
    try {
      loop();
      return;
    } catch (const std::exception& e) {
      logger("ingest")->error("{}: {}; starting it again in a second", what, e.what());
    } catch (...) {
      logger("ingest")->error("{}: unknown exception; starting it again in a second", what);
    }
    for (int i = 0; i < 20 && !stop.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

IngestService::IngestService(const Config& config)
    : config_(config),
      clients_(config.locations),
      ingestor_(config.locations, clients_),
      intake_(config.watches, config.locations, ingestor_),
      actions_(config.locations, clients_),
      poller_(config.watches, config.locations, clients_, ingestor_),
      folders_(config.watches, config.locations, ingestor_),
      outcomes_(config.watches, actions_, store::DeliveryPolicy{config.delivery_max_attempts, config.delivery_retry_seconds}) {}

IngestService::~IngestService() { join(); }

void IngestService::start(const std::atomic<bool>& stop) {
  if (empty()) return;
  auto log = logger("ingest");
  int s3 = 0, folders = 0;
  for (const auto& r : config_.watches) (r.s3 ? s3 : folders)++;
  log->info("{} [[watch]] rule(s): {} on buckets, {} on folders", config_.watches.size(), s3, folders);
  const std::string url = config_.database_url;
  if (!poller_.empty())
    threads_.emplace_back([this, &stop, url] { guarded("bucket polling", stop, [&] { poller_.run(url, stop); }); });
  if (!folders_.empty())
    threads_.emplace_back([this, &stop, url] { guarded("watch folders", stop, [&] { folders_.run(url, stop); }); });
  threads_.emplace_back([this, &stop, url] {
    guarded("ingest actions", stop, [&] { outcomes_.run(url, config_.delivery_interval_seconds, stop); });
  });
}

void IngestService::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace kiln::coordinator::ingest
