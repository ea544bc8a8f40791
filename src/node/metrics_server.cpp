#include "node/metrics_server.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <cstdlib>

#include "http_socket.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"

namespace kiln::node {

MetricsServer::MetricsServer(std::function<bool()> ready, std::function<std::string()> devices)
    : ready_(std::move(ready)), devices_(std::move(devices)) {}
MetricsServer::~MetricsServer() { stop(); }

Status MetricsServer::start(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return {Code::kUsage, fmt::format("metrics_listen '{}' is not host:port", listen)};
  std::string host = listen.substr(0, colon);
  int port = std::atoi(listen.c_str() + colon + 1);
  server_ = std::make_unique<httplib::Server>();
  server_->set_socket_options(exclusive_listen_socket);  // two nodes on one metrics port: an error
  server_->set_tcp_nodelay(true);  // headers and body in two writes: no wait for a delayed ACK
  server_->Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics::default_registry().exposition(), "text/plain; version=0.0.4");
  });
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"ok\":true}", "application/json");
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    bool ready = ready_ ? ready_() : true;
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "{\"ready\":true}" : "{\"ready\":false,\"reason\":\"database unreachable\"}",
                    "application/json");
  });
  if (devices_)
    server_->Get("/devices", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(devices_(), "application/json");
    });
  if (!server_->bind_to_port(host, port)) {
    server_.reset();
    return {Code::kIo, fmt::format("cannot serve metrics on {} (is another process using it?)", listen)};
  }
  thread_ = std::thread([this] {
    try {
      server_->listen_after_bind();
    } catch (const std::exception& e) {
      logger("node")->error("metrics server stopped: {}", e.what());
    }
  });
  return Status::ok();
}

void MetricsServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace kiln::node
