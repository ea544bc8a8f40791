#pragma once
// What an S3 failure means and whether to try again: the error XML's codes mapped to Status
// codes and messages that say what to check (a data table), the retry classification, and the
// backoff with full jitter. Pure functions, thread-safe.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.hpp"

namespace kiln::storage::s3 {

/// `<Error>` as S3 sends it (values unescaped).
struct S3ErrorBody {
  std::string code;     // "NoSuchBucket"
  std::string message;  // the server's words
  std::string request_id;
};

/// The `<Error>` document in `body`, or nullopt when there is none (a HEAD, an HTML page).
std::optional<S3ErrorBody> parse_error_xml(std::string_view body);

/// XML text helpers for the few documents S3 sends and takes.
std::string xml_escape(std::string_view s);
std::string xml_unescape(std::string_view s);
/// The contents of each `<tag>...</tag>` in `xml` (not nested in one another), in order.
std::vector<std::string_view> xml_elements(std::string_view xml, std::string_view tag);
/// The unescaped text of the first `<tag>`, or "" when absent.
std::string xml_text(std::string_view xml, std::string_view tag);

/// What a message names: the operation, where, and with which key id.
struct ErrorContext {
  std::string op;             // "PUT s3://bucket/key"
  std::string endpoint;       // "http://127.0.0.1:9000"
  std::string bucket;
  std::string region;
  std::string access_key_id;
  std::string credentials_source;
};

/// The Status for an HTTP error response: a known S3 code gets its own Status code and a
/// message saying what to check; anything else is kStorage with the server's code and words.
/// A response without an error body (HEAD) is judged by its status alone.
Status map_http_error(int http_status, const std::optional<S3ErrorBody>& body, const ErrorContext& ctx);

/// The Status for a request that got no HTTP answer (connect, DNS, TLS, a dropped connection,
/// a timeout) after `attempts` tries: kStorageUnreachable saying what to check.
Status map_transport_error(int curl_code, std::string_view curl_message, int attempts, const ErrorContext& ctx);

/// Worth another try: 5xx, 429, and the 4xx codes S3 means as "slow down" or "try again"
/// (SlowDown, RequestTimeout, InternalError...). Never any other 4xx.
bool retryable_http(int http_status, std::string_view s3_code);
/// Worth another try: no connection, a connection dropped or timed out, an empty reply.
bool retryable_transport(int curl_code);

struct RetryPolicy {
  int max_attempts = 5;                     // tries in all, the first included
  std::chrono::milliseconds base{200};      // the first backoff's ceiling
  std::chrono::milliseconds cap{10000};     // no backoff ceiling above this
};

/// Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(retry - 1))], where
/// `retry` is 1 for the first retry and `u` is uniform in [0, 1).
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double u);

}  // namespace kiln::storage::s3
