// S3 event notification bodies as each store sends them. The samples are the stores' own
// documented examples (shortened only where noted), so a store's quirk is a test here:
// - AWS S3: the "Event message structure" example of the S3 user guide; keys URL-encoded
//   (form encoding, a space is '+'); reaches HTTPS through SNS, which wraps it (Notification,
//   SubscriptionConfirmation) and S3 sends an s3:TestEvent when notifications are set up.
// - MinIO (webhook target): the example of MinIO's bucket notification guide: "s3:"-prefixed
//   event names, eventSource minio:s3, EventName and Key beside Records, keys URL-encoded.
// - Ceph RGW (HTTP push endpoint): the example of Ceph's "Bucket Notifications" page:
//   eventSource ceph:s3, keys as stored (not encoded), size a string in some releases.
// - s3rver (the tests' server, tests/storage/s3rver): eventSource aws:s3 but keys not encoded,
//   a completed multipart upload reported as ObjectCreated:Post, a copy without an eTag.
#include "coordinator/ingest/s3_event.hpp"

#include <gtest/gtest.h>

namespace kiln::coordinator::ingest {
namespace {

const char* kAws = R"({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-west-2",
 "eventTime":"1970-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put",
 "userIdentity":{"principalId":"AIDAJDPLRKLG7UEXAMPLE"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},
 "responseElements":{"x-amz-request-id":"C3D13FE58DE4C810","x-amz-id-2":"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
 "s3":{"s3SchemaVersion":"1.0","configurationId":"testConfigRule",
  "bucket":{"name":"amzn-s3-demo-bucket","ownerIdentity":{"principalId":"A3NL1KOZZKExample"},"arn":"arn:aws:s3:::amzn-s3-demo-bucket"},
  "object":{"key":"uploads/Happy+Face%28v2%29.mp4","size":1024,"eTag":"d41d8cd98f00b204e9800998ecf8427e",
   "versionId":"096fKKXTRTtl3on89fVO.nfljtsv6qko","sequencer":"0055AED6DCD90281E5"}},
 "glacierEventData":{"restoreEventData":{"lifecycleRestorationExpiryTime":"1970-01-01T00:01:00.000Z","lifecycleRestoreStorageClass":"Standard"}}}]})";

const char* kMinio = R"({"EventName":"s3:ObjectCreated:Put","Key":"images/uploads/my+photo.mp4",
 "Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2019-09-10T17:41:54Z",
 "eventName":"s3:ObjectCreated:Put","userIdentity":{"principalId":"minio"},
 "requestParameters":{"accessKey":"minio","region":"","sourceIPAddress":"127.0.0.1"},
 "responseElements":{"content-length":"0","x-amz-request-id":"15C3249451E12784","x-minio-deployment-id":"4b0a53d6-c2b8-4ed8-88f5-c48d59fa1f94","x-minio-origin-endpoint":"http://192.168.86.115:9000"},
 "s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"images","ownerIdentity":{"principalId":"minio"},"arn":"arn:aws:s3:::images"},
  "object":{"key":"uploads/my+photo.mp4","size":248682,"eTag":"f1671feacb8bbf7b0397c6e9364e8c92","contentType":"video/mp4",
   "userMetadata":{"content-type":"video/mp4"},"versionId":"1","sequencer":"15C32494527B46C5"}},
 "source":{"host":"127.0.0.1","port":"","userAgent":"MinIO (linux; amd64) minio-go/v6.0.32 mc/DEVELOPMENT.GOGET"}}]})";

const char* kRgw = R"({"Records":[{"eventVersion":"2.1","eventSource":"ceph:s3","awsRegion":"us-east-1",
 "eventTime":"2019-11-22T13:47:35.124724Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"tester"},
 "requestParameters":{"sourceIPAddress":""},"responseElements":{"x-amz-request-id":"503a4c37-85eb-47cd-8681-2817e80b4281.5330.903595","x-amz-id-2":"14d2-zone1-zonegroup1"},
 "s3":{"s3SchemaVersion":"1.0","configurationId":"mynotif1","bucket":{"name":"mybucket1","ownerIdentity":{"principalId":"tester"},
  "arn":"arn:aws:s3:us-east-1::mybucket1","id":"503a4c37-85eb-47cd-8681-2817e80b4281.5332.38"},
  "object":{"key":"uploads/a+b 100%.mp4","size":"1024","eTag":"\"37b51d194a7513e45b56f6524f2d51f2\"","versionId":"",
   "sequencer":"F7E6D75DC742D108","metadata":[],"tags":[]}},"eventId":"1575221657.102001.80dad3aad8584778352c68ea8a9e4a1a",
 "opaqueData":"me@example.com"}]})";

// What s3rver 4.0.4 emits (lib/models/event.js) for a completed multipart upload and a copy.
const char* kS3rver = R"({"Records":[
 {"eventVersion":"2.0","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-01-01T00:00:00.000Z",
  "eventName":"ObjectCreated:Post","userIdentity":{"principalId":"AWS:ABC"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},
  "responseElements":{"x-amz-request-id":"1","x-amz-id-2":"2"},"s3":{"s3SchemaVersion":"1.0","configurationId":"testConfigId",
  "bucket":{"name":"media","ownerIdentity":{"principalId":"X"},"arn":"arn:aws:s3: : :media"},
  "object":{"key":"uploads/a+b.mp4","sequencer":"18CC","size":12,"eTag":"0123456789abcdef0123456789abcdef"}}},
 {"eventVersion":"2.0","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-01-01T00:00:00.000Z",
  "eventName":"ObjectCreated:Copy","userIdentity":{"principalId":"AWS:ABC"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},
  "responseElements":{"x-amz-request-id":"1","x-amz-id-2":"2"},"s3":{"s3SchemaVersion":"1.0","configurationId":"testConfigId",
  "bucket":{"name":"media","ownerIdentity":{"principalId":"X"},"arn":"arn:aws:s3: : :media"},
  "object":{"key":"uploads/c.mp4","sequencer":"18CD","size":12}}}]})";

EventBody parse(const std::string& text) {
  auto r = parse_event_body(nlohmann::json::parse(text), 100);
  EXPECT_TRUE(r) << r.status().message();
  return r ? *r : EventBody{};
}

TEST(S3Event, Aws) {
  EventBody b = parse(kAws);
  ASSERT_EQ(b.records.size(), 1u);
  const ObjectEvent& e = b.records[0];
  EXPECT_TRUE(e.created());
  EXPECT_EQ(e.source, "aws:s3");
  EXPECT_EQ(e.bucket, "amzn-s3-demo-bucket");
  EXPECT_EQ(e.etag, "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(e.size, 1024);
  auto key = decode_event_key(e.key, EventKeys::kAuto, e.source);
  ASSERT_TRUE(key);
  EXPECT_EQ(*key, "uploads/Happy Face(v2).mp4");
}

TEST(S3Event, Minio) {
  EventBody b = parse(kMinio);
  ASSERT_EQ(b.records.size(), 1u);
  const ObjectEvent& e = b.records[0];
  EXPECT_EQ(e.name, "ObjectCreated:Put");  // "s3:" dropped
  EXPECT_TRUE(e.created());
  EXPECT_EQ(e.bucket, "images");
  EXPECT_EQ(*decode_event_key(e.key, EventKeys::kAuto, e.source), "uploads/my photo.mp4");
}

TEST(S3Event, CephRgw) {
  EventBody b = parse(kRgw);
  ASSERT_EQ(b.records.size(), 1u);
  const ObjectEvent& e = b.records[0];
  EXPECT_EQ(e.size, 1024);  // sent as a string
  EXPECT_EQ(e.etag, "37b51d194a7513e45b56f6524f2d51f2");  // quotes dropped
  // Not encoded: '+' and '%' are themselves.
  EXPECT_EQ(*decode_event_key(e.key, EventKeys::kAuto, e.source), "uploads/a+b 100%.mp4");
}

TEST(S3Event, S3rverNeedsRawKeysAndHasCopiesWithoutETags) {
  EventBody b = parse(kS3rver);
  ASSERT_EQ(b.records.size(), 2u);
  EXPECT_EQ(b.records[0].name, "ObjectCreated:Post");
  EXPECT_TRUE(b.records[0].created());
  // s3rver says aws:s3 but sends the key as stored: event_keys = "raw" for it.
  EXPECT_EQ(*decode_event_key(b.records[0].key, EventKeys::kAuto, "aws:s3"), "uploads/a b.mp4");
  EXPECT_EQ(*decode_event_key(b.records[0].key, EventKeys::kRaw, "aws:s3"), "uploads/a+b.mp4");
  EXPECT_TRUE(b.records[1].etag.empty());
}

TEST(S3Event, SnsWrapsAwsBodies) {
  nlohmann::json sns = {{"Type", "Notification"},
                        {"MessageId", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"},
                        {"TopicArn", "arn:aws:sns:us-west-2:123456789012:MyTopic"},
                        {"Subject", "Amazon S3 Notification"},
                        {"Message", kAws}};
  auto b = parse_event_body(sns, 100);
  ASSERT_TRUE(b) << b.status().message();
  ASSERT_EQ(b->records.size(), 1u);
  EXPECT_EQ(b->records[0].etag, "d41d8cd98f00b204e9800998ecf8427e");

  nlohmann::json confirm = {{"Type", "SubscriptionConfirmation"},
                            {"TopicArn", "arn:aws:sns:us-west-2:123456789012:MyTopic"},
                            {"Token", "2336412f37f"},
                            {"SubscribeURL", "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37f"}};
  auto c = parse_event_body(confirm, 100);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, EventBody::Kind::kSubscriptionConfirmation);
  EXPECT_NE(c->subscribe_url.find("ConfirmSubscription"), std::string::npos);

  auto test = parse_event_body(nlohmann::json::parse(R"({"Service":"Amazon S3","Event":"s3:TestEvent",
    "Time":"2014-10-13T15:57:02.089Z","Bucket":"amzn-s3-demo-bucket","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw"})"), 100);
  ASSERT_TRUE(test);
  EXPECT_EQ(test->kind, EventBody::Kind::kTestEvent);
}

TEST(S3Event, OtherEventsAreNotCreations) {
  auto b = parse_event_body(nlohmann::json::parse(R"({"Records":[{"eventSource":"minio:s3",
    "eventName":"s3:ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]})"), 100);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->records[0].created());
}

TEST(S3Event, RefusesWhatIsNotAnEventAndSaysWhy) {
  struct Case {
    const char* body;
    const char* expect;
  } cases[] = {
      {R"([1, 2])", "not a JSON object"},
      {R"({"hello": "world"})", "no 'Records' array"},
      {R"({"Records": {}})", "'Records' is not an array"},
      {R"({"Records": [3]})", "Records[0] is not an object"},
      {R"({"Records": [{"eventName": "ObjectCreated:Put"}]})", "Records[0].s3 is missing"},
      {R"({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {}}}]})",
       "Records[0].s3.object.key is missing"},
      {R"({"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]})", "eventName is missing"},
      {R"({"Type": "Notification", "Message": "not json"})", "Message is not a JSON object"},
  };
  for (const auto& c : cases) {
    auto r = parse_event_body(nlohmann::json::parse(c.body), 100);
    ASSERT_FALSE(r) << c.body;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << c.body << " -> " << r.status().message();
  }
  nlohmann::json many = {{"Records", nlohmann::json::array()}};
  for (int i = 0; i < 3; ++i) many["Records"].push_back(nlohmann::json::parse(kAws)["Records"][0]);
  auto r = parse_event_body(many, 2);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("3 records in one body; at most 2"), std::string::npos);
}

TEST(S3Event, KeyDecoding) {
  EXPECT_EQ(*decode_event_key("a%2Fb+c%41", EventKeys::kUrl, "ceph:s3"), "a/b cA");
  EXPECT_EQ(*decode_event_key("a%2Fb", EventKeys::kRaw, "aws:s3"), "a%2Fb");
  EXPECT_FALSE(decode_event_key("100%.mp4", EventKeys::kUrl, "aws:s3"));
  EXPECT_FALSE(decode_event_key("a%2", EventKeys::kUrl, "aws:s3"));
  EXPECT_FALSE(decode_event_key("a%00b", EventKeys::kUrl, "aws:s3"));
}

}  // namespace
}  // namespace kiln::coordinator::ingest
