#pragma once
// Alert delivery over HTTP (libcurl): generic JSON webhooks, Slack-compatible webhooks, and
// Prometheus Alertmanager v2 (POST /api/v2/alerts).

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "store/event_store.hpp"

namespace kiln::alert {

struct PostResult {
  bool ok = false;
  long http_status = 0;
  double retry_after_seconds = 0;  // from a Retry-After header, when the receiver sent one
  std::string error;
};

/// POSTs JSON with a timeout. 2xx is ok; anything else (or no answer) is an error to retry.
PostResult post_json(const std::string& url, const nlohmann::json& body, double timeout_seconds = 10);

/// The generic webhook body: the event, its job id and kind, with a stable id to dedupe on.
nlohmann::json webhook_body(const store::Event& e);
/// Slack's escaping for message text: & < > become &amp; &lt; &gt;, so text taken from an
/// event cannot form a link or a mention such as <!channel>.
std::string slack_escape(std::string_view text);
/// A Slack-compatible message ({"text": ...}); every part taken from the event is escaped.
nlohmann::json slack_body(const store::Event& e);

/// One Alertmanager alert. `ends_at` in the past resolves it.
struct Alert {
  nlohmann::json labels;       // alertname, job_id / node, severity
  nlohmann::json annotations;  // summary, description
};
/// Alertmanager v2 body for alerts that fire until `ends_at_iso` (or resolve, if it is past).
nlohmann::json alertmanager_body(const std::vector<Alert>& alerts, const std::string& ends_at_iso);

}  // namespace kiln::alert
