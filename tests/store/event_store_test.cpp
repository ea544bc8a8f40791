// Alert delivery in the store, against a real PostgreSQL: per-receiver cursors in commit order,
// one sender at a time across connections, retries and dead letters, new receivers starting
// from now, and retention.

#include "store/event_store.hpp"

#include "store/job_store.hpp"
#include "store/retention.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <pqxx/pqxx>

namespace kiln::store {
namespace {

using What = DeliveryStep::What;

std::string cluster_url() {
  std::ifstream in(KILN_PG_URL_FILE);
  std::string url;
  std::getline(in, url);
  return url;
}

void admin_exec(const std::string& q) {
  pqxx::connection c(cluster_url());
  pqxx::nontransaction tx(c);
  tx.exec(q);
}

class EventStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    name_ = "kiln_ev_" + std::to_string(rd()) + std::to_string(rd());
    admin_exec("CREATE DATABASE " + name_);
    url_ = cluster_url();
    url_ = url_.substr(0, url_.rfind('/') + 1) + name_;
    db_ = connect();
    ASSERT_TRUE(db_);
    auto v = db_->migrate();
    ASSERT_TRUE(v.is_ok()) << v.status().to_string();
    events_.emplace(*db_);
  }
  void TearDown() override {
    events_.reset();
    db_.reset();
    try {
      admin_exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
    }
  }
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
  int64_t scalar(const std::string& q) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    return tx.exec(q)[0][0].as<int64_t>();
  }
  void add(const std::string& kind, const nlohmann::json& payload = nlohmann::json::object()) {
    ASSERT_TRUE(events_->add_event(0, kind, payload).is_ok());
  }
  /// Sends with `ok` as the outcome and records what was sent.
  DeliveryStep step(const std::string& receiver, bool ok, const DeliveryPolicy& policy = {},
                    std::vector<std::string> kinds = {"a"}, double retry_after = 0) {
    EXPECT_TRUE(events_->sequence_events(1000).is_ok());
    auto s = events_->deliver_next(receiver, kinds, policy, [&](const Event& e) {
      sent_.push_back(e);
      return SendOutcome{ok, ok ? "" : "HTTP 500", retry_after};
    });
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? *s : DeliveryStep{};
  }

  std::string name_, url_;
  std::unique_ptr<Db> db_;
  std::optional<EventStore> events_;
  std::vector<Event> sent_;
};

TEST_F(EventStoreTest, ACursorDeliversItsKindsInOrderOnce) {
  ASSERT_TRUE(events_->ensure_receiver("ops").is_ok());
  add("a", {{"n", 1}});
  add("b", {{"n", 2}});
  add("a", {{"n", 3}});
  EXPECT_EQ(step("ops", true).what, What::kDelivered);
  EXPECT_EQ(step("ops", true).what, What::kDelivered);
  add("b", {{"n", 4}});
  EXPECT_EQ(step("ops", true).what, What::kIdle);
  // Idle, the cursor skips the other kinds' events, so they are not read again.
  EXPECT_EQ(scalar("SELECT cursor FROM kiln_receivers"), scalar("SELECT max(seq) FROM kiln_events"));
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0].payload["n"], 1);
  EXPECT_EQ(sent_[1].payload["n"], 3);
  EXPECT_LT(sent_[0].seq, sent_[1].seq);
  EXPECT_EQ(scalar("SELECT count(*) FROM kiln_receivers"), 1);  // one row per receiver, none per event
}

TEST_F(EventStoreTest, ANewReceiverStartsFromNow) {
  ASSERT_TRUE(events_->ensure_receiver("old").is_ok());
  add("a", {{"n", 1}});
  ASSERT_TRUE(events_->ensure_receiver("new").is_ok());
  EXPECT_EQ(step("new", true).what, What::kIdle);  // the history before it is not sent
  add("a", {{"n", 2}});
  ASSERT_TRUE(events_->ensure_receiver("new").is_ok());  // registering again keeps its cursor
  EXPECT_EQ(step("new", true).what, What::kDelivered);
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].payload["n"], 2);
  EXPECT_EQ(step("old", true).what, What::kDelivered);  // the older receiver gets both
  EXPECT_EQ(step("old", true).what, What::kDelivered);
  EXPECT_EQ(sent_[1].payload["n"], 1);
}

TEST_F(EventStoreTest, AnEventCommittedLateIsNotSkipped) {
  ASSERT_TRUE(events_->ensure_receiver("ops").is_ok());
  // An older transaction takes the lower id but commits after a newer one.
  pqxx::connection slow_conn(url_);
  pqxx::work slow(slow_conn);
  slow.exec("INSERT INTO kiln_events (kind, payload) VALUES ('a', '{\"n\": 1}')");
  add("a", {{"n", 2}});
  EXPECT_EQ(step("ops", true).what, What::kDelivered);
  slow.commit();
  EXPECT_EQ(step("ops", true).what, What::kDelivered);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0].payload["n"], 2);
  EXPECT_EQ(sent_[1].payload["n"], 1);  // in commit order, and not lost
  EXPECT_GT(sent_[0].id, 0);
  EXPECT_GT(sent_[0].id, sent_[1].id);
}

TEST_F(EventStoreTest, OnlyOneConnectionHoldsAReceiverWhileItSends) {
  ASSERT_TRUE(events_->ensure_receiver("ops").is_ok());
  add("a");
  ASSERT_TRUE(events_->sequence_events(100).is_ok());
  auto other_db = connect();
  EventStore other(*other_db);
  std::optional<DeliveryStep> during;
  auto s = events_->deliver_next("ops", {"a"}, {}, [&](const Event&) {
    auto o = other.deliver_next("ops", {"a"}, {}, [](const Event&) { return SendOutcome{true, "", 0}; });
    if (o) during = *o;
    return SendOutcome{true, "", 0};
  });
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->what, What::kDelivered);
  ASSERT_TRUE(during);
  EXPECT_EQ(during->what, What::kBusy);
}

TEST_F(EventStoreTest, ConcurrentSendersDeliverEachEventOnceInOrder) {
  ASSERT_TRUE(events_->ensure_receiver("ops").is_ok());
  constexpr int kEvents = 200;
  for (int i = 0; i < kEvents; ++i) add("a", {{"n", i}});
  std::mutex mu;
  std::vector<int> got;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      auto db = Db::connect(url_);
      if (!db) {
        ++errors;
        return;
      }
      EventStore es(**db);
      for (int idle = 0; idle < 3;) {
        (void)es.sequence_events(50);
        auto s = es.deliver_next("ops", {"a"}, {}, [&](const Event& e) {
          std::lock_guard lock(mu);
          got.push_back(e.payload["n"].get<int>());
          return SendOutcome{true, "", 0};
        });
        if (!s) ++errors;
        if (!s || s->what == What::kIdle) ++idle;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(got.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) EXPECT_EQ(got[i], i);
}

TEST_F(EventStoreTest, FailuresBackOffHonourRetryAfterAndDeadLetter) {
  ASSERT_TRUE(events_->ensure_receiver("ops").is_ok());
  add("a", {{"n", 1}});
  add("a", {{"n", 2}});
  DeliveryPolicy policy{3, 0.0, 3600};
  DeliveryStep first = step("ops", false, policy, {"a"}, 60);  // Retry-After: 60
  EXPECT_EQ(first.what, What::kFailed);
  EXPECT_EQ(first.attempts, 1);
  EXPECT_DOUBLE_EQ(first.retry_in_seconds, 60);
  EXPECT_EQ(step("ops", true, policy).what, What::kBackingOff);
  sql("UPDATE kiln_receivers SET next_attempt_at = now()");
  EXPECT_EQ(step("ops", false, policy).what, What::kFailed);
  DeliveryStep dead = step("ops", false, policy);
  EXPECT_EQ(dead.what, What::kDeadLettered);
  EXPECT_EQ(dead.attempts, 3);
  EXPECT_EQ(dead.event.payload["n"], 1);
  auto letters = events_->dead_letters("ops");
  ASSERT_TRUE(letters.is_ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].event_id, dead.event.id);
  EXPECT_EQ((*letters)[0].attempts, 3);
  EXPECT_EQ((*letters)[0].last_error, "HTTP 500");
  // The next event is not held up by the dead one.
  DeliveryStep next = step("ops", true, policy);
  EXPECT_EQ(next.what, What::kDelivered);
  EXPECT_EQ(next.event.payload["n"], 2);
  auto firing = events_->firing_conditions();
  ASSERT_TRUE(firing.is_ok());
  ASSERT_EQ(firing->size(), 1u);
  EXPECT_EQ((*firing)[0].what, Condition::What::kDeliveryFailed);
  EXPECT_EQ((*firing)[0].receiver, "ops");
  EXPECT_EQ((*firing)[0].count, 1);
  EXPECT_EQ((*firing)[0].detail, "HTTP 500");
}

TEST_F(EventStoreTest, BackoffDoublesFromTheBase) {
  ASSERT_TRUE(events_->ensure_receiver("ops").is_ok());
  add("a");
  DeliveryPolicy policy{10, 2, 5};
  EXPECT_DOUBLE_EQ(step("ops", false, policy).retry_in_seconds, 2);
  sql("UPDATE kiln_receivers SET next_attempt_at = now()");
  EXPECT_DOUBLE_EQ(step("ops", false, policy).retry_in_seconds, 4);
  sql("UPDATE kiln_receivers SET next_attempt_at = now()");
  EXPECT_DOUBLE_EQ(step("ops", false, policy).retry_in_seconds, 5);  // capped
}

TEST_F(EventStoreTest, RetentionDeletesOldEventsAndFinishedJobsInBatches) {
  for (int i = 0; i < 5; ++i) add("old");
  add("new");
  sql("UPDATE kiln_events SET created_at = now() - interval '2 days' WHERE kind = 'old'");
  Retention retention(*db_);
  std::vector<int64_t> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(*retention.prune_events(86400, 2));
  EXPECT_EQ(batches, (std::vector<int64_t>{2, 2, 1, 0}));
  EXPECT_EQ(scalar("SELECT count(*) FROM kiln_events"), 1);

  JobStore jobs(*db_);
  NewJob j;
  auto submit = [&](const std::string& output) {
    j.spec = {{"input", "/in.mp4"}, {"output", output}};  // one live job per output
    return jobs.submit(j)->job.id;
  };
  int64_t old_done = submit("/out/a"), new_done = submit("/out/b"), old_live = submit("/out/c");
  sql("UPDATE kiln_jobs SET state = 'completed', finalized_at = now() - interval '3 days' WHERE id = " +
      std::to_string(old_done));
  sql("UPDATE kiln_jobs SET state = 'completed', finalized_at = now() WHERE id = " + std::to_string(new_done));
  sql("UPDATE kiln_jobs SET created_at = now() - interval '3 days' WHERE id = " + std::to_string(old_live));
  EXPECT_EQ(*retention.prune_jobs(86400, 10), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM kiln_jobs WHERE id = " + std::to_string(old_done)), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM kiln_events WHERE job_id = " + std::to_string(old_done)), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM kiln_jobs"), 2);
}

}  // namespace
}  // namespace kiln::store
