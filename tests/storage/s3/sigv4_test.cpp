// SigV4 against AWS's published worked examples: the four S3 requests of "Signature
// Calculations for the Authorization Header: Transferring Payload in a Single Chunk" and the
// presigned URL of "Authenticating Requests: Using Query Parameters". Same credentials, time
// and region in every one.
#include "storage/s3/sigv4.hpp"

#include <gtest/gtest.h>

namespace kiln::storage::s3 {
namespace {

Credentials example_credentials() {
  Credentials c;
  c.access_key_id = "AKIAIOSFODNN7EXAMPLE";
  c.secret_access_key = Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  return c;
}

SignScope example_scope() {
  std::tm tm{};
  tm.tm_year = 2013 - 1900;
  tm.tm_mon = 4;
  tm.tm_mday = 24;
  return {"us-east-1", "s3", std::chrono::system_clock::from_time_t(timegm(&tm))};
}

std::string header(const SignRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

TEST(Sigv4, GetObjectWithRange) {
  SignRequest r{"GET", "/test.txt", {}, {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}}};
  EXPECT_EQ(sign_headers(r, example_credentials(), example_scope()),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(header(r, "Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(header(r, "x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(header(r, "x-amz-content-sha256"), kEmptySha256);
}

TEST(Sigv4, PutObjectSignsThePayloadAndEncodesTheKey) {
  const std::string body = "Welcome to Amazon S3.";
  SignRequest r{"PUT",
                "/test$file.text",
                {},
                {{"Host", "examplebucket.s3.amazonaws.com"},
                 {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                sha256_hex(body)};
  EXPECT_EQ(r.payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(canonical_request(r).substr(0, 22), "PUT\n/test%24file.text\n");
  EXPECT_EQ(sign_headers(r, example_credentials(), example_scope()),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  EXPECT_NE(header(r, "Authorization").find("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"),
            std::string::npos);
}

TEST(Sigv4, GetBucketLifecycleHasAnEmptyQueryValue) {
  SignRequest r{"GET", "/", {{"lifecycle", ""}}, {{"Host", "examplebucket.s3.amazonaws.com"}}};
  EXPECT_EQ(sign_headers(r, example_credentials(), example_scope()),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(Sigv4, ListObjectsSortsTheQuery) {
  SignRequest r{"GET", "/", {{"prefix", "J"}, {"max-keys", "2"}}, {{"Host", "examplebucket.s3.amazonaws.com"}}};
  EXPECT_EQ(sign_headers(r, example_credentials(), example_scope()),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  EXPECT_EQ(canonical_query(r.query), "max-keys=2&prefix=J");
}

TEST(Sigv4, PresignedGetMatchesTheQueryStringExample) {
  SignRequest r{"GET", "/test.txt", {}, {{"host", "examplebucket.s3.amazonaws.com"}}};
  std::string q = presign_query(r, example_credentials(), example_scope(), std::chrono::hours(24));
  EXPECT_EQ(q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(Sigv4, ASessionTokenIsSignedInHeadersAndQuery) {
  Credentials c = example_credentials();
  c.session_token = Secret("my-session-token");
  SignRequest r{"GET", "/test.txt", {}, {{"Host", "examplebucket.s3.amazonaws.com"}}};
  std::string with = sign_headers(r, c, example_scope());
  EXPECT_EQ(header(r, "x-amz-security-token"), "my-session-token");
  EXPECT_NE(header(r, "Authorization").find("x-amz-security-token"), std::string::npos);
  SignRequest plain{"GET", "/test.txt", {}, {{"Host", "examplebucket.s3.amazonaws.com"}}};
  EXPECT_NE(with, sign_headers(plain, example_credentials(), example_scope()));
  // The presigned form carries it as a signed query parameter (AWS's second query example).
  SignRequest p{"GET", "/test.txt", {}, {{"host", "examplebucket.s3.amazonaws.com"}}};
  std::string q = presign_query(p, c, example_scope(), std::chrono::hours(24));
  EXPECT_NE(q.find("X-Amz-Security-Token=my-session-token&X-Amz-SignedHeaders=host&X-Amz-Signature="
                   "127498ec2e996f60915eba27520e69b1554fe016da1d36a3dde70f2408551d67"),
            std::string::npos)
      << q;
}

TEST(Sigv4, CanonicalUriEncodesOddKeysSegmentBySegment) {
  EXPECT_EQ(uri_encode("/b/a file.mp4", false), "/b/a%20file.mp4");
  EXPECT_EQ(uri_encode("/b/a+b=c&d", false), "/b/a%2Bb%3Dc%26d");
  EXPECT_EQ(uri_encode("/b/видео/ü.mp4", false), "/b/%D0%B2%D0%B8%D0%B4%D0%B5%D0%BE/%C3%BC.mp4");
  EXPECT_EQ(uri_encode("/b/A-z_0.9~", false), "/b/A-z_0.9~");
  EXPECT_EQ(uri_encode("a/b", true), "a%2Fb");
  EXPECT_EQ(uri_encode("100%", false), "100%25");
  EXPECT_EQ(uri_encode("!'()*", false), "%21%27%28%29%2A");
  // S3 does not normalise: an empty segment and a dot segment stay as they are.
  SignRequest r{"GET", "/b//./x y", {}, {{"host", "h"}}};
  EXPECT_EQ(canonical_request(r).substr(0, 16), "GET\n/b//./x%20y\n");
}

TEST(Sigv4, CanonicalHeadersAreLowerCaseTrimmedFoldedAndSorted) {
  SignRequest r{"GET", "/", {}, {{"Host", "h"}, {"X-Amz-Meta-A", "  two   words  "}, {"Content-Type", "t"}}};
  std::string signed_names;
  std::string c = canonical_request(r, &signed_names);
  EXPECT_EQ(signed_names, "content-type;host;x-amz-meta-a");
  EXPECT_NE(c.find("\ncontent-type:t\nhost:h\nx-amz-meta-a:two words\n\n"), std::string::npos) << c;
}

TEST(Sigv4, QueryValuesAreEncodedSlashesToo) {
  EXPECT_EQ(canonical_query({{"prefix", "a b/c+d"}, {"list-type", "2"}, {"uploads", ""}}),
            "list-type=2&prefix=a%20b%2Fc%2Bd&uploads=");
}

TEST(Sigv4, DigestsAndEncodings) {
  EXPECT_EQ(sha256_hex(""), kEmptySha256);
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  Digest d(Digest::Kind::kMd5);
  d.update("Welcome to ");
  d.update("Amazon S3.");
  EXPECT_EQ(to_hex(d.finish()), md5_hex("Welcome to Amazon S3."));
  EXPECT_EQ(to_base64("\x01\x02\x03\x04"), "AQIDBA==");
}

}  // namespace
}  // namespace kiln::storage::s3
