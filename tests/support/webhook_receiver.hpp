#pragma once
// A webhook receiver for service tests: an HTTP server on a free loopback port that records
// every JSON body POSTed to /hook, and can refuse the next N deliveries with 503 + Retry-After.

#include <httplib.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiln::test {

/// A loopback webhook receiver: records every JSON body POSTed to /hook.
class WebhookReceiver {
 public:
  WebhookReceiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      if (fail_next_ > 0) {
        --fail_next_;
        res.status = 503;
        res.set_header("Retry-After", "1");
        return;
      }
      bodies_.push_back(nlohmann::json::parse(req.body));
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~WebhookReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<nlohmann::json> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }
  void fail_next(int n) {
    std::lock_guard lock(mu_);
    fail_next_ = n;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> bodies_;
  int fail_next_ = 0;
};

}  // namespace kiln::test
