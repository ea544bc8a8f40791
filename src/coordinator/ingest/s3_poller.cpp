#include "coordinator/ingest/s3_poller.hpp"

#include <fmt/format.h>

#include <thread>

#include "log.hpp"
#include "metrics/registry.hpp"
#include "store/db.hpp"
#include "store/ingest_store.hpp"

namespace kiln::coordinator::ingest {
namespace {

metrics::Counter& poll_failures(const std::string& rule) {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_ingest_poll_failures_total", "Bucket listings of a [[watch]] rule that failed (the store down, "
      "credentials, permissions), by rule.", {"rule"});
  return f.counter({rule});
}

metrics::Counter& passes(const std::string& rule) {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_ingest_poll_passes_total", "Complete listings of a [[watch]] rule's prefix, by rule.", {"rule"});
  return f.counter({rule});
}

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

S3Poller::S3Poller(const std::vector<WatchRule>& rules, const storage::Locations& locations, storage::S3Clients& clients,
                   const Ingestor& ingestor, int page_size)
    : locations_(locations), clients_(clients), ingestor_(ingestor), page_size_(page_size) {
  for (const auto& r : rules)
    if (r.s3 && r.poll_seconds > 0) rules_.push_back(&r);
}

Result<bool> S3Poller::poll(store::Db& db, const WatchRule& rule) {
  auto log = logger("ingest");
  store::IngestStore ledger(db);
  State& st = state_[rule.name];
  const storage::Location* loc = locations_.find(rule.location);
  auto client = clients_.client(rule.location);
  auto fail = [&](const Status& why) {
    poll_failures(rule.name).inc();
    st.failing = true;
    log->warn("rule {}: listing s3://{}/{}{} failed: {}; trying again in {} s", rule.name, loc->s3->bucket,
              loc->s3->prefix, rule.prefix, why.message(), rule.poll_seconds);
    return false;
  };
  if (!client) return fail(client.status());
  auto after = ledger.scan_after(rule.name);
  if (!after) return after.status();
  std::string start_after = after->empty() ? "" : loc->s3->key(*after);
  const std::string prefix = loc->s3->key(rule.prefix);
  for (int page_no = 0; page_no < kPagesPerRound; ++page_no) {
    auto page = (*client)->list_page(prefix, start_after, "", page_size_);
    if (!page) return fail(page.status());
    if (st.failing) {
      st.failing = false;
      log->info("rule {}: listing s3://{}/{} works again", rule.name, loc->s3->bucket, prefix);
    }
    std::vector<storage::s3::ObjectInfo> mine;
    std::vector<std::pair<std::string, std::string>> versions;
    for (auto& o : page->objects) {
      if (o.key.compare(0, loc->s3->prefix.size(), loc->s3->prefix) != 0) continue;
      std::string relative = o.key.substr(loc->s3->prefix.size());
      if (!rule.matches(relative) || o.etag.empty()) continue;
      versions.emplace_back(relative, o.etag);
      o.key = relative;
      mine.push_back(std::move(o));
    }
    auto fresh = ledger.unseen(rule.name, rule.location, versions);
    if (!fresh) return fresh.status();
    Ingestor::count_known(rule, "poll", versions.size() - fresh->size());
    for (size_t i : *fresh) {
      const auto& o = mine[i];
      auto offered = ingestor_.offer(db, rule, Upload{o.key, o.etag, static_cast<int64_t>(o.size), "poll"});
      if (!offered) return offered.status();
    }
    std::string last = page->objects.empty() ? "" : page->objects.back().key;
    if (!page->truncated || last.empty()) {
      KILN_RETURN_IF_ERROR(ledger.save_scan(rule.name, "", true));
      passes(rule.name).inc();
      return false;
    }
    KILN_RETURN_IF_ERROR(ledger.save_scan(rule.name, last.substr(loc->s3->prefix.size()), false));
    start_after = last;
  }
  return true;
}

Status S3Poller::round(store::Db& db, TimePoint now) {
  for (const WatchRule* rule : rules_) {
    State& st = state_[rule->name];
    if (now < st.due) continue;
    auto lead = store::IngestStore(db).hold_rule(rule->name);
    if (!lead) return lead.status();
    if (!*lead) {  // another coordinator polls it; look again next period
      st.due = now + seconds(rule->poll_seconds);
      continue;
    }
    auto more = poll(db, *rule);
    if (!more) return more.status();
    st.due = *more ? now : now + seconds(rule->poll_seconds);
  }
  return Status::ok();
}

S3Poller::TimePoint S3Poller::next_due() const {
  TimePoint next = TimePoint::max();
  for (const WatchRule* rule : rules_) {
    auto it = state_.find(rule->name);
    next = std::min(next, it == state_.end() ? TimePoint{} : it->second.due);
  }
  return next;
}

void S3Poller::run(const std::string& database_url, const std::atomic<bool>& stop) {
  if (rules_.empty()) return;
  std::unique_ptr<store::Db> db;
  while (!stop.load()) {
    if (!db) {
      auto c = store::Db::connect(database_url);
      if (c) db = std::move(c).value();
      else logger("ingest")->warn("bucket polling: {}", c.status().message());
    }
    if (db) {
      auto st = round(*db, std::chrono::steady_clock::now());
      if (!st.is_ok()) {
        logger("ingest")->warn("bucket polling: {}; connecting again", st.message());
        db.reset();
      }
    }
    // Sleep until the next rule is due (in short naps, to see `stop`).
    auto until = db ? std::min(next_due(), std::chrono::steady_clock::now() + std::chrono::seconds(5))
                    : std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!stop.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace kiln::coordinator::ingest
