// `kiln storage check` and `kiln storage cp` as an operator runs them: the real binary, the
// AWS variables in its environment, a real S3 server (s3rver) on loopback, and a TCP proxy for
// what s3rver cannot say (a policy's AccessDenied, a skewed clock). Each failure has its own
// exit code (README "Exit codes").
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "storage/s3/s3_client.hpp"
#include "support/run.hpp"
#include "support/s3rver.hpp"
#include "support/tcp_proxy.hpp"

namespace kiln::storage::s3 {
namespace {
namespace fs = std::filesystem;
using test::run_kiln;
using test::S3rver;
using test::TcpProxy;

class StorageCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!S3rver::available(&why)) GTEST_SKIP() << why;
    server_ = std::make_unique<S3rver>(tmp_ / "s3", std::vector<std::string>{"bkt"});
    for (const char* v : {"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION",
                          "AWS_DEFAULT_REGION", "CREDENTIALS_DIRECTORY"})
      ::unsetenv(v);
    ::setenv("AWS_ACCESS_KEY_ID", S3rver::kAccessKey, 1);
    ::setenv("AWS_SECRET_ACCESS_KEY", S3rver::kSecret, 1);
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", (tmp_ / "no-credentials").c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("AWS_ACCESS_KEY_ID");
    ::unsetenv("AWS_SECRET_ACCESS_KEY");
    ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  }

  test::RunResult check(const std::string& target, const std::string& endpoint) {
    return run_kiln({"storage", "check", target, "--endpoint", endpoint});
  }
  S3Client client() const {
    ClientOptions o;
    o.target.endpoint = *parse_endpoint(server_->endpoint());
    o.target.region = "us-east-1";
    o.target.path_style = true;
    o.target.bucket = "bkt";
    o.target.credentials = {S3rver::kAccessKey, Secret(S3rver::kSecret), Secret(), "test"};
    return S3Client(o);
  }

  test::TempDir tmp_;
  std::unique_ptr<S3rver> server_;
};

TEST_F(StorageCheckTest, AGoodBucketPassesEveryStepAndLeavesNoProbe) {
  auto r = check("s3://bkt/probes/", server_->endpoint());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* step : {"list    ok", "write   ok", "read    ok (identical)", "delete  ok", "storage check passed"})
    EXPECT_NE(r.out.find(step), std::string::npos) << step << "\n" << r.out;
  EXPECT_NE(r.out.find("path-style"), std::string::npos) << r.out;  // 127.0.0.1: path-style by itself
  EXPECT_TRUE(client().list("probes/")->empty());
}

TEST_F(StorageCheckTest, ALocationFromAConfigFileWorksToo) {
  std::ofstream(tmp_ / "node.toml") << "[[location]]\nname = \"out\"\nurl = \"s3://bkt/ladders/\"\nendpoint = \""
                                    << server_->endpoint() << "\"\nregion = \"us-east-1\"\n";
  auto r = run_kiln({"storage", "check", "out", "--config", (tmp_ / "node.toml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("checking out: s3://bkt at " + server_->endpoint()), std::string::npos) << r.out;
  auto missing = run_kiln({"storage", "check", "nope", "--config", (tmp_ / "node.toml").string()});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find("no [[location]] named 'nope'"), std::string::npos) << missing.err;
}

// s3rver lets unsigned requests through, so a refused wrong secret shows the requests are signed.
TEST_F(StorageCheckTest, AWrongSecretExits32AndNeverPrintsTheSecret) {
  ::setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value", 1);
  auto r = check("s3://bkt/", server_->endpoint());
  EXPECT_EQ(r.exit_code, 32) << r.out << r.err;
  EXPECT_NE(r.out.find("list    FAILED"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("the secret access key for 'S3RVER'"), std::string::npos) << r.err;
  EXPECT_EQ((r.out + r.err).find("wrong-secret-value"), std::string::npos);
}

TEST_F(StorageCheckTest, AWrongKeyExits31) {
  ::setenv("AWS_ACCESS_KEY_ID", "AKIDNOTKNOWN", 1);
  auto r = check("s3://bkt/", server_->endpoint());
  EXPECT_EQ(r.exit_code, 31) << r.out << r.err;
  EXPECT_NE(r.err.find("access key id 'AKIDNOTKNOWN'"), std::string::npos) << r.err;
}

TEST_F(StorageCheckTest, AMissingBucketExits34) {
  auto r = check("s3://no-such-bucket/", server_->endpoint());
  EXPECT_EQ(r.exit_code, 34) << r.out << r.err;
  EXPECT_NE(r.err.find("bucket 'no-such-bucket' does not exist at " + server_->endpoint()), std::string::npos) << r.err;
}

TEST_F(StorageCheckTest, AnUnreachableEndpointExits30) {
  std::string endpoint = "http://127.0.0.1:" + std::to_string(test::free_port());
  auto r = check("s3://bkt/", endpoint);
  EXPECT_EQ(r.exit_code, 30) << r.out << r.err;
  EXPECT_NE(r.err.find("endpoint unreachable: " + endpoint), std::string::npos) << r.err;
}

// s3rver has no policies and checks the clock only against its own: the proxy answers as AWS
// would for a key without permission and for a machine whose clock is off.
TEST_F(StorageCheckTest, AccessDeniedExits35AndClockSkewExits33) {
  TcpProxy proxy(server_->port());
  std::string endpoint = "http://127.0.0.1:" + std::to_string(proxy.port());
  proxy.answer_next(TcpProxy::s3_error(403, "Forbidden", "AccessDenied", "Access Denied"));
  auto denied = check("s3://bkt/", endpoint);
  EXPECT_EQ(denied.exit_code, 35) << denied.out << denied.err;
  EXPECT_NE(denied.err.find("lacks permission"), std::string::npos) << denied.err;
  proxy.answer_next(TcpProxy::s3_error(403, "Forbidden", "RequestTimeTooSkewed",
                                       "The difference between the request time and the current time is too large."));
  auto skew = check("s3://bkt/", endpoint);
  EXPECT_EQ(skew.exit_code, 33) << skew.out << skew.err;
  EXPECT_NE(skew.err.find("clock"), std::string::npos) << skew.err;
}

TEST_F(StorageCheckTest, CopyUpAndDownIsByteIdentical) {
  std::string bytes(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + (i >> 9));
  std::ofstream(tmp_ / "a.bin", std::ios::binary) << bytes;
  auto up = run_kiln({"storage", "cp", (tmp_ / "a.bin").string(), "s3://bkt/cp/", "--endpoint", server_->endpoint(),
                      "--part-size", "1"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(client().head("cp/a.bin")->size, bytes.size());
  auto down = run_kiln({"storage", "cp", "s3://bkt/cp/a.bin", (tmp_ / "b.bin").string(), "--endpoint",
                        server_->endpoint()});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_TRUE(test::read_file(tmp_ / "b.bin") == bytes);
}

}  // namespace
}  // namespace kiln::storage::s3
