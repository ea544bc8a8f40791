// S3 error documents mapped to Status codes and messages that say what to check; which
// failures are worth another try; the backoff's bounds.
#include "storage/s3/s3_errors.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

namespace kiln::storage::s3 {
namespace {

ErrorContext ctx() {
  return {"PUT s3://bkt/a.mp4", "http://127.0.0.1:9000", "bkt", "us-east-1", "AKIDEXAMPLE", "environment"};
}

Status from_xml(int http, const std::string& code) {
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
                     "</Code><Message>m &amp; more</Message><RequestId>R1</RequestId></Error>";
  return map_http_error(http, parse_error_xml(body), ctx());
}

TEST(S3Errors, EachUserErrorHasItsCodeAndSaysWhatToCheck) {
  struct Case {
    int http;
    const char* s3_code;
    Code code;
    const char* says;
  };
  for (const Case& c : {
           Case{403, "InvalidAccessKeyId", Code::kStorageBadKey, "access key id 'AKIDEXAMPLE'"},
           Case{403, "SignatureDoesNotMatch", Code::kStorageBadSecret, "secret access key for 'AKIDEXAMPLE'"},
           Case{403, "RequestTimeTooSkewed", Code::kStorageClockSkew, "clock"},
           Case{404, "NoSuchBucket", Code::kStorageNoBucket, "bucket 'bkt' does not exist at http://127.0.0.1:9000"},
           Case{404, "NoSuchKey", Code::kInputMissing, "no such object"},
           Case{403, "AccessDenied", Code::kStorageDenied, "lacks permission"},
           Case{400, "AuthorizationHeaderMalformed", Code::kUsage, "region 'us-east-1'"},
           Case{400, "ExpiredToken", Code::kStorageBadKey, "session token"},
       }) {
    Status s = from_xml(c.http, c.s3_code);
    EXPECT_EQ(s.code(), c.code) << c.s3_code << ": " << s.message();
    EXPECT_NE(s.message().find(c.says), std::string::npos) << c.s3_code << ": " << s.message();
    EXPECT_EQ(s.message().rfind("PUT s3://bkt/a.mp4: ", 0), 0u) << s.message();
  }
  Status other = from_xml(400, "InvalidPart");
  EXPECT_EQ(other.code(), Code::kStorage);
  EXPECT_NE(other.message().find("HTTP 400 InvalidPart: m & more (request id R1)"), std::string::npos) << other.message();
}

TEST(S3Errors, WithoutABodyTheStatusDecides) {
  EXPECT_EQ(map_http_error(404, std::nullopt, ctx()).code(), Code::kInputMissing);
  EXPECT_EQ(map_http_error(403, std::nullopt, ctx()).code(), Code::kStorageDenied);
  EXPECT_EQ(map_http_error(418, std::nullopt, ctx()).code(), Code::kStorage);
  EXPECT_FALSE(parse_error_xml("<html>Bad Gateway</html>"));
  EXPECT_FALSE(parse_error_xml(""));
}

TEST(S3Errors, UnreachableSaysWhereAndHowOften) {
  Status s = map_transport_error(CURLE_COULDNT_CONNECT, "Failed to connect to 127.0.0.1 port 1", 5, ctx());
  EXPECT_EQ(s.code(), Code::kStorageUnreachable);
  EXPECT_NE(s.message().find("endpoint unreachable: http://127.0.0.1:9000 after 5 tries"), std::string::npos)
      << s.message();
  EXPECT_EQ(map_transport_error(CURLE_COULDNT_RESOLVE_HOST, "x", 1, ctx()).code(), Code::kStorageUnreachable);
}

TEST(S3Retry, ServerTroubleAndDroppedConnectionsOnlyNeverOther4xx) {
  EXPECT_TRUE(retryable_http(500, "InternalError"));
  EXPECT_TRUE(retryable_http(503, "SlowDown"));
  EXPECT_TRUE(retryable_http(502, ""));
  EXPECT_TRUE(retryable_http(429, ""));
  EXPECT_TRUE(retryable_http(400, "RequestTimeout"));
  for (int http : {400, 401, 403, 404, 405, 409, 412, 416}) EXPECT_FALSE(retryable_http(http, "AccessDenied")) << http;
  EXPECT_FALSE(retryable_http(403, "SignatureDoesNotMatch"));
  EXPECT_FALSE(retryable_http(403, "RequestTimeTooSkewed"));
  for (int c : {CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING,
                CURLE_PARTIAL_FILE})
    EXPECT_TRUE(retryable_transport(c)) << c;
  for (int c : {CURLE_URL_MALFORMAT, CURLE_WRITE_ERROR, CURLE_ABORTED_BY_CALLBACK, CURLE_PEER_FAILED_VERIFICATION})
    EXPECT_FALSE(retryable_transport(c)) << c;
}

TEST(S3Retry, FullJitterStaysUnderTheGrowingCeiling) {
  RetryPolicy p{8, std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
  EXPECT_EQ(backoff_delay(p, 1, 0.0).count(), 0);
  EXPECT_EQ(backoff_delay(p, 1, 0.999).count(), 99);
  EXPECT_EQ(backoff_delay(p, 2, 0.5).count(), 100);
  EXPECT_EQ(backoff_delay(p, 3, 0.5).count(), 200);
  EXPECT_EQ(backoff_delay(p, 10, 0.5).count(), 500);  // capped at 1000
  EXPECT_EQ(backoff_delay(p, 40, 1.0).count(), 1000);
}

TEST(S3Xml, ElementsAndEscapes) {
  std::string xml = "<R><KeyCount>2</KeyCount><Contents><Key>a&amp;b &#233;</Key></Contents>"
                    "<Contents><Key>c&lt;d</Key></Contents><Empty/></R>";
  auto keys = xml_elements(xml, "Key");
  ASSERT_EQ(keys.size(), 2u);  // <KeyCount> is not a <Key>
  EXPECT_EQ(xml_unescape(keys[0]), "a&b \xC3\xA9");
  EXPECT_EQ(xml_text(xml, "Contents"), "<Key>a&b é</Key>");
  EXPECT_EQ(xml_elements(xml, "Empty").size(), 1u);
  EXPECT_EQ(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
}

}  // namespace
}  // namespace kiln::storage::s3
