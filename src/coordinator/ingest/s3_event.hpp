#pragma once
// S3 event notifications as the stores send them, taken apart. Pure functions: thread-safe.
//
// Every store sends the `Records[]` shape AWS defined (one record per object event), with
// differences this parser absorbs (each named in s3_event.cpp and in the unit test's samples):
// - AWS S3 reaches an HTTPS endpoint through SNS, which wraps the body: {"Type": "Notification",
//   "Message": "<the Records[] body as a string>"}; before that, SNS sends a
//   SubscriptionConfirmation, and S3 itself sends an s3:TestEvent when notifications are set up.
//   AWS URL-encodes object keys in events (form encoding: a space is '+').
// - MinIO (webhook target) sends Records[] with "EventName" and "Key" beside it, event names
//   prefixed "s3:" ("s3:ObjectCreated:Put"), eventSource "minio:s3"; keys URL-encoded as AWS.
// - Ceph RGW (HTTP push endpoint) sends eventSource "ceph:s3", keys as stored (not encoded),
//   and in some releases the size as a string.
// - s3rver (the tests' server) says eventSource "aws:s3" but does not encode keys, and reports
//   a completed multipart upload as ObjectCreated:Post and a copy without an eTag.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/ingest/watch_rule.hpp"
#include "kiln/status.hpp"

namespace kiln::coordinator::ingest {

/// One record.
struct ObjectEvent {
  std::string source;  // eventSource: aws:s3, minio:s3, ceph:s3
  std::string name;    // eventName without a leading "s3:": ObjectCreated:Put, ObjectRemoved:Delete
  std::string bucket;
  std::string key;     // as sent (see decode_event_key)
  std::string etag;    // without quotes; "" when the record has none
  int64_t size = 0;

  bool created() const { return name.rfind("ObjectCreated:", 0) == 0; }
};

/// What a body was.
struct EventBody {
  enum class Kind { kRecords, kTestEvent, kSubscriptionConfirmation };
  Kind kind = Kind::kRecords;
  std::vector<ObjectEvent> records;
  std::string topic;          // SNS subscription confirmation: the topic ARN
  std::string subscribe_url;  //   and the URL that confirms it (an operator opens it; Kiln never does)
};

/// Parses a notification body (already parsed as JSON). kUsage, with a message naming the
/// field, for anything that is not one of the shapes above, or for more than `max_records`
/// records.
Result<EventBody> parse_event_body(const nlohmann::json& body, size_t max_records);

/// The object key an event names, decoded as `mode` says: url (form decoding: '+' is a space,
/// %XX a byte), raw (as sent), auto (url for aws:s3 and minio:s3, raw otherwise). kUsage for a
/// malformed %-escape or a decoded NUL.
Result<std::string> decode_event_key(std::string_view key, EventKeys mode, std::string_view source);

}  // namespace kiln::coordinator::ingest
