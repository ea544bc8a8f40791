#include "coordinator/ingest/s3_event.hpp"

#include <fmt/format.h>

#include <cctype>

namespace kiln::coordinator::ingest {
namespace {

Status bad(const std::string& what) { return Status(Code::kUsage, what); }

std::string strip_quotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

/// A field that is a string; "" when absent or of another type.
std::string text(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<ObjectEvent> parse_record(const nlohmann::json& r, size_t i) {
  std::string where = fmt::format("Records[{}]", i);
  if (!r.is_object()) return bad(where + " is not an object");
  ObjectEvent e;
  e.source = text(r, "eventSource");
  e.name = text(r, "eventName");
  if (e.name.rfind("s3:", 0) == 0) e.name = e.name.substr(3);  // MinIO (and older RGW) prefix it
  if (e.name.empty()) return bad(where + ".eventName is missing");
  auto s3 = r.find("s3");
  if (s3 == r.end() || !s3->is_object()) return bad(where + ".s3 is missing");
  auto bucket = s3->find("bucket");
  auto object = s3->find("object");
  if (bucket == s3->end() || !bucket->is_object() || text(*bucket, "name").empty())
    return bad(where + ".s3.bucket.name is missing");
  if (object == s3->end() || !object->is_object() || text(*object, "key").empty())
    return bad(where + ".s3.object.key is missing");
  e.bucket = text(*bucket, "name");
  e.key = text(*object, "key");
  for (const char* k : {"eTag", "etag", "ETag"})
    if (e.etag.empty()) e.etag = strip_quotes(text(*object, k));
  if (auto size = object->find("size"); size != object->end()) {
    if (size->is_number_unsigned() || size->is_number_integer()) e.size = size->get<int64_t>();
    else if (size->is_string()) e.size = std::strtoll(size->get<std::string>().c_str(), nullptr, 10);  // some RGW releases
  }
  if (e.size < 0) return bad(where + ".s3.object.size is negative");
  return e;
}

Result<EventBody> parse_records(const nlohmann::json& records, size_t max_records) {
  if (!records.is_array()) return bad("'Records' is not an array");
  if (records.size() > max_records)
    return bad(fmt::format("{} records in one body; at most {} are taken (send fewer per request)", records.size(),
                           max_records));
  EventBody out;
  for (size_t i = 0; i < records.size(); ++i) {
    auto e = parse_record(records[i], i);
    if (!e) return e.status();
    out.records.push_back(std::move(e).value());
  }
  return out;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

}  // namespace

Result<EventBody> parse_event_body(const nlohmann::json& body, size_t max_records) {
  if (!body.is_object()) return bad("the body is not a JSON object");
  if (body.contains("Records")) return parse_records(body["Records"], max_records);
  // S3's own test message when a notification configuration is saved.
  if (text(body, "Event") == "s3:TestEvent") {
    EventBody out;
    out.kind = EventBody::Kind::kTestEvent;
    return out;
  }
  // SNS (how AWS S3 reaches an HTTPS endpoint): the S3 body is a string in "Message".
  const std::string type = text(body, "Type");
  if (type == "SubscriptionConfirmation") {
    EventBody out;
    out.kind = EventBody::Kind::kSubscriptionConfirmation;
    out.topic = text(body, "TopicArn");
    out.subscribe_url = text(body, "SubscribeURL");
    return out;
  }
  if (type == "Notification") {
    nlohmann::json inner = nlohmann::json::parse(text(body, "Message"), nullptr, false);
    if (inner.is_discarded() || !inner.is_object()) return bad("an SNS Notification whose Message is not a JSON object");
    if (inner.contains("Records")) return parse_records(inner["Records"], max_records);
    if (text(inner, "Event") == "s3:TestEvent") {
      EventBody out;
      out.kind = EventBody::Kind::kTestEvent;
      return out;
    }
    return bad("an SNS Notification whose Message has no 'Records'");
  }
  return bad("no 'Records' array: not an S3 event notification (AWS, MinIO webhook, Ceph RGW push, or SNS)");
}

Result<std::string> decode_event_key(std::string_view key, EventKeys mode, std::string_view source) {
  bool url = mode == EventKeys::kUrl || (mode == EventKeys::kAuto && (source == "aws:s3" || source == "minio:s3"));
  if (!url) return std::string(key);
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    char c = key[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      const bool whole = i + 2 < key.size();
      const int hi = whole ? hex(key[i + 1]) : -1, lo = whole ? hex(key[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return bad(fmt::format("event key '{}': a '%' not followed by two hex digits (is it URL-encoded? "
                               "event_keys = \"raw\" takes keys as sent)", key));
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  if (out.find('\0') != std::string::npos) return bad(fmt::format("event key '{}' decodes to a NUL byte", key));
  return out;
}

}  // namespace kiln::coordinator::ingest
