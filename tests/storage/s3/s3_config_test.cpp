// s3:// URLs, endpoints, region and the addressing choice (path-style where BUCKET.host
// cannot work, as the AWS SDKs decide), resolved against a fake environment.
#include "storage/s3/s3_config.hpp"

#include <gtest/gtest.h>

#include <map>

namespace kiln::storage::s3 {
namespace {

Env env_of(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

const std::map<std::string, std::string> kKeys = {{"AWS_ACCESS_KEY_ID", "AKID"}, {"AWS_SECRET_ACCESS_KEY", "s"}};

TEST(S3Url, BucketAndPrefix) {
  auto c = parse_s3_url("s3://media-in/uploads/2024/");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->bucket, "media-in");
  EXPECT_EQ(c->prefix, "uploads/2024/");
  EXPECT_EQ(c->key("a b.mp4"), "uploads/2024/a b.mp4");
  auto bare = parse_s3_url("s3://media-in");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->prefix, "");
  EXPECT_EQ(bare->key("/x.mp4"), "x.mp4");
  auto no_slash = parse_s3_url("s3://media-in/out");
  ASSERT_TRUE(no_slash);
  EXPECT_EQ(no_slash->key("x"), "out/x");
  for (const char* bad : {"http://b/p", "s3://", "s3://UPPER/p", "s3://ab", "s3://b_b/p", "s3://bkt/a//b", "s3://bkt/../x",
                          "s3://-bkt/x"})
    EXPECT_FALSE(parse_s3_url(bad)) << bad;
}

TEST(S3Endpoint, ParsesSchemeHostAndPort) {
  auto e = parse_endpoint("http://127.0.0.1:9000");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 9000);
  EXPECT_EQ(e->authority(), "127.0.0.1:9000");
  auto v6 = parse_endpoint("http://[::1]:9000/");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_EQ(v6->authority(), "[::1]:9000");
  auto https = parse_endpoint("https://S3.Example.com:443");
  ASSERT_TRUE(https);
  EXPECT_EQ(https->authority(), "s3.example.com");  // the default port is not written
  for (const char* bad : {"127.0.0.1:9000", "ftp://h", "http://", "http://h:0", "http://h:99999", "http://h:x",
                          "http://h/path", "http://user@h", "http://h:"})
    EXPECT_FALSE(parse_endpoint(bad)) << bad;
}

TEST(S3Addressing, PathStyleForIpAndLocalhostVirtualHostElse) {
  EXPECT_TRUE(host_needs_path_style("127.0.0.1"));
  EXPECT_TRUE(host_needs_path_style("10.1.2.3"));
  EXPECT_TRUE(host_needs_path_style("[::1]"));
  EXPECT_TRUE(host_needs_path_style("localhost"));
  EXPECT_FALSE(host_needs_path_style("s3.amazonaws.com"));
  EXPECT_FALSE(host_needs_path_style("minio.internal"));
  EXPECT_FALSE(host_needs_path_style("127.0.0.1.nip.io"));

  S3Config c = *parse_s3_url("s3://bkt/p");
  c.endpoint = "http://127.0.0.1:9000";
  auto local = resolve_target(c, env_of(kKeys));
  ASSERT_TRUE(local) << local.status().message();
  EXPECT_TRUE(local->path_style);
  c.path_style = false;  // overridable both ways
  EXPECT_FALSE(resolve_target(c, env_of(kKeys))->path_style);
  c.endpoint = "https://minio.example.com";
  c.path_style.reset();
  EXPECT_FALSE(resolve_target(c, env_of(kKeys))->path_style);
  c.path_style = true;
  EXPECT_TRUE(resolve_target(c, env_of(kKeys))->path_style);
  // A dotted bucket over TLS would not match the wildcard certificate of *.host.
  S3Config dotted = *parse_s3_url("s3://media.example.org/x");
  dotted.endpoint = "https://s3.example.com";
  EXPECT_TRUE(resolve_target(dotted, env_of(kKeys))->path_style);
}

TEST(S3Target, RegionAndEndpointComeFromConfigThenEnvironmentThenAws) {
  S3Config c = *parse_s3_url("s3://bkt");
  auto aws = resolve_target(c, env_of(kKeys));
  ASSERT_TRUE(aws);
  EXPECT_EQ(aws->region, "us-east-1");
  EXPECT_EQ(aws->endpoint.url(), "https://s3.amazonaws.com");
  EXPECT_FALSE(aws->path_style);

  auto vars = kKeys;
  vars["AWS_DEFAULT_REGION"] = "eu-west-1";
  EXPECT_EQ(resolve_target(c, env_of(vars))->endpoint.url(), "https://s3.eu-west-1.amazonaws.com");
  vars["AWS_REGION"] = "eu-central-1";
  EXPECT_EQ(resolve_target(c, env_of(vars))->region, "eu-central-1");
  vars["AWS_ENDPOINT_URL"] = "http://localhost:9000";
  auto env_endpoint = resolve_target(c, env_of(vars));
  EXPECT_EQ(env_endpoint->endpoint.url(), "http://localhost:9000");
  EXPECT_TRUE(env_endpoint->path_style);
  c.region = "auto";
  c.endpoint = "https://acct.r2.cloudflarestorage.com";
  auto configured = resolve_target(c, env_of(vars));
  EXPECT_EQ(configured->region, "auto");
  EXPECT_EQ(configured->endpoint.host, "acct.r2.cloudflarestorage.com");

  c.endpoint = "s3.example.com";  // no scheme
  auto bad = resolve_target(c, env_of(vars));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("no scheme"), std::string::npos);
}

}  // namespace
}  // namespace kiln::storage::s3
