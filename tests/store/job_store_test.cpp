// The job queue against a real PostgreSQL (the throwaway cluster tests/support/pg_cluster.sh
// starts): state machine, fencing, backoff, idempotency, cancel, outbox, nodes, notifications.

#include "store/job_store.hpp"

#include "store/event_store.hpp"
#include "kiln/migrations.hpp"
#include "store/node_store.hpp"
#include "store/token_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include <pqxx/pqxx>

namespace kiln::store {
namespace {

std::string cluster_url() {
  std::ifstream in(KILN_PG_URL_FILE);
  std::string url;
  std::getline(in, url);
  return url;
}

/// A database of its own for each test, dropped afterwards.
class TestDatabase {
 public:
  TestDatabase() {
    std::random_device rd;
    name_ = "kiln_test_" + std::to_string(rd()) + std::to_string(rd());
    admin_exec("CREATE DATABASE " + name_);
    url_ = cluster_url();
    url_ = url_.substr(0, url_.rfind('/') + 1) + name_;
  }
  ~TestDatabase() {
    try {
      admin_exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
    }
  }
  const std::string& url() const { return url_; }
  std::unique_ptr<Db> connect() {
    auto s = Db::connect(url_);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? std::move(s).value() : nullptr;
  }
  void sql(const std::string& q) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    tx.exec(q);
  }
  double scalar(const std::string& q) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    return tx.exec(q)[0][0].as<double>();
  }

 private:
  static void admin_exec(const std::string& q) {
    pqxx::connection c(cluster_url());
    pqxx::nontransaction tx(c);
    tx.exec(q);
  }
  std::string name_, url_;
};

class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conn_ = db_.connect();
    ASSERT_TRUE(conn_);
    jobs_.emplace(*conn_);
    events_.emplace(*conn_);
    nodes_.emplace(*conn_);
    tokens_.emplace(*conn_);
    auto v = conn_->migrate();
    ASSERT_TRUE(v.is_ok()) << v.status().to_string();
  }
  int64_t submit(int priority = 0, const std::string& queue = "default", int max_attempts = 3,
                 const std::string& key = "") {
    NewJob j;
    // One live job per output: each test job writes its own.
    j.spec = {{"input", "/media/in.mp4"}, {"output", "/out/x" + std::to_string(++outputs_)}};
    j.priority = priority;
    j.queue = queue;
    j.max_attempts = max_attempts;
    j.idempotency_key = key;
    auto r = jobs_->submit(j);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r->job.id : 0;
  }
  Claim claim(const std::string& node = "n1") {
    auto c = jobs_->claim(node, {"default"}, 30);
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    EXPECT_TRUE(c.is_ok() && c->has_value()) << "nothing to claim";
    return c.is_ok() && c->has_value() ? **c : Claim{};
  }
  JobState state(int64_t id) { return (*jobs_->get(id))->state; }

  TestDatabase db_;
  std::unique_ptr<Db> conn_;
  std::optional<JobStore> jobs_;
  std::optional<EventStore> events_;
  std::optional<NodeStore> nodes_;
  std::optional<TokenStore> tokens_;
  int outputs_ = 0;
};

TEST_F(JobStoreTest, MigrationsApplyOnceAndConcurrently) {
  auto again = conn_->migrate();
  ASSERT_TRUE(again.is_ok());
  const int latest = std::end(kMigrations)[-1].version;
  EXPECT_EQ(*again, latest);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM kiln_schema_migrations"), static_cast<double>(std::size(kMigrations)));
}

TEST_F(JobStoreTest, IdempotentSubmitReturnsTheLiveJob) {
  int64_t a = submit(0, "default", 3, "upload-42");
  NewJob j;
  j.spec = {{"input", "other"}};
  j.idempotency_key = "upload-42";
  auto again = jobs_->submit(j);
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE(again->created);
  EXPECT_TRUE(again->conflict) << "same key, another spec: the API answers 409";
  EXPECT_EQ(again->job.id, a);
  EXPECT_EQ(again->job.spec["input"], "/media/in.mp4");
  Claim c = claim();
  ASSERT_TRUE(*jobs_->complete(c.id, c.attempt, {{"ok", true}}));
  auto after = jobs_->submit(j);  // the key is free once the job is final
  ASSERT_TRUE(after.is_ok());
  EXPECT_TRUE(after->created);
  EXPECT_NE(after->job.id, a);
}

TEST_F(JobStoreTest, OneLiveJobPerOutput) {
  NewJob j;
  j.spec = {{"input", "/media/in.mp4"}, {"output", "/out/shared"}};
  auto first = jobs_->submit(j);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  ASSERT_TRUE(first->created);
  j.spec["input"] = "/media/other.mp4";
  auto second = jobs_->submit(j);
  ASSERT_TRUE(second.is_ok());
  EXPECT_FALSE(second->created);
  EXPECT_TRUE(second->output_busy) << "a second live job for one output: the API answers 409";
  EXPECT_EQ(second->job.id, first->job.id);
  Claim c = claim();
  ASSERT_EQ(c.id, first->job.id);
  ASSERT_TRUE(*jobs_->complete(c.id, c.attempt, {{"ok", true}}));
  auto after = jobs_->submit(j);  // the output is free once its job is final
  ASSERT_TRUE(after.is_ok());
  EXPECT_TRUE(after->created);
  EXPECT_FALSE(after->output_busy);
}

TEST_F(JobStoreTest, ClaimsMostUrgentFirstWithinItsQueues) {
  int64_t low = submit(-5), mid = submit(0), high = submit(10);
  submit(50, "other-queue");
  EXPECT_EQ(claim().id, high);
  EXPECT_EQ(claim().id, mid);
  EXPECT_EQ(claim().id, low);
  auto none = jobs_->claim("n1", {"default"}, 30);
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(state(high), JobState::kRunning);
  EXPECT_EQ((*jobs_->get(high))->node, "n1");
}

TEST_F(JobStoreTest, ANodeThatLostItsLeaseCannotCompleteOrHeartbeat) {
  int64_t id = submit();
  Claim first = claim("node-a");
  EXPECT_EQ(first.attempt, 1);
  db_.sql("UPDATE kiln_jobs SET lease_expires_at = now() - interval '1 second'");
  auto reaped = jobs_->reap_expired_leases(0);
  ASSERT_TRUE(reaped.is_ok()) << reaped.status().to_string();
  EXPECT_EQ(*reaped, 1);
  EXPECT_EQ(state(id), JobState::kRetryable);
  db_.sql("UPDATE kiln_jobs SET scheduled_at = now()");
  Claim second = claim("node-b");
  EXPECT_EQ(second.id, id);
  EXPECT_EQ(second.attempt, 2);
  EXPECT_FALSE(*jobs_->complete(first.id, first.attempt, {{"from", "a"}}));
  EXPECT_FALSE(jobs_->heartbeat(first.id, first.attempt, {}, 30)->owned);
  EXPECT_FALSE(*jobs_->fail(first.id, first.attempt, {{"m", "late"}}, true, 0));
  EXPECT_TRUE(jobs_->heartbeat(second.id, second.attempt, {{"percent", 50}}, 30)->owned);
  EXPECT_TRUE(*jobs_->complete(second.id, second.attempt, {{"from", "b"}}));
  auto job = **jobs_->get(id);
  EXPECT_EQ(job.state, JobState::kCompleted);
  EXPECT_EQ(job.output["from"], "b");
  EXPECT_EQ(job.errors.size(), 1u);
  EXPECT_EQ(job.errors[0]["error"]["code"], "lease_expired");
}

TEST_F(JobStoreTest, FailuresBackOffThenDiscardAndCanBeRetriedByHand) {
  int64_t id = submit(0, "default", 2);
  Claim c1 = claim();
  auto s1 = jobs_->fail(c1.id, c1.attempt, {{"code", "device_lost"}}, true, 0.0);
  ASSERT_TRUE(s1.is_ok());
  EXPECT_EQ(**s1, JobState::kRetryable);
  double wait = db_.scalar("SELECT extract(epoch FROM scheduled_at - now()) FROM kiln_jobs");
  EXPECT_GT(wait, 13);  // 15 s base, jitter 0
  EXPECT_LT(wait, 16);
  auto none = jobs_->claim("n1", {"default"}, 30);
  EXPECT_FALSE(none->has_value());  // not due yet
  db_.sql("UPDATE kiln_jobs SET scheduled_at = now()");
  Claim c2 = claim();
  EXPECT_EQ(c2.attempt, 2);
  EXPECT_EQ(**jobs_->fail(c2.id, c2.attempt, {{"code", "device_lost"}}, true, 0.5), JobState::kDiscarded);
  EXPECT_EQ(state(id), JobState::kDiscarded);
  EXPECT_TRUE(*jobs_->retry(id));
  auto job = **jobs_->get(id);
  EXPECT_EQ(job.state, JobState::kAvailable);
  EXPECT_EQ(job.max_attempts, 3);
  EXPECT_EQ(claim().attempt, 3);
  EXPECT_FALSE(*jobs_->retry(id));  // running: nothing to retry
}

TEST_F(JobStoreTest, InvalidInputIsDiscardedAtOnce) {
  int64_t id = submit(0, "default", 5);
  Claim c = claim();
  EXPECT_EQ(**jobs_->fail(c.id, c.attempt, {{"code", "input_not_media"}}, false, 0), JobState::kDiscarded);
  auto events = *events_->events(id, 0);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, "discarded");
}

TEST_F(JobStoreTest, CancelQueuedAndRunningJobs) {
  int64_t queued = submit();
  EXPECT_TRUE(*jobs_->cancel(queued));
  EXPECT_EQ(state(queued), JobState::kCancelled);
  EXPECT_FALSE(*jobs_->cancel(queued));
  int64_t running = submit();
  Claim c = claim();
  ASSERT_EQ(c.id, running);
  EXPECT_TRUE(*jobs_->cancel(running));
  auto hb = jobs_->heartbeat(c.id, c.attempt, {}, 30);
  ASSERT_TRUE(hb.is_ok());
  EXPECT_TRUE(hb->owned);
  EXPECT_TRUE(hb->cancel_requested);
  EXPECT_TRUE(*jobs_->acknowledge_cancel(c.id, c.attempt));
  EXPECT_EQ(state(running), JobState::kCancelled);
  EXPECT_FALSE(*jobs_->complete(c.id, c.attempt, {}));
}

TEST_F(JobStoreTest, EightConcurrentClaimersTakeEachJobOnce) {
  constexpr int kJobs = 200;
  for (int i = 0; i < kJobs; ++i) submit(i % 7 - 3);
  std::mutex mu;
  std::multiset<int64_t> claimed;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      auto s = Db::connect(db_.url());
      if (!s) return void(++errors);
      for (;;) {
        auto c = JobStore(**s).claim("node-" + std::to_string(t), {"default"}, 30);
        if (!c) return void(++errors);
        if (!c->has_value()) return;
        std::lock_guard lock(mu);
        claimed.insert((*c)->id);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(std::set<int64_t>(claimed.begin(), claimed.end()).size(), static_cast<size_t>(kJobs));
}

TEST_F(JobStoreTest, StateChangesReachTheOutbox) {
  ASSERT_TRUE(events_->ensure_receiver("webhook:ops").is_ok());
  int64_t id = submit();
  Claim c = claim();
  ASSERT_TRUE(*jobs_->fail(c.id, c.attempt, {{"code", "x"}}, false, 0));
  ASSERT_TRUE(events_->sequence_events(100).is_ok());
  std::vector<Event> sent;
  auto send = [&](const Event& e) {
    sent.push_back(e);
    return SendOutcome{true, "", 0};
  };
  auto s = events_->deliver_next("webhook:ops", {"error", "discarded"}, {}, send);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].job_id, id);
  EXPECT_EQ(sent[0].kind, "discarded");
  EXPECT_EQ(events_->deliver_next("webhook:ops", {"error", "discarded"}, {}, send)->what,
            DeliveryStep::What::kIdle);
}

TEST_F(JobStoreTest, NodesThatStopHeartbeatingAreMarkedLost) {
  ASSERT_TRUE(nodes_->register_node("n1", nlohmann::json::array({{{"backend", "software"}}}), 2).is_ok());
  ASSERT_TRUE(nodes_->register_node("n2", nlohmann::json::array(), 1).is_ok());
  db_.sql("UPDATE kiln_nodes SET heartbeat_at = now() - interval '1 minute' WHERE name = 'n1'");
  auto lost = nodes_->mark_lost_nodes(30);
  ASSERT_TRUE(lost.is_ok());
  EXPECT_EQ(*lost, std::vector<std::string>{"n1"});
  EXPECT_TRUE(nodes_->mark_lost_nodes(30)->empty());
  auto nodes = *nodes_->nodes();
  EXPECT_EQ(nodes[0]["state"], "lost");
  EXPECT_EQ(nodes[1]["state"], "up");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM kiln_events WHERE kind = 'node_lost'"), 1);
}

TEST_F(JobStoreTest, ListenWakesOnSubmit) {
  auto listener = db_.connect();
  ASSERT_TRUE(listener->listen("kiln_jobs").is_ok());
  auto none = listener->wait_notification(0.05);
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(*none);
  submit();
  auto woke = listener->wait_notification(10);
  ASSERT_TRUE(woke.is_ok()) << woke.status().to_string();
  EXPECT_TRUE(*woke);
}

TEST_F(JobStoreTest, ADroppedConnectionIsReestablished) {
  submit();
  db_.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
          "AND pid <> pg_backend_pid()");
  auto job = jobs_->get(1);
  ASSERT_TRUE(job.is_ok()) << job.status().to_string();
  EXPECT_TRUE(job->has_value());
}

TEST_F(JobStoreTest, ListPagesByCursorAndFiltersByState) {
  for (int i = 0; i < 5; ++i) submit();
  claim();
  auto page1 = *jobs_->list({}, 2, 0);
  ASSERT_EQ(page1.size(), 2u);
  auto page2 = *jobs_->list({}, 10, page1.back().id);
  EXPECT_EQ(page2.size(), 3u);
  JobFilter running;
  running.state = JobState::kRunning;
  EXPECT_EQ(jobs_->list(running, 10, 0)->size(), 1u);
}

TEST(Backoff, DoublesFromFifteenSecondsToAnHourCapWithJitter) {
  EXPECT_DOUBLE_EQ(backoff_seconds(1, 0), 15);
  EXPECT_DOUBLE_EQ(backoff_seconds(2, 0), 30);
  EXPECT_DOUBLE_EQ(backoff_seconds(3, 0), 60);
  EXPECT_DOUBLE_EQ(backoff_seconds(20, 0), 3600);
  EXPECT_DOUBLE_EQ(backoff_seconds(1, 1.0), 15 * 1.25);
}

TEST(JobStates, MapToMediaConvertStatuses) {
  EXPECT_STREQ(mediaconvert_status(JobState::kAvailable), "SUBMITTED");
  EXPECT_STREQ(mediaconvert_status(JobState::kRunning), "PROGRESSING");
  EXPECT_STREQ(mediaconvert_status(JobState::kCompleted), "COMPLETE");
  EXPECT_STREQ(mediaconvert_status(JobState::kDiscarded), "ERROR");
  EXPECT_STREQ(mediaconvert_status(JobState::kCancelled), "CANCELED");
  EXPECT_EQ(parse_state("retryable"), JobState::kRetryable);
  EXPECT_FALSE(parse_state("lost").has_value());
}

}  // namespace
}  // namespace kiln::store
