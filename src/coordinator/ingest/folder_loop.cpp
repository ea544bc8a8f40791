#include "coordinator/ingest/folder_loop.hpp"

#include <poll.h>

#include <algorithm>
#include <thread>

#include "log.hpp"
#include "store/db.hpp"
#include "store/ingest_store.hpp"

namespace kiln::coordinator::ingest {
namespace {

constexpr auto kLeaderCheck = std::chrono::seconds(1);  // how often a rule's lock is looked at
constexpr auto kMaxWait = std::chrono::milliseconds(250);  // so `stop` is seen

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

FolderLoop::FolderLoop(const std::vector<WatchRule>& rules, const storage::Locations& locations,
                       const Ingestor& ingestor)
    : ingestor_(ingestor) {
  for (const auto& r : rules) {
    if (r.s3) continue;
    const storage::Location* loc = locations.find(r.location);
    if (!loc) continue;
    watchers_.push_back({&r, std::make_unique<FolderWatcher>(r, loc->root)});
  }
}

Status FolderLoop::turn(store::Db& db, TimePoint now) {
  for (auto& w : watchers_) {
    if (now >= w.lead_checked + kLeaderCheck) {
      auto lead = store::IngestStore(db).hold_rule(w.rule->name);
      if (!lead) return lead.status();
      w.lead_checked = now;
      if (w.leading && !*lead) {
        logger("ingest")->warn("rule {}: another coordinator watches this folder now", w.rule->name);
        w.watcher->stop();
      }
      w.leading = *lead;
    }
    if (!w.leading) continue;
    if (!w.watcher->started()) {
      if (now < w.retry_start) continue;
      if (!w.watcher->start(now)) {
        w.retry_start = now + seconds(w.rule->poll_seconds);
        continue;
      }
    }
    w.watcher->refresh(now);
    auto ready = w.watcher->take_ready(now);
    for (size_t i = 0; i < ready.size(); ++i) {
      const auto& [key, state] = ready[i];
      auto offered = ingestor_.offer(db, *w.rule, Upload{key, file_version(state.size, state.mtime_ns), state.size, "watch"});
      if (!offered) {
        for (size_t j = i; j < ready.size(); ++j) w.watcher->untake(ready[j].first);  // offered again later
        return offered.status();
      }
    }
  }
  return Status::ok();
}

void FolderLoop::wait(TimePoint until) const {
  auto now = std::chrono::steady_clock::now();
  for (const auto& w : watchers_)
    if (w.leading && w.watcher->started()) until = std::min(until, w.watcher->next_wake(now));
  until = std::min(until, now + kMaxWait);
  std::vector<pollfd> fds;
  for (const auto& w : watchers_)
    if (w.watcher->fd() >= 0) fds.push_back({w.watcher->fd(), POLLIN, 0});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
  if (ms <= 0) return;
  if (fds.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  else ::poll(fds.data(), fds.size(), static_cast<int>(ms));
}

void FolderLoop::run(const std::string& database_url, const std::atomic<bool>& stop) {
  if (watchers_.empty()) return;
  std::unique_ptr<store::Db> db;
  while (!stop.load()) {
    auto now = std::chrono::steady_clock::now();
    if (!db) {
      auto c = store::Db::connect(database_url);
      if (c) db = std::move(c).value();
      else logger("ingest")->warn("watch folders: {}", c.status().message());
    }
    if (db) {
      auto st = turn(*db, now);
      if (!st.is_ok()) {
        logger("ingest")->warn("watch folders: {}; connecting again", st.message());
        db.reset();
        // The rule locks went with the connection: watch again only once they are held again.
        for (auto& w : watchers_) {
          w.leading = false;
          w.lead_checked = {};
          w.watcher->stop();
        }
      }
    }
    wait(db ? now + kLeaderCheck : std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
}

}  // namespace kiln::coordinator::ingest
