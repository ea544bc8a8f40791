// The node's metrics server owns its port: a second server on the same address is refused
// instead of silently sharing it (cpp-httplib's default SO_REUSEPORT split connections between
// the two, and every other scrape hung on the listener that never answered).

#include "node/metrics_server.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace kiln::node {
namespace {

int bound_port(httplib::Server& s) { return s.bind_to_any_port("127.0.0.1"); }

/// A loopback port free now (a plain socket, closed again: an httplib::Server would keep its
/// listener open after destruction).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

TEST(MetricsServer, ASecondServerOnTheSamePortIsRefused) {
  // A listener left open on the port, with the options cpp-httplib uses by default.
  httplib::Server squatter;
  int port = bound_port(squatter);
  ASSERT_GT(port, 0);
  MetricsServer server([] { return true; });
  Status st = server.start("127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(st.code(), Code::kIo) << st.to_string();
  EXPECT_NE(st.message().find("is another process using it"), std::string::npos) << st.message();
}

TEST(MetricsServer, EveryRequestIsAnsweredAndReadyzFollowsTheDatabase) {
  std::atomic<bool> up{true};
  MetricsServer server([&] { return up.load(); });
  int port = free_port();
  MetricsServer second([] { return true; });
  ASSERT_TRUE(server.start("127.0.0.1:" + std::to_string(port)).is_ok());
  EXPECT_FALSE(second.start("127.0.0.1:" + std::to_string(port)).is_ok());
  for (int i = 0; i < 20; ++i) {  // with a shared port some of these would time out
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(5);
    up = i % 2 == 0;
    auto r = c.Get("/readyz");
    ASSERT_TRUE(r) << "request " << i << ": " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, up ? 200 : 503);
  }
  httplib::Client c("127.0.0.1", port);
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
}

}  // namespace
}  // namespace kiln::node
