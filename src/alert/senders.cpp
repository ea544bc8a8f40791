#include "alert/senders.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <mutex>

namespace kiln::alert {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

size_t header_line(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  auto* out = static_cast<double*>(user);
  constexpr std::string_view kName = "retry-after:";
  std::string lower = line;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower.rfind(kName, 0) == 0) *out = std::atof(line.c_str() + kName.size());
  return size * n;
}

}  // namespace

PostResult post_json(const std::string& url, const nlohmann::json& body, double timeout_seconds) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  PostResult r;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) {
    r.error = "curl_easy_init failed";
    return r;
  }
  // Invalid UTF-8 from an event is replaced, never an exception on the delivery thread.
  std::string payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::unique_ptr<curl_slist, SlistDeleter> headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, payload.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_seconds * 1000));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, header_line);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &r.retry_after_seconds);
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    r.error = curl_easy_strerror(rc);
    return r;
  }
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &r.http_status);
  r.ok = r.http_status >= 200 && r.http_status < 300;
  if (!r.ok) r.error = fmt::format("HTTP {}", r.http_status);
  return r;
}

nlohmann::json webhook_body(const store::Event& e) {
  return {{"id", e.id}, {"source", "kiln"}, {"kind", e.kind}, {"jobId", e.job_id},
          {"at", e.created_at}, {"detail", e.payload}};
}

std::string slack_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

nlohmann::json slack_body(const store::Event& e) {
  // Everything but our own wording comes from events (node names, error messages quoting input
  // paths), so it is escaped: "<!channel>" in a file name must not notify a whole channel.
  const auto& node = e.payload.contains("node") && e.payload["node"].is_string() ? e.payload["node"].get<std::string>()
                                                                                   : std::string("?");
  std::string subject = e.job_id ? fmt::format("job {}", e.job_id) : fmt::format("node {}", node);
  std::string why = e.payload.contains("error")
                        ? e.payload["error"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                        : "";
  return {{"text", fmt::format(":rotating_light: Kiln {}: {} {}", slack_escape(e.kind), slack_escape(subject),
                               slack_escape(why))}};
}

nlohmann::json alertmanager_body(const std::vector<Alert>& alerts, const std::string& ends_at) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : alerts)
    out.push_back({{"labels", a.labels}, {"annotations", a.annotations}, {"endsAt", ends_at}});
  return out;
}

}  // namespace kiln::alert
