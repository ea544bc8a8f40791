#include "node/db_link.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "node/running_job.hpp"

namespace kiln::node {
namespace {

// An outage is one warn line, one count and one "ready=false" status, however many threads
// and calls see it; its end is one "ready=true".
TEST(DatabaseState, AnOutageIsReportedOnceAndItsEndOnce) {
  std::vector<std::string> lines;
  DatabaseState state([&](const std::string& l) { lines.push_back(l); });
  EXPECT_TRUE(state.up());
  state.report_ok();
  EXPECT_TRUE(lines.empty());
  for (int i = 0; i < 5; ++i) state.report_failure({Code::kIo, "connection refused"});
  EXPECT_FALSE(state.up());
  EXPECT_EQ(state.outages(), 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("STATUS=ready=false", 0), 0u) << lines[0];
  state.report_ok();
  state.report_ok();
  EXPECT_TRUE(state.up());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].rfind("STATUS=ready=true", 0), 0u) << lines[1];
  state.report_failure({Code::kIo, "again"});
  EXPECT_EQ(state.outages(), 2);
}

TEST(Backoff, GrowsToItsCapWithJitterAndResets) {
  Backoff b(0.25, 4);
  EXPECT_DOUBLE_EQ(b.next(0.0), 0.125);   // 0.25 * 0.5
  EXPECT_DOUBLE_EQ(b.next(0.999999), 0.5 * (0.5 + 0.5 * 0.999999));
  EXPECT_DOUBLE_EQ(b.next(0.0), 0.5);     // 1.0 * 0.5
  for (int i = 0; i < 40; ++i) {
    double d = b.next(0.5);
    EXPECT_LE(d, 4.0);
  }
  EXPECT_DOUBLE_EQ(b.next(0.0), 2.0);     // capped: 4 * 0.5
  b.reset();
  EXPECT_DOUBLE_EQ(b.next(0.0), 0.125);
}

int closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);  // nothing listens there now
  return ntohs(a.sin_port);
}

// A database that cannot be reached: no exception, no spinning (the next try waits for the
// backoff), one outage.
TEST(DbLink, AnUnreachableDatabaseBacksOffInsteadOfSpinning) {
  std::vector<std::string> lines;
  DatabaseState state([&](const std::string& l) { lines.push_back(l); });
  DbLink link("postgresql://kiln@127.0.0.1:" + std::to_string(closed_port()) + "/none?connect_timeout=2", state,
              Backoff(5, 10));
  EXPECT_EQ(link.get(), nullptr);
  EXPECT_FALSE(state.up());
  EXPECT_GT(link.retry_in().count(), 1000);  // at least 2.5 s (5 s * [0.5, 1))
  int calls = 0;
  auto r = link.run([&](store::Db&) {
    ++calls;
    return Status::ok();
  });
  EXPECT_FALSE(r.is_ok());
  EXPECT_EQ(calls, 0);  // backing off: not even tried
  EXPECT_EQ(state.outages(), 1);
  EXPECT_EQ(lines.size(), 1u);
}

TEST(RunningJob, TheLeaseRunsFromWhenTheRenewalWasSent) {
  RunningJob j;
  auto t0 = RunningJob::Clock::now();
  j.renewed(t0, 30);
  EXPECT_FALSE(j.lease_expired(t0 + std::chrono::seconds(29)));
  EXPECT_TRUE(j.lease_expired(t0 + std::chrono::seconds(30)));
}

}  // namespace
}  // namespace kiln::node
