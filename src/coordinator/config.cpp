#include "coordinator/config.hpp"

#include <fmt/format.h>

#include "toml_fields.hpp"

namespace kiln::coordinator {

using toml_fields::read_number;
using toml_fields::read_string;
using toml_fields::read_strings;

Result<Config> parse_config(std::string_view text, std::string_view origin) {
  auto parsed = toml_fields::parse(text, origin);
  if (!parsed) return parsed.status();
  const toml::table& root = *parsed;
  Config c;
  if (const auto* db = root["database"].as_table())
    KILN_RETURN_IF_ERROR(read_string(*db, "url", &c.database_url, fmt::format("{}: [database]", origin)));
  if (c.database_url.empty()) return Status(Code::kUsage, fmt::format("{}: [database] url is required", origin));
  auto locations = storage::parse_locations(root, origin);
  if (!locations) return locations.status();
  c.locations = std::move(locations).value();
  if (const auto* api = root["api"].as_table()) {
    std::string where = fmt::format("{}: [api]", origin), listen;
    KILN_RETURN_IF_ERROR(read_string(*api, "listen", &listen, where));
    if (!listen.empty()) {
      auto colon = listen.rfind(':');
      if (colon == std::string::npos) return Status(Code::kUsage, fmt::format("{}: listen = \"HOST:PORT\"", where));
      c.listen_host = listen.substr(0, colon);
      c.listen_port = std::atoi(listen.c_str() + colon + 1);
    }
    KILN_RETURN_IF_ERROR(read_number(*api, "max_body_bytes", &c.max_body_bytes, where));
    KILN_RETURN_IF_ERROR(read_number(*api, "threads", &c.api_threads, where));
    KILN_RETURN_IF_ERROR(read_number(*api, "max_streams", &c.max_streams, where));
    KILN_RETURN_IF_ERROR(read_number(*api, "stream_keepalive_seconds", &c.stream_keepalive_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*api, "rate_per_second", &c.rate_per_second, where));
    KILN_RETURN_IF_ERROR(read_number(*api, "rate_burst", &c.rate_burst, where));
    if (auto v = (*api)["metrics_need_token"].value<bool>()) c.metrics_need_token = *v;
    if (c.api_threads < 1 || c.api_threads > 256 || c.max_streams < 0 || c.max_streams > 1024 ||
        c.stream_keepalive_seconds <= 0 || c.rate_per_second < 0 || c.rate_burst < 1)
      return Status(Code::kUsage, fmt::format("{}: threads 1..256, max_streams 0..1024, stream_keepalive_seconds > 0, "
                                              "rate_per_second >= 0, rate_burst >= 1", where));
  }
  if (const auto* con = root["console"].as_table()) {
    std::string where = fmt::format("{}: [console]", origin);
    ConsoleConfig& k = c.console;
    if (auto v = (*con)["enabled"].value<bool>()) k.enabled = *v;
    KILN_RETURN_IF_ERROR(read_string(*con, "upload_location", &k.upload_location, where));
    KILN_RETURN_IF_ERROR(read_string(*con, "upload_prefix", &k.upload_prefix, where));
    KILN_RETURN_IF_ERROR(read_string(*con, "output_prefix", &k.output_prefix, where));
    KILN_RETURN_IF_ERROR(read_number(*con, "max_upload_bytes", &k.max_upload_bytes, where));
    KILN_RETURN_IF_ERROR(read_number(*con, "upload_expiry_hours", &k.upload_expiry_hours, where));
    KILN_RETURN_IF_ERROR(read_number(*con, "chunk_bytes", &k.chunk_bytes, where));
    KILN_RETURN_IF_ERROR(read_number(*con, "session_hours", &k.session_hours, where));
    KILN_RETURN_IF_ERROR(read_number(*con, "probe_timeout_seconds", &k.probe_timeout_seconds, where));
    KILN_RETURN_IF_ERROR(read_string(*con, "assets", &k.assets, where));
    KILN_RETURN_IF_ERROR(read_string(*con, "secure_cookie", &k.secure_cookie, where));
    if ((*con)["ladders"]) {
      k.ladders.clear();
      KILN_RETURN_IF_ERROR(read_strings(*con, "ladders", &k.ladders, where));
    }
    for (auto* prefix : {&k.upload_prefix, &k.output_prefix})
      if (!prefix->empty() && prefix->back() != '/') *prefix += '/';
    if (k.max_upload_bytes < 1 || k.upload_expiry_hours <= 0 || k.chunk_bytes < 65536 || k.session_hours <= 0 ||
        k.probe_timeout_seconds <= 0 || k.ladders.empty() ||
        (k.secure_cookie != "auto" && k.secure_cookie != "always" && k.secure_cookie != "never") ||
        k.upload_prefix.find("..") != std::string::npos || k.output_prefix.find("..") != std::string::npos ||
        k.upload_prefix.rfind('/', 0) == 0 || k.output_prefix.rfind('/', 0) == 0)
      return Status(Code::kUsage, fmt::format("{}: max_upload_bytes >= 1, upload_expiry_hours, session_hours and "
                                              "probe_timeout_seconds > 0, chunk_bytes >= 65536, at least one ladder, "
                                              "secure_cookie = auto, always or never, prefixes relative without '..'",
                                              where));
  }
  if (const auto* ch = root["chores"].as_table()) {
    std::string where = fmt::format("{}: [chores]", origin);
    KILN_RETURN_IF_ERROR(read_number(*ch, "reap_interval_seconds", &c.reap_interval_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*ch, "node_timeout_seconds", &c.node_timeout_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*ch, "delivery_interval_seconds", &c.delivery_interval_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*ch, "retry_base_seconds", &c.retry_base_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*ch, "delivery_max_attempts", &c.delivery_max_attempts, where));
    KILN_RETURN_IF_ERROR(read_number(*ch, "delivery_retry_seconds", &c.delivery_retry_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*ch, "event_retention_days", &c.event_retention_days, where));
    KILN_RETURN_IF_ERROR(read_number(*ch, "job_retention_days", &c.job_retention_days, where));
    KILN_RETURN_IF_ERROR(read_number(*ch, "retention_batch_rows", &c.retention_batch_rows, where));
    if (c.delivery_max_attempts < 1 || c.delivery_retry_seconds < 0 || c.event_retention_days < 0 ||
        c.job_retention_days < 0 || c.retention_batch_rows < 1)
      return Status(Code::kUsage, fmt::format("{}: delivery_max_attempts and retention_batch_rows must be at least 1, "
                                              "delivery_retry_seconds and *_retention_days not negative", where));
  }
  if (const auto* arr = root["receiver"].as_array()) {
    for (size_t i = 0; i < arr->size(); ++i) {
      std::string where = fmt::format("{}: [[receiver]] #{}", origin, i + 1);
      const auto* t = (*arr)[i].as_table();
      if (!t) return Status(Code::kUsage, fmt::format("{} is not a table", where));
      Receiver r;
      KILN_RETURN_IF_ERROR(read_string(*t, "name", &r.name, where));
      KILN_RETURN_IF_ERROR(read_string(*t, "type", &r.type, where));
      KILN_RETURN_IF_ERROR(read_string(*t, "url", &r.url, where));
      KILN_RETURN_IF_ERROR(read_strings(*t, "events", &r.events, where));
      KILN_RETURN_IF_ERROR(read_number(*t, "resend_seconds", &r.resend_seconds, where));
      if (r.type != "webhook" && r.type != "slack" && r.type != "alertmanager")
        return Status(Code::kUsage, fmt::format("{}: type = '{}' (webhook, slack or alertmanager)", where, r.type));
      if (r.url.empty() || r.name.empty()) return Status(Code::kUsage, fmt::format("{}: name and url are required", where));
      if (r.name[0] == '@')
        return Status(Code::kUsage, fmt::format("{}: name = '{}': names starting with '@' are Kiln's own", where, r.name));
      if (r.events.empty()) r.events = {"error", "discarded", "node_lost", "device_quarantined"};
      c.receivers.push_back(std::move(r));
    }
  }
  auto watches = ingest::parse_watch_rules(root, origin, c.locations);
  if (!watches) return watches.status();
  c.watches = std::move(watches).value();
  return c;
}

Result<Config> load_config(const std::string& path) {
  auto text = toml_fields::read_file(path, "coordinator config");
  if (!text) return text.status();
  return parse_config(*text, path);
}

}  // namespace kiln::coordinator
