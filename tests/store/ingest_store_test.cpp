// The ingest ledger against a real PostgreSQL (the throwaway cluster): one job per upload
// version whatever the concurrency, refusals with their outbox event, the listing cursor, the
// per-rule leader lock, and the GET /v1/jobs filters served by their indexes.

#include "store/ingest_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include <pqxx/pqxx>

#include "store/job_store.hpp"

namespace kiln::store {
namespace {

std::string cluster_url() {
  std::ifstream in(KILN_PG_URL_FILE);
  std::string url;
  std::getline(in, url);
  return url;
}

class IngestStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    name_ = "kiln_ingest_" + std::to_string(rd()) + std::to_string(rd());
    admin("CREATE DATABASE " + name_);
    url_ = cluster_url();
    url_ = url_.substr(0, url_.rfind('/') + 1) + name_;
    conn_ = connect();
    ASSERT_TRUE(conn_);
    ASSERT_TRUE(conn_->migrate().is_ok());
  }
  void TearDown() override {
    conn_.reset();
    try {
      admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
    }
  }
  static void admin(const std::string& q) {
    pqxx::connection c(cluster_url());
    pqxx::nontransaction tx(c);
    tx.exec(q);
  }
  std::unique_ptr<Db> connect() {
    auto s = Db::connect(url_);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? std::move(s).value() : nullptr;
  }
  pqxx::result sql(const std::string& q) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    return tx.exec(q);
  }
  int64_t count(const std::string& q) { return sql(q)[0][0].as<int64_t>(); }

  static NewJob job_for(const Sighting& s) {
    NewJob j;
    j.spec = {{"input", "/srv/" + s.key}, {"output", "/out/" + s.key + "-" + s.version}};
    j.input_location = s.location;
    j.input_key = s.key;
    return j;
  }
  static std::optional<std::string> accept(const JobStore::Submitted&) { return std::nullopt; }

  std::string name_, url_;
  std::unique_ptr<Db> conn_;
};

TEST_F(IngestStoreTest, OneJobPerVersionWhateverTheConcurrency) {
  Sighting s{"uploads", "inbox", "a.mp4", "etag-1", 10, "event"};
  // Eight triggers at once (events redelivered, a poll, another coordinator), each on its own
  // connection: one writes the row and the job, the others find the row.
  std::atomic<int> fresh{0}, jobs{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto db = Db::connect(url_);
      if (!db) return (void)failed++;
      Sighting mine = s;
      mine.trigger = i % 2 ? "event" : "poll";
      auto r = IngestStore(**db).record_job(mine, job_for(s), accept);
      if (!r) return (void)failed++;
      fresh += r->fresh;
      jobs += r->job.has_value();
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(fresh.load(), 1);
  EXPECT_EQ(jobs.load(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM kiln_jobs"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM kiln_ingest_ledger"), 1);
  IngestStore ledger(*conn_);
  EXPECT_TRUE(*ledger.seen(s));
  // The same key with a new ETag (the object was replaced) is a new upload: a second job.
  Sighting replaced = s;
  replaced.version = "etag-2";
  EXPECT_FALSE(*ledger.seen(replaced));
  auto r = ledger.record_job(replaced, job_for(replaced), accept);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_TRUE(r->fresh);
  ASSERT_TRUE(r->job);
  EXPECT_EQ(count("SELECT count(*) FROM kiln_jobs"), 2);
  auto entry = ledger.by_job(r->job->id);
  ASSERT_TRUE(entry && *entry);
  EXPECT_EQ((*entry)->sighting.version, "etag-2");
  EXPECT_EQ((*entry)->outcome, "job");
  // The job row knows where its input is, for GET /v1/jobs?inputLocation=&inputKey=.
  EXPECT_EQ(count("SELECT count(*) FROM kiln_jobs WHERE input_location = 'inbox' AND input_key = 'a.mp4'"), 2);
}

TEST_F(IngestStoreTest, ARefusalIsRecordedOnceWithAnEventAndNoJob) {
  IngestStore ledger(*conn_);
  Sighting s{"uploads", "inbox", "bad.mp4", "v", 0, "poll"};
  auto r = ledger.record_refusal(s, "path_not_allowed: input 'inbox:bad.mp4': not for jobs yet");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->fresh);
  EXPECT_FALSE(r->job);
  auto again = ledger.record_refusal(s, "path_not_allowed: again");
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->fresh);
  EXPECT_EQ(count("SELECT count(*) FROM kiln_events WHERE kind = 'ingest_refused' AND job_id IS NULL AND "
                  "payload->>'key' = 'bad.mp4' AND payload->>'reason' LIKE 'path_not_allowed:%'"), 1);
  auto rows = ledger.entries("uploads");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].outcome, "refused");

  // The store's own refusal (another live job writes the output) in the ledger's transaction:
  // the row says refused, and no job was made.
  Sighting first{"uploads", "inbox", "x.mp4", "v1", 1, "event"}, second{"uploads", "inbox", "x.mov", "v1", 1, "event"};
  NewJob a = job_for(first), b = job_for(first);  // both write one output
  ASSERT_TRUE(ledger.record_job(first, a, accept)->job);
  auto busy = ledger.record_job(second, b, [](const JobStore::Submitted& sub) -> std::optional<std::string> {
    if (sub.output_busy) return "output_busy: taken";
    return std::nullopt;
  });
  ASSERT_TRUE(busy);
  EXPECT_TRUE(busy->fresh);
  EXPECT_FALSE(busy->job);
  EXPECT_EQ(busy->refusal, "output_busy: taken");
  EXPECT_EQ(count("SELECT count(*) FROM kiln_jobs"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM kiln_ingest_ledger WHERE key = 'x.mov' AND outcome = 'refused' AND job_id IS NULL"), 1);
}

TEST_F(IngestStoreTest, UnseenPicksWhatTheLedgerLacksAndTheCursorSurvivesReconnects) {
  IngestStore ledger(*conn_);
  ASSERT_TRUE(ledger.record_job({"r", "inbox", "b.mp4", "e2", 1, "poll"}, job_for({"r", "inbox", "b.mp4", "e2"}), accept));
  auto fresh = ledger.unseen("r", "inbox", {{"a.mp4", "e1"}, {"b.mp4", "e2"}, {"b.mp4", "e3"}, {"c.mp4", "e4"}});
  ASSERT_TRUE(fresh);
  EXPECT_EQ(*fresh, (std::vector<size_t>{0, 2, 3}));
  EXPECT_EQ(*ledger.unseen("other-rule", "inbox", {{"b.mp4", "e2"}}), (std::vector<size_t>{0}));

  EXPECT_EQ(*ledger.scan_after("r"), "");
  ASSERT_TRUE(ledger.save_scan("r", "m/page-1-last.mp4", false).is_ok());
  auto other = connect();
  EXPECT_EQ(*IngestStore(*other).scan_after("r"), "m/page-1-last.mp4");
  ASSERT_TRUE(ledger.save_scan("r", "z.mp4", true).is_ok());
  EXPECT_EQ(*IngestStore(*other).scan_after("r"), "");
  EXPECT_EQ(count("SELECT passes FROM kiln_ingest_rules WHERE rule = 'r'"), 1);
}

TEST_F(IngestStoreTest, ARuleIsLedByOneConnectionAndTheLockDoesNotStack) {
  auto a = connect(), b = connect();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(*IngestStore(*a).hold_rule("uploads"));
  EXPECT_FALSE(*IngestStore(*b).hold_rule("uploads"));
  EXPECT_TRUE(*IngestStore(*b).hold_rule("folder"));  // another rule: free
  EXPECT_EQ(count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 27497 AND database = "
                  "(SELECT oid FROM pg_database WHERE datname = current_database())"), 2)
      << "asking again must not take the lock a second time";
  a.reset();  // the leader's connection ends: its locks go with it, once its backend has exited
  bool taken = false;
  for (int i = 0; i < 100 && !taken; ++i) {
    taken = *IngestStore(*b).hold_rule("uploads");
    if (!taken) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(taken);
}

TEST_F(IngestStoreTest, JobFiltersAreServedByTheirIndexes) {
  // Enough rows that a sequential scan is not the cheap plan, then the three filters.
  sql("INSERT INTO kiln_jobs (spec, input_location, input_key, state) SELECT jsonb_build_object('input', '/x/' || g, "
      "'output', '/o/' || g, 'metadata', jsonb_build_object('asset', 'a' || g, 'team', CASE WHEN g % 2 = 0 THEN "
      "'news' ELSE 'sport' END)), CASE WHEN g % 3 = 0 THEN 'media' ELSE 'inbox' END, 'k/' || g, 'completed'::kiln_job_state "
      "FROM generate_series(1, 5000) g");
  NewJob mine;
  mine.spec = {{"input", "/srv/special.mp4"}, {"output", "/o/special"}, {"metadata", {{"asset", "A-77"}}}};
  mine.input_location = "inbox";
  mine.input_key = "special.mp4";
  ASSERT_TRUE(JobStore(*conn_).submit(mine));
  sql("ANALYZE kiln_jobs");
  auto scans = [&](const char* index) {
    return count(std::string("SELECT coalesce(idx_scan, 0) FROM pg_stat_user_indexes WHERE indexrelname = '") + index + "'");
  };
  const int64_t input_before = scans("kiln_jobs_input"), meta_before = scans("kiln_jobs_metadata");
  {
    auto db = connect();
    JobFilter by_key;
    by_key.input_location = "inbox";
    by_key.input_key = "special.mp4";
    auto one = JobStore(*db).list(by_key, 50, 0);
    ASSERT_TRUE(one) << one.status().message();
    ASSERT_EQ(one->size(), 1u);
    EXPECT_EQ((*one)[0].spec["output"], "/o/special");
    JobFilter by_meta;
    by_meta.metadata_key = "asset";
    by_meta.metadata_value = "A-77";
    auto meta = JobStore(*db).list(by_meta, 50, 0);
    ASSERT_TRUE(meta);
    ASSERT_EQ(meta->size(), 1u);
    EXPECT_EQ((*meta)[0].id, (*one)[0].id);
    JobFilter by_location;
    by_location.input_location = "media";
    by_location.state = JobState::kCompleted;
    auto page = JobStore(*db).list(by_location, 10, 0);
    ASSERT_TRUE(page);
    EXPECT_EQ(page->size(), 10u);
    for (const auto& j : *page) EXPECT_EQ(j.id % 3, 0);
    JobFilter none;
    none.metadata_key = "team";
    none.metadata_value = "chess";
    EXPECT_TRUE(JobStore(*db).list(none, 10, 0)->empty());
  }  // the backend ends: its statistics are flushed
  bool used = false;
  for (int i = 0; i < 100 && !used; ++i) {
    used = scans("kiln_jobs_input") > input_before && scans("kiln_jobs_metadata") > meta_before;
    if (!used) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(used) << "input scans " << input_before << " -> " << scans("kiln_jobs_input") << ", metadata scans "
                    << meta_before << " -> " << scans("kiln_jobs_metadata");
}

}  // namespace
}  // namespace kiln::store
