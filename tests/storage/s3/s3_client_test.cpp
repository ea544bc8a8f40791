// The S3 client against a real S3 server on loopback (s3rver, see tests/storage/s3rver/launch.js
// for its differences from AWS), and through a TCP proxy for the faults a network has.
#include "storage/s3/s3_client.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "log.hpp"
#include "metrics/registry.hpp"
#include "support/run.hpp"
#include "support/s3rver.hpp"
#include "support/tcp_proxy.hpp"

namespace kiln::storage::s3 {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::eventually;
using test::S3rver;
using test::TcpProxy;

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

void write_file(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

/// A counter the client exports (the family exists once the client has touched it, or now).
double counter(const std::string& name, std::vector<std::string> label_names = {}, metrics::Labels labels = {}) {
  return metrics::default_registry().counter(name, "", std::move(label_names)).counter(labels).value();
}

/// Every message logged to the "s3" logger, for tests that wait on a degraded mode's warning.
class LineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  bool contains(const std::string& text) {
    std::lock_guard lock(mutex_);
    for (const auto& l : lines_)
      if (l.find(text) != std::string::npos) return true;
    return false;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& m) override { lines_.emplace_back(m.payload.data(), m.payload.size()); }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

class S3ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!S3rver::available(&why)) GTEST_SKIP() << why;
    server_ = std::make_unique<S3rver>(tmp_ / "s3", std::vector<std::string>{"bkt"});
  }

  ClientOptions options(const std::string& endpoint, const std::string& secret = S3rver::kSecret,
                        const std::string& key_id = S3rver::kAccessKey) const {
    ClientOptions o;
    o.target.endpoint = *parse_endpoint(endpoint);
    o.target.region = "us-east-1";
    o.target.path_style = true;
    o.target.bucket = "bkt";
    o.target.credentials.access_key_id = key_id;
    o.target.credentials.secret_access_key = Secret(secret);
    o.target.credentials.source = "the test";
    o.retry = {4, 10ms, 100ms};
    o.transport.connect_timeout = 5000ms;
    return o;
  }
  S3Client client() const { return S3Client(options(server_->endpoint())); }

  test::TempDir tmp_;
  std::unique_ptr<S3rver> server_;
};

TEST_F(S3ClientTest, OddKeysRoundTripWithTheirHeadersAndListInPages) {
  S3Client c = client();
  // s3rver escapes '&' and '<' twice in listings (AWS once): such keys are put, read and deleted
  // here but listed only under "odd/", which the listing below does not compare.
  const std::vector<std::string> keys = {"in/a file.mp4", "in/ключ ü.mp4", "in/a+b=c.mp4", "in/x(1)!.mp4",
                                         "in/deep/er/z.mp4", "odd/a&b<c>.mp4"};
  for (size_t i = 0; i < keys.size(); ++i) {
    auto put = c.put(keys[i], "body " + keys[i], {"video/mp4", "max-age=60"});
    ASSERT_TRUE(put) << keys[i] << ": " << put.status().message();
    EXPECT_EQ(put->etag, md5_hex("body " + keys[i]));
  }
  for (const auto& k : keys) EXPECT_EQ(c.get(k).value_or("<error>"), "body " + k) << k;
  auto head = c.head(keys[0]);
  ASSERT_TRUE(head) << head.status().message();
  EXPECT_EQ(head->size, ("body " + keys[0]).size());
  EXPECT_EQ(head->content_type, "video/mp4");
  EXPECT_EQ(head->cache_control, "max-age=60");
  EXPECT_EQ(c.get(keys[0], ByteRange{5, 6}).value_or(""), "in");

  ASSERT_TRUE(c.put("other/x", "x"));
  auto listed = c.list("in/", SIZE_MAX, 2);  // three pages of two
  ASSERT_TRUE(listed) << listed.status().message();
  std::vector<std::string> names;
  for (const auto& o : *listed) names.push_back(o.key);
  std::vector<std::string> want(keys.begin(), keys.end() - 1);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(names, want);
  EXPECT_EQ(c.list("in/", 3)->size(), 3u);

  ASSERT_TRUE(c.remove(keys[0]).is_ok());
  EXPECT_EQ(c.head(keys[0]).status().code(), Code::kInputMissing);
  EXPECT_EQ(c.get(keys[0]).status().code(), Code::kInputMissing);
  Status many = c.remove_many({keys.begin() + 1, keys.end()});
  ASSERT_TRUE(many.is_ok()) << many.message();
  EXPECT_TRUE(c.list("in/")->empty());
  EXPECT_TRUE(c.list("odd/")->empty());
}

// What ingest needs: a listing that resumes after a key (a poll that restarted), a copy (an
// upload moved when its job completes) and tags merged into the object's own.
TEST_F(S3ClientTest, ListingResumesAfterAKeyAndCopiesAndTagsWork) {
  S3Client c = client();
  for (const char* k : {"in/a.mp4", "in/b.mp4", "in/c.mp4", "in/d.mp4"}) ASSERT_TRUE(c.put(k, k));
  auto first = c.list_page("in/", "", "", 2);
  ASSERT_TRUE(first) << first.status().message();
  ASSERT_EQ(first->objects.size(), 2u);
  EXPECT_TRUE(first->truncated);
  EXPECT_EQ(first->objects[1].etag, md5_hex("in/b.mp4"));
  auto rest = c.list_page("in/", first->objects.back().key, "", 10);
  ASSERT_TRUE(rest) << rest.status().message();
  ASSERT_EQ(rest->objects.size(), 2u);
  EXPECT_EQ(rest->objects[0].key, "in/c.mp4");
  EXPECT_FALSE(rest->truncated);
  auto by_token = c.list_page("in/", "", first->next_token, 10);
  ASSERT_TRUE(by_token) << by_token.status().message();
  EXPECT_EQ(by_token->objects.size(), 2u);

  auto copied = c.copy("in/a b.mp4", "done/x.mp4");
  EXPECT_EQ(copied.status().code(), Code::kInputMissing) << copied.status().message();
  ASSERT_TRUE(c.copy("in/a.mp4", "done/a.mp4", md5_hex("in/a.mp4")));
  EXPECT_EQ(c.get("done/a.mp4").value_or(""), "in/a.mp4");

  EXPECT_TRUE(c.get_tags("in/a.mp4")->empty());
  ASSERT_TRUE(c.put_tags("in/a.mp4", {{"owner", "news & sport"}, {"kiln-status", "complete"}}).is_ok());
  auto tags = c.get_tags("in/a.mp4");
  ASSERT_TRUE(tags) << tags.status().message();
  EXPECT_EQ(*tags, (Tags{{"owner", "news & sport"}, {"kiln-status", "complete"}}));
  EXPECT_EQ(c.get_tags("in/nothing.mp4").status().code(), Code::kInputMissing);
}

// s3rver lets unsigned requests through: only a signed request is checked, so this is the test
// that proves Kiln's requests are signed, and signed right (a good secret passes above).
TEST_F(S3ClientTest, AWrongSecretIsRefusedAndSaysSoWithoutTheSecret) {
  S3Client bad(options(server_->endpoint(), "not-the-real-secret"));
  auto put = bad.put("in/x.mp4", "x");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.status().code(), Code::kStorageBadSecret);
  EXPECT_NE(put.status().message().find("secret access key for 'S3RVER'"), std::string::npos) << put.status().message();
  EXPECT_EQ(put.status().message().find("not-the-real-secret"), std::string::npos);
  EXPECT_EQ(client().head("in/x.mp4").status().code(), Code::kInputMissing);  // nothing was stored
  EXPECT_EQ(bad.list("").status().code(), Code::kStorageBadSecret);
  // A HEAD's 403 has no body to say why: the client asks again with a one-byte GET, which does.
  ASSERT_TRUE(client().put("in/there.mp4", "x"));
  auto head = bad.head("in/there.mp4");
  EXPECT_EQ(head.status().code(), Code::kStorageBadSecret) << head.status().message();
  EXPECT_NE(head.status().message().find("'S3RVER'"), std::string::npos) << head.status().message();
}

TEST_F(S3ClientTest, AWrongKeyAMissingBucketAndASkewedClockEachSayWhatIsWrong) {
  auto key = S3Client(options(server_->endpoint(), S3rver::kSecret, "AKIDUNKNOWN")).list("");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.status().code(), Code::kStorageBadKey);
  EXPECT_NE(key.status().message().find("'AKIDUNKNOWN'"), std::string::npos) << key.status().message();

  ClientOptions o = options(server_->endpoint());
  o.target.bucket = "no-such-bucket";
  auto bucket = S3Client(o).put("k", "x");
  ASSERT_FALSE(bucket);
  EXPECT_EQ(bucket.status().code(), Code::kStorageNoBucket);
  EXPECT_NE(bucket.status().message().find("bucket 'no-such-bucket' does not exist"), std::string::npos);

  ClientOptions skewed = options(server_->endpoint());
  skewed.now = [] { return std::chrono::system_clock::now() + 1h; };
  auto skew = S3Client(skewed).list("");
  ASSERT_FALSE(skew);
  EXPECT_EQ(skew.status().code(), Code::kStorageClockSkew);
  EXPECT_NE(skew.status().message().find("clock"), std::string::npos);
}

TEST_F(S3ClientTest, AnUnreachableEndpointIsTriedAgainThenNamed) {
  std::string endpoint = "http://127.0.0.1:" + std::to_string(test::free_port());
  auto r = S3Client(options(endpoint)).list("");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kStorageUnreachable);
  EXPECT_NE(r.status().message().find("endpoint unreachable: " + endpoint + " after 4 tries"), std::string::npos)
      << r.status().message();
}

TEST_F(S3ClientTest, MultipartWithSmallPartsReadsBackIdentical) {
  // s3rver takes parts under 5 MiB (AWS would not), so a small file makes many parts here.
  ClientOptions o = options(server_->endpoint());
  o.part_size = 64 * 1024;
  o.concurrency = 4;
  S3Client c(o);
  const std::string bytes = random_bytes(1024 * 1024 + 123, 7);  // 17 parts, the last short
  write_file(tmp_ / "src.bin", bytes);
  auto up = c.upload_file((tmp_ / "src.bin").string(), "out/big.bin", {"application/octet-stream", ""});
  ASSERT_TRUE(up) << up.status().message();
  EXPECT_EQ(up->size, bytes.size());
  EXPECT_EQ(c.head("out/big.bin")->size, bytes.size());
  auto down = c.download_to_file("out/big.bin", (tmp_ / "back.bin").string());
  ASSERT_TRUE(down) << down.status().message();
  EXPECT_TRUE(test::read_file(tmp_ / "back.bin") == bytes);
  EXPECT_TRUE(server_->open_uploads("bkt").empty());
}

TEST_F(S3ClientTest, APresignedUrlWorksWithPlainCurlAndATamperedOneIsRefused) {
  S3Client c = client();
  const std::string bytes = random_bytes(5000, 3);
  ASSERT_TRUE(c.put("share/a b.bin", bytes));
  ASSERT_TRUE(c.put("share/other.bin", "other"));
  auto fetch = [&](const std::string& url) {
    fs::path out = tmp_ / "fetched";
    fs::remove(out);
    std::string cmd = "curl -s -o '" + out.string() + "' -w '%{http_code}' '" + url + "'";
    FILE* p = ::popen(cmd.c_str(), "r");
    char code[8] = {0};
    size_t n = std::fread(code, 1, sizeof code - 1, p);
    ::pclose(p);
    return std::make_pair(std::string(code, n), test::read_file(out));
  };
  std::string url = c.presign_get("share/a b.bin", 10min);
  EXPECT_NE(url.find("/bkt/share/a%20b.bin?"), std::string::npos) << url;
  auto [code, body] = fetch(url);
  EXPECT_EQ(code, "200");
  EXPECT_TRUE(body == bytes);

  std::string tampered = url;
  size_t sig = tampered.find("X-Amz-Signature=") + 16;
  tampered[sig] = tampered[sig] == '0' ? '1' : '0';
  auto [code2, body2] = fetch(tampered);
  EXPECT_EQ(code2, "403");
  EXPECT_NE(body2.find("SignatureDoesNotMatch"), std::string::npos) << body2;

  std::string other = url;  // the same signature for another object
  other.replace(other.find("a%20b.bin"), 9, "other.bin");
  EXPECT_EQ(fetch(other).first, "403");
}

TEST_F(S3ClientTest, ADownloadCutMidwayResumesWithARangeAndIsIdentical) {
  S3Client direct = client();
  const std::string bytes = random_bytes(2 * 1024 * 1024, 11);
  ASSERT_TRUE(direct.put("in/src.mp4", bytes));
  TcpProxy proxy(server_->port());
  proxy.cut_after(700 * 1000);  // headers and ~0.7 MB of the body, then the connection drops
  S3Client c(options("http://127.0.0.1:" + std::to_string(proxy.port())));
  const double resumes = counter("kiln_s3_download_resumes_total");
  auto r = c.download_to_file("in/src.mp4", (tmp_ / "dst.mp4").string());
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(counter("kiln_s3_download_resumes_total"), resumes + 1);
  EXPECT_EQ(r->size, bytes.size());
  EXPECT_TRUE(test::read_file(tmp_ / "dst.mp4") == bytes);
  EXPECT_FALSE(fs::exists(tmp_ / "dst.mp4.part"));
  auto heads = proxy.request_heads();
  ASSERT_EQ(heads.size(), 2u);
  std::string resume = heads[1];
  std::transform(resume.begin(), resume.end(), resume.begin(), [](unsigned char ch) { return std::tolower(ch); });
  EXPECT_NE(resume.find("range: bytes="), std::string::npos) << resume;
  EXPECT_EQ(resume.find("range: bytes=0-"), std::string::npos) << resume;  // from where it stopped
  EXPECT_NE(resume.find("if-match: \"" + md5_hex(bytes) + "\""), std::string::npos) << resume;
}

TEST_F(S3ClientTest, AnObjectReplacedBeforeTheResumeIsAnErrorNotASplicedFile) {
  S3Client direct = client();
  ASSERT_TRUE(direct.put("in/src.mp4", random_bytes(1024 * 1024, 1)));
  TcpProxy proxy(server_->port());
  proxy.cut_after(300 * 1000);
  proxy.hold_new_connections(1);  // the first GET goes through and is cut; its resume waits
  S3Client c(options("http://127.0.0.1:" + std::to_string(proxy.port())));
  Result<ObjectInfo> r = Status(Code::kInternal, "not run");
  std::thread t([&] { r = c.download_to_file("in/src.mp4", (tmp_ / "dst.mp4").string()); });
  bool resumed = eventually([&] { return proxy.held_connections() == 1; }, 30s);
  ASSERT_TRUE(direct.put("in/src.mp4", random_bytes(1024 * 1024, 2)));
  proxy.release();
  t.join();
  ASSERT_TRUE(resumed);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kStorage);
  EXPECT_NE(r.status().message().find("changed during the download"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(tmp_ / "dst.mp4"));
  EXPECT_FALSE(fs::exists(tmp_ / "dst.mp4.part"));
}

TEST_F(S3ClientTest, A503SlowDownIsTriedAgainAndOther4xxAreNot) {
  TcpProxy proxy(server_->port());
  S3Client c(options("http://127.0.0.1:" + std::to_string(proxy.port())));
  proxy.answer_next(TcpProxy::s3_error(503, "Slow Down", "SlowDown", "Please reduce your request rate."));
  const double retries = counter("kiln_s3_retries_total", {"reason"}, {"SlowDown"});
  auto put = c.put("in/x", "payload");
  ASSERT_TRUE(put) << put.status().message();
  EXPECT_EQ(proxy.answered_here(), 1);
  EXPECT_EQ(counter("kiln_s3_retries_total", {"reason"}, {"SlowDown"}), retries + 1);
  EXPECT_EQ(client().get("in/x").value_or(""), "payload");

  S3Client fresh(options("http://127.0.0.1:" + std::to_string(proxy.port())));
  int before = proxy.connections();
  proxy.answer_next(TcpProxy::s3_error(403, "Forbidden", "AccessDenied", "Access Denied"));
  auto denied = fresh.put("in/y", "payload");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.status().code(), Code::kStorageDenied);
  EXPECT_EQ(proxy.connections() - before, 1);  // asked once, never again
}

TEST_F(S3ClientTest, AServerEchoingTheSecretDoesNotPutItInTheMessage) {
  TcpProxy proxy(server_->port());
  S3Client c(options("http://127.0.0.1:" + std::to_string(proxy.port())));
  proxy.answer_next(TcpProxy::s3_error(400, "Bad Request", "InvalidRequest",
                                       std::string("bad header: secret=") + S3rver::kSecret + "-and-more"));
  auto r = c.put("in/z", "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().message().find(S3rver::kSecret), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[redacted]-and-more"), std::string::npos) << r.status().message();
}

TEST_F(S3ClientTest, TheServerKilledMidMultipartFailsTheUploadAndLeavesNoParts) {
  auto sink = std::make_shared<LineSink>();
  logger("s3")->sinks().push_back(sink);
  TcpProxy proxy(server_->port());
  ClientOptions o = options("http://127.0.0.1:" + std::to_string(proxy.port()));
  o.part_size = 64 * 1024;
  o.concurrency = 2;
  o.retry = {3, 10ms, 50ms};
  o.abort_retry = {300, 20ms, 100ms};  // patient enough to outlast the restart below
  S3Client c(o);
  write_file(tmp_ / "src.bin", random_bytes(2 * 1024 * 1024, 5));
  const double aborts = counter("kiln_s3_multipart_aborts_total", {"result"}, {"ok"});
  proxy.hold_uploads_after(300 * 1000);  // a few parts reach the server, then uploads stall
  Result<ObjectInfo> r = Status(Code::kInternal, "not run");
  std::thread t([&] { r = c.upload_file((tmp_ / "src.bin").string(), "out/big.bin"); });
  bool stalled = eventually([&] { return proxy.holding() && !server_->open_uploads("bkt").empty(); }, 30s);
  server_->kill();
  proxy.release();  // the held bytes meet a dead server; new connections find none
  bool aborting = eventually([&] { return sink->contains("aborting multipart upload"); }, 60s);
  server_->restart();
  t.join();
  logger("s3")->sinks().pop_back();
  ASSERT_TRUE(stalled);
  ASSERT_TRUE(aborting);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kStorageUnreachable) << r.status().message();
  EXPECT_NE(r.status().message().find("the multipart upload was aborted, no parts are left"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(server_->open_uploads("bkt").empty());
  EXPECT_EQ(client().head("out/big.bin").status().code(), Code::kInputMissing);
  EXPECT_EQ(counter("kiln_s3_multipart_aborts_total", {"result"}, {"ok"}), aborts + 1);
}

TEST_F(S3ClientTest, APutWhoseETagIsNotTheBodysMd5IsAnError) {
  TcpProxy proxy(server_->port());
  S3Client c(options("http://127.0.0.1:" + std::to_string(proxy.port())));
  // What a store that changed the bytes on the way would answer.
  proxy.answer_next("HTTP/1.1 200 OK\r\nETag: \"0123456789abcdef0123456789abcdef\"\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n");
  auto r = c.put("in/x", "payload");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Code::kStorage);
  EXPECT_NE(r.status().message().find("is not the MD5 of what was sent (" + md5_hex("payload") + ")"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace kiln::storage::s3
