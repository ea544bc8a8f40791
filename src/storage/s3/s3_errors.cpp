#include "storage/s3/s3_errors.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace kiln::storage::s3 {
namespace {

struct ErrorRow {
  const char* s3_code;
  Code code;
  const char* advice;  // fmt: {op} {endpoint} {bucket} {region} {key_id} {source}
};

// One row per S3 error code a user can fix; each says what to check.
constexpr std::array kErrors = {
    ErrorRow{"InvalidAccessKeyId", Code::kStorageBadKey,
             "{op}: the access key id '{key_id}' (from {source}) is unknown to {endpoint}: check "
             "AWS_ACCESS_KEY_ID, the profile or the credential file, and that the endpoint is the store the "
             "key belongs to"},
    ErrorRow{"InvalidToken", Code::kStorageBadKey,
             "{op}: the session token (from {source}) is invalid: refresh AWS_SESSION_TOKEN or unset it for "
             "long-term keys"},
    ErrorRow{"ExpiredToken", Code::kStorageBadKey,
             "{op}: the session token (from {source}) has expired: get new temporary credentials"},
    ErrorRow{"SignatureDoesNotMatch", Code::kStorageBadSecret,
             "{op}: {endpoint} computed another signature: the secret access key for '{key_id}' (from {source}) "
             "is wrong; check AWS_SECRET_ACCESS_KEY, the profile or the credential file"},
    ErrorRow{"RequestTimeTooSkewed", Code::kStorageClockSkew,
             "{op}: this machine's clock is more than 15 minutes away from {endpoint}'s: set the clock (enable "
             "NTP: timedatectl set-ntp true, or chrony)"},
    ErrorRow{"RequestExpired", Code::kStorageClockSkew,
             "{op}: the request had expired on arrival: check this machine's clock (timedatectl)"},
    ErrorRow{"NoSuchBucket", Code::kStorageNoBucket,
             "{op}: bucket '{bucket}' does not exist at {endpoint}: check the location's url, its endpoint and "
             "region, or create the bucket"},
    ErrorRow{"NoSuchKey", Code::kInputMissing, "{op}: no such object in bucket '{bucket}'"},
    ErrorRow{"AccessDenied", Code::kStorageDenied,
             "{op}: access denied to '{key_id}' (from {source}): the key is valid but lacks permission; check "
             "the bucket policy and the key's IAM policy (s3:ListBucket, s3:GetObject, s3:PutObject, "
             "s3:DeleteObject, s3:AbortMultipartUpload)"},
    ErrorRow{"AllAccessDisabled", Code::kStorageDenied, "{op}: all access to bucket '{bucket}' is disabled"},
    ErrorRow{"AuthorizationHeaderMalformed", Code::kUsage,
             "{op}: the server refused the signing scope: region '{region}' is probably wrong for bucket "
             "'{bucket}'; set the location's region (or AWS_REGION)"},
    ErrorRow{"PermanentRedirect", Code::kUsage,
             "{op}: bucket '{bucket}' is not in region '{region}' at {endpoint}: set the location's region and "
             "endpoint to the bucket's"},
    ErrorRow{"PreconditionFailed", Code::kStorage,
             "{op}: the object changed while it was being read (its ETag no longer matches): read it again"},
    ErrorRow{"InvalidBucketName", Code::kUsage, "{op}: '{bucket}' is not a valid bucket name"},
};

std::string advice(const ErrorRow& row, const ErrorContext& ctx) {
  return fmt::format(fmt::runtime(row.advice), fmt::arg("op", ctx.op), fmt::arg("endpoint", ctx.endpoint),
                     fmt::arg("bucket", ctx.bucket), fmt::arg("region", ctx.region),
                     fmt::arg("key_id", ctx.access_key_id), fmt::arg("source", ctx.credentials_source));
}

const ErrorRow* find_row(std::string_view code) {
  for (const auto& r : kErrors)
    if (code == r.s3_code) return &r;
  return nullptr;
}

}  // namespace

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string xml_unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s[i];
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else if (!ent.empty() && ent[0] == '#') {
      unsigned long cp = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                             ? std::strtoul(std::string(ent.substr(2)).c_str(), nullptr, 16)
                             : std::strtoul(std::string(ent.substr(1)).c_str(), nullptr, 10);
      // UTF-8 encode the code point.
      if (cp < 0x80) out += static_cast<char>(cp);
      else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
      else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out += std::string(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

std::vector<std::string_view> xml_elements(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  std::string open(1, '<'), close("</");
  open.append(tag);
  close.append(tag);
  close += '>';
  size_t at = 0;
  while ((at = xml.find(open, at)) != std::string_view::npos) {
    size_t gt = xml.find('>', at);
    if (gt == std::string_view::npos) break;
    char after = xml[at + open.size()];
    if (after != '>' && after != ' ' && after != '/') {  // <Key> must not match <KeyCount>
      at = gt;
      continue;
    }
    if (xml[gt - 1] == '/') {  // <Tag/>
      out.emplace_back();
      at = gt + 1;
      continue;
    }
    size_t end = xml.find(close, gt);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(gt + 1, end - gt - 1));
    at = end + close.size();
  }
  return out;
}

std::string xml_text(std::string_view xml, std::string_view tag) {
  auto all = xml_elements(xml, tag);
  return all.empty() ? std::string() : xml_unescape(all.front());
}

std::optional<S3ErrorBody> parse_error_xml(std::string_view body) {
  auto err = xml_elements(body, "Error");
  if (err.empty()) return std::nullopt;
  S3ErrorBody e;
  e.code = xml_text(err.front(), "Code");
  e.message = xml_text(err.front(), "Message");
  e.request_id = xml_text(err.front(), "RequestId");
  if (e.code.empty()) return std::nullopt;
  return e;
}

Status map_http_error(int http_status, const std::optional<S3ErrorBody>& body, const ErrorContext& ctx) {
  if (body) {
    if (const ErrorRow* row = find_row(body->code)) return Status(row->code, advice(*row, ctx));
    return Status(Code::kStorage, fmt::format("{}: {} answered HTTP {} {}: {}{}", ctx.op, ctx.endpoint, http_status,
                                              body->code, body->message,
                                              body->request_id.empty() ? "" : " (request id " + body->request_id + ")"));
  }
  // No error document (a HEAD, or a proxy's page): the status alone.
  switch (http_status) {
    case 404:
      return Status(Code::kInputMissing, fmt::format("{}: not found (HTTP 404): no such object, or no bucket '{}' at {}",
                                                     ctx.op, ctx.bucket, ctx.endpoint));
    case 403:
      return Status(Code::kStorageDenied,
                    fmt::format("{}: refused (HTTP 403 with no details): a wrong key or secret, this machine's clock, "
                                "or a policy; `kiln storage check` tells which",
                                ctx.op));
    default:
      return Status(Code::kStorage, fmt::format("{}: {} answered HTTP {}", ctx.op, ctx.endpoint, http_status));
  }
}

Status map_transport_error(int curl_code, std::string_view curl_message, int attempts, const ErrorContext& ctx) {
  std::string tries = attempts == 1 ? "" : fmt::format(" after {} tries", attempts);
  switch (curl_code) {
    case CURLE_COULDNT_RESOLVE_HOST:
      return Status(Code::kStorageUnreachable,
                    fmt::format("{}: endpoint unreachable: cannot resolve the host of {}{} ({}): check the endpoint "
                                "URL and DNS",
                                ctx.op, ctx.endpoint, tries, curl_message));
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
      return Status(Code::kStorageUnreachable,
                    fmt::format("{}: TLS with {} failed{} ({}): check the endpoint's scheme (http or https) and its "
                                "certificate",
                                ctx.op, ctx.endpoint, tries, curl_message));
    default:
      return Status(Code::kStorageUnreachable,
                    fmt::format("{}: endpoint unreachable: {}{} ({}): check the endpoint URL, that the server runs, "
                                "and the network between",
                                ctx.op, ctx.endpoint, tries, curl_message));
  }
}

bool retryable_http(int http_status, std::string_view s3_code) {
  static constexpr std::array<std::string_view, 6> kRetryCodes = {
      "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "RequestLimitExceeded"};
  if (http_status >= 500 || http_status == 429) return true;
  return std::find(kRetryCodes.begin(), kRetryCodes.end(), s3_code) != kRetryCodes.end();
}

bool retryable_transport(int curl_code) {
  switch (curl_code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double u) {
  double ceiling = static_cast<double>(policy.base.count()) * std::pow(2.0, std::max(0, retry - 1));
  ceiling = std::min(ceiling, static_cast<double>(policy.cap.count()));
  return std::chrono::milliseconds(static_cast<long long>(std::clamp(u, 0.0, 1.0) * ceiling));
}

}  // namespace kiln::storage::s3
