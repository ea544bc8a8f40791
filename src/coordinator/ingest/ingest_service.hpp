#pragma once
// Ingest in a coordinator: the [[watch]] rules' parts, made once and wired together, and the
// threads of its loops (bucket polling, watch folders, after-job actions). The API takes
// events through intake(). Nothing runs, and no thread starts, when there are no rules.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/config.hpp"
#include "coordinator/ingest/event_intake.hpp"
#include "coordinator/ingest/folder_loop.hpp"
#include "coordinator/ingest/ingestor.hpp"
#include "coordinator/ingest/outcome_loop.hpp"
#include "storage/s3_clients.hpp"
#include "coordinator/ingest/s3_poller.hpp"
#include "coordinator/ingest/source_actions.hpp"

namespace kiln::coordinator::ingest {

class IngestService {
 public:
  /// `config` must outlive the service.
  explicit IngestService(const Config& config);
  ~IngestService();  // joins the threads (set `stop` first)

  bool empty() const { return config_.watches.empty(); }
  /// For the API: null when there are no rules.
  const EventIntake* intake() const { return empty() ? nullptr : &intake_; }

  /// Starts the loops, each on a thread that runs until `stop` (an exception in one is logged
  /// and the loop starts again a second later).
  void start(const std::atomic<bool>& stop);
  void join();

 private:
  const Config& config_;
  storage::S3Clients clients_;
  Ingestor ingestor_;
  EventIntake intake_;
  SourceActions actions_;
  S3Poller poller_;
  FolderLoop folders_;
  OutcomeLoop outcomes_;
  std::vector<std::thread> threads_;
};

}  // namespace kiln::coordinator::ingest
