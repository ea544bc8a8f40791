// The end of a job's life against a real PostgreSQL: cancels whose node died, leases that ran
// out, drains that hand a job back, nodes stopped on purpose and removed by an operator.

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include <pqxx/pqxx>

#include "store/event_store.hpp"
#include "store/job_store.hpp"
#include "store/node_store.hpp"

namespace kiln::store {
namespace {

std::string cluster_url() {
  std::ifstream in(KILN_PG_URL_FILE);
  std::string url;
  std::getline(in, url);
  return url;
}

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    name_ = "kiln_life_" + std::to_string(rd()) + std::to_string(rd());
    admin("CREATE DATABASE " + name_);
    url_ = cluster_url();
    url_ = url_.substr(0, url_.rfind('/') + 1) + name_;
    auto db = Db::open_migrated(url_);
    ASSERT_TRUE(db.is_ok()) << db.status().to_string();
    db_ = std::move(db).value();
    jobs_.emplace(*db_);
  }
  void TearDown() override {
    jobs_.reset();
    db_.reset();
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
  void sql(const std::string& q) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    tx.exec(q);
  }
  int64_t count(const std::string& q) {
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    return tx.exec(q)[0][0].as<int64_t>();
  }
  int64_t submit(int max_attempts = 3) {
    NewJob j;
    j.spec = {{"input", "/media/in.mp4"}, {"output", "/out/x" + std::to_string(++outputs_)}};  // one live job per output
    j.max_attempts = max_attempts;
    auto r = jobs_->submit(j);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r->job.id : 0;
  }
  Claim claim(const std::string& node = "n1") {
    auto c = jobs_->claim(node, {"default"}, 30);
    EXPECT_TRUE(c.is_ok() && c->has_value()) << "nothing to claim";
    return c.is_ok() && c->has_value() ? **c : Claim{};
  }
  Job get(int64_t id) {
    auto j = jobs_->get(id);
    EXPECT_TRUE(j.is_ok() && j->has_value());
    return j.is_ok() && j->has_value() ? **j : Job{};
  }
  void expire_lease(int64_t id) {
    sql("UPDATE kiln_jobs SET lease_expires_at = now() - interval '1 second' WHERE id = " + std::to_string(id));
  }
  int64_t events_of(int64_t id, const std::string& kind) {
    return count("SELECT count(*) FROM kiln_events WHERE job_id = " + std::to_string(id) + " AND kind = '" + kind + "'");
  }

  std::string name_, url_;
  std::unique_ptr<Db> db_;
  std::optional<JobStore> jobs_;
  int outputs_ = 0;
};

TEST_F(Lifecycle, ACancelWhileTheNodeIsDeadIsHonouredByTheReaper) {
  int64_t id = submit();
  claim();
  ASSERT_TRUE(*jobs_->cancel(id));  // the API's 202: the node is dead and never sees it
  expire_lease(id);
  auto reaped = jobs_->reap_expired_leases(0.5);
  ASSERT_TRUE(reaped.is_ok()) << reaped.status().to_string();
  EXPECT_EQ(*reaped, 1);
  Job j = get(id);
  EXPECT_EQ(j.state, JobState::kCancelled);
  EXPECT_TRUE(j.errors.empty()) << j.errors.dump();
  EXPECT_EQ(events_of(id, "cancelled"), 1);
  EXPECT_EQ(events_of(id, "error"), 0);
}

TEST_F(Lifecycle, ACancelWhileTheNodeIsDeadIsHonouredByTheNextClaim) {
  int64_t id = submit();
  claim();
  ASSERT_TRUE(*jobs_->cancel(id));
  expire_lease(id);
  auto next = jobs_->claim("n2", {"default"}, 30);  // no coordinator reaped it yet
  ASSERT_TRUE(next.is_ok()) << next.status().to_string();
  EXPECT_FALSE(next->has_value());
  EXPECT_EQ(get(id).state, JobState::kCancelled);
  EXPECT_EQ(events_of(id, "cancelled"), 1);
}

TEST_F(Lifecycle, AnExpiredLeaseIsLostEvenBeforeTheReaperRuns) {
  int64_t id = submit();
  Claim c = claim();
  expire_lease(id);
  auto hb = jobs_->heartbeat(c.id, c.attempt, {{"percent", 50}}, 30);
  ASSERT_TRUE(hb.is_ok());
  EXPECT_FALSE(hb->owned);
}

TEST_F(Lifecycle, ACancelAfterThePrePublishCheckEndsCancelledNotCompleted) {
  int64_t id = submit();
  Claim c = claim();
  ASSERT_TRUE(*jobs_->cancel(id));
  auto done = jobs_->complete(c.id, c.attempt, {{"ok", true}});
  ASSERT_TRUE(done.is_ok());
  EXPECT_FALSE(*done);
  EXPECT_TRUE(*jobs_->acknowledge_cancel(c.id, c.attempt));
  EXPECT_EQ(get(id).state, JobState::kCancelled);
  EXPECT_EQ(events_of(id, "complete"), 0);
}

TEST_F(Lifecycle, ADrainHandsTheJobBackWithoutSpendingAnAttempt) {
  int64_t id = submit(/*max_attempts=*/1);
  Claim first = claim("n1");
  auto released = jobs_->release(first.id, first.attempt);
  ASSERT_TRUE(released.is_ok()) << released.status().to_string();
  EXPECT_TRUE(*released);
  Job j = get(id);
  EXPECT_EQ(j.state, JobState::kAvailable);
  EXPECT_TRUE(j.errors.empty());
  EXPECT_EQ(events_of(id, "error"), 0);
  // The handed-back attempt is fenced out like any other, and does not count.
  EXPECT_FALSE(*jobs_->release(first.id, first.attempt));
  EXPECT_FALSE(*jobs_->complete(first.id, first.attempt, {{"ok", true}}));
  Claim second = claim("n2");
  EXPECT_EQ(second.attempt, first.attempt + 1);
  auto state = jobs_->fail(second.id, second.attempt, {{"code", "io"}}, true, 0.5);
  ASSERT_TRUE(state.is_ok());
  EXPECT_EQ(**state, JobState::kDiscarded);  // one real attempt: maxAttempts 1 still means one
}

TEST_F(Lifecycle, ACancelledJobIsNotHandedBack) {
  int64_t id = submit();
  Claim c = claim();
  ASSERT_TRUE(*jobs_->cancel(id));
  EXPECT_FALSE(*jobs_->release(c.id, c.attempt));
}

TEST_F(Lifecycle, AStoppedNodeIsNeverLostAndCanBeRemoved) {
  NodeStore nodes(*db_);
  ASSERT_TRUE(nodes.register_node("gone", nlohmann::json::array(), 1).is_ok());
  ASSERT_TRUE(nodes.register_node("live", nlohmann::json::array(), 1).is_ok());
  ASSERT_TRUE(nodes.node_heartbeat("gone", "stopped").is_ok());
  sql("UPDATE kiln_nodes SET heartbeat_at = now() - interval '1 hour'");
  auto lost = nodes.mark_lost_nodes(30);
  ASSERT_TRUE(lost.is_ok());
  EXPECT_EQ(*lost, std::vector<std::string>{"live"});
  EXPECT_EQ(count("SELECT count(*) FROM kiln_events WHERE kind = 'node_lost'"), 1);
  ASSERT_TRUE(nodes.register_node("up", nlohmann::json::array(), 1).is_ok());
  auto refused = nodes.remove("up", false);
  EXPECT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), Code::kUsage);
  EXPECT_TRUE(*nodes.remove("gone", false));
  EXPECT_TRUE(*nodes.remove("live", false));  // lost
  EXPECT_FALSE(*nodes.remove("gone", false));
  EXPECT_TRUE(*nodes.remove("up", true));
  EXPECT_TRUE(nodes.nodes()->empty());
}

}  // namespace
}  // namespace kiln::store
