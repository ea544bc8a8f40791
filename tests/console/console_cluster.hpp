#pragma once
// A coordinator (with the console) and node daemons on a throwaway PostgreSQL database, for the
// console's tests. Every wait has a deadline; none is a bare sleep.

#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/run.hpp"

namespace kiln::test {

class ConsoleCluster : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// Starts a coordinator; `extra` is TOML appended (a [console] table replaces the default).
  /// Uploads go to the location "work" (the test's directory), with 256 KiB tus chunks.
  void start_coordinator(const std::string& console_toml = "", const std::string& extra = "");
  int start_node(const std::string& name);
  std::string make_token(const std::string& scope);

  httplib::Client client() const;
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  httplib::Headers bearer(const std::string& token) const { return {{"Authorization", "Bearer " + token}}; }

  struct Session {
    std::string cookie;  // "kiln_session=..."
    std::string csrf;
    std::string set_cookie;  // the Set-Cookie header as sent
  };
  /// Signs in through POST /console/session.
  Session sign_in(const std::string& token, const httplib::Headers& extra = {});
  httplib::Headers with(const Session& s, bool csrf) const;

  /// A metric's value in /metrics (0 if absent); `series` is the name with its labels.
  double metric(const std::string& series);
  nlohmann::json job(int64_t id);

  TempDir tmp_;
  std::unique_ptr<TestDeadline> deadline_;
  std::string db_name_, url_, admin_token_;
  int port_ = 0;
  std::vector<int> pids_;
};

}  // namespace kiln::test
