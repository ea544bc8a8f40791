// The tus server (core, creation, termination, expiration) and bucket uploads, against a real
// coordinator, PostgreSQL and (for buckets) s3rver; what each upload becomes: one job.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "console/console_cluster.hpp"
#include "support/s3rver.hpp"

namespace kiln::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string b64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(k[(val >> bits) & 0x3f]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(k[((val << 8) >> (bits + 8)) & 0x3f]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

class Tus : public ConsoleCluster {
 protected:
  httplib::Headers tus(const std::string& token, httplib::Headers extra = {}) {
    extra.emplace("Authorization", "Bearer " + token);
    extra.emplace("Tus-Resumable", "1.0.0");
    return extra;
  }
  /// POST /v1/uploads; returns the upload's path (Location).
  std::string create(const std::string& name, size_t length, const std::string& type = "video/mp4",
                     const std::string& ladder = "240p") {
    auto r = client().Post("/v1/uploads",
                           tus(admin_token_, {{"Upload-Length", std::to_string(length)},
                                              {"Upload-Metadata", fmt::format("filename {},filetype {},ladder {}", b64(name),
                                                                              b64(type), b64(ladder))}}),
                           "", "text/plain");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 201) << r->body;
    return r->get_header_value("Location");
  }
  httplib::Result patch(const std::string& url, size_t offset, const std::string& bytes) {
    return client().Patch(url.c_str(), tus(admin_token_, {{"Upload-Offset", std::to_string(offset)}}), bytes,
                          "application/offset+octet-stream");
  }
  int64_t offset(const std::string& url) {
    auto r = client().Head(url.c_str(), tus(admin_token_));
    return r && r->status == 200 ? std::stoll(r->get_header_value("Upload-Offset")) : -1;
  }
  /// Sends a PATCH whose body stops after `send` of the `length` bytes it announced, then
  /// closes the connection: a dropped connection, as a phone leaving Wi-Fi does.
  void cut_patch(const std::string& url, size_t at, const std::string& bytes, size_t send) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string req = fmt::format(
        "PATCH {} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\n"
        "Upload-Offset: {}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        url, admin_token_, at, bytes.size());
    req += bytes.substr(0, send);
    ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    ::close(fd);
  }
  std::string file_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

TEST_F(Tus, AnUploadCutMidwayResumesFromTheServersOffsetAndBecomesExactlyOneJob) {
  start_coordinator();
  auto options = client().Options("/v1/uploads");
  ASSERT_TRUE(options);
  EXPECT_EQ(options->status, 204);
  EXPECT_EQ(options->get_header_value("Tus-Version"), "1.0.0");
  EXPECT_EQ(options->get_header_value("Tus-Extension"), "creation,termination,expiration");

  std::string clip = file_bytes(media("console_10s.mp4"));
  ASSERT_GT(clip.size(), 600000u);
  std::string url = create("holiday clip.mp4", clip.size());
  ASSERT_EQ(url.rfind("/v1/uploads/", 0), 0u) << url;
  auto head = client().Head(url.c_str(), tus(admin_token_));
  EXPECT_EQ(head->get_header_value("Upload-Offset"), "0");
  EXPECT_EQ(head->get_header_value("Upload-Length"), std::to_string(clip.size()));
  EXPECT_FALSE(head->get_header_value("Upload-Expires").empty()) << "expiration: the client is told when";
  EXPECT_EQ(head->get_header_value("Cache-Control"), "no-store");

  // Out of step: an offset that is not the server's, a wrong body type, no Tus-Resumable.
  EXPECT_EQ(patch(url, 5, "xxxxx")->status, 409);
  EXPECT_EQ(client().Patch(url.c_str(), tus(admin_token_, {{"Upload-Offset", "0"}}), "x", "application/octet-stream")->status, 415);
  EXPECT_EQ(client().Patch(url.c_str(), bearer(admin_token_), "x", "application/offset+octet-stream")->status, 412);

  auto first = patch(url, 0, clip.substr(0, 200000));
  ASSERT_EQ(first->status, 204) << first->body;
  EXPECT_EQ(first->get_header_value("Upload-Offset"), "200000");
  // The next 200000 bytes announced, 150000 sent, then the connection drops.
  double cuts = metric("kiln_console_upload_interruptions_total");
  cut_patch(url, 200000, clip.substr(200000, 200000), 150000);
  ASSERT_TRUE(eventually([&] { return metric("kiln_console_upload_interruptions_total") > cuts; }, 20s))
      << "the server noticed the body stop short";
  int64_t kept = offset(url);
  EXPECT_GT(kept, 200000) << "the bytes that came are kept";
  EXPECT_LE(kept, 350000);
  EXPECT_NE(read_file(tmp_ / "coordinator" / "stderr").find("connection dropped"), std::string::npos);
  // Resume from the server's offset, in chunks no larger than the server takes.
  for (size_t at = static_cast<size_t>(kept); at < clip.size();) {
    size_t n = std::min<size_t>(262144, clip.size() - at);
    auto r = patch(url, at, clip.substr(at, n));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 204) << r->body;
    at += n;
    if (at == clip.size()) {
      ASSERT_FALSE(r->get_header_value("Kiln-Job-Id").empty()) << "the last PATCH names the job";
    }
  }
  auto done = client().Get(url.c_str(), tus(admin_token_));
  auto upload = nlohmann::json::parse(done->body);
  EXPECT_EQ(upload["state"], "done");
  int64_t job_id = upload["jobId"];
  auto j = job(job_id);
  EXPECT_EQ(j["spec"]["metadata"]["upload"], "holiday clip.mp4");
  EXPECT_EQ(j["spec"]["ladder"], "240p");
  // The file in the location is the clip, byte for byte, under its own directory.
  std::string input = j["spec"]["input"];
  EXPECT_EQ(input.rfind((tmp_.path() / "uploads").string(), 0), 0u) << input;
  EXPECT_EQ(file_bytes(input), clip) << "the resumed upload is the file, byte for byte";
  EXPECT_FALSE(fs::exists(input + ".part"));
  // Exactly one job: asking again, or sending a last PATCH again, makes none.
  EXPECT_EQ(patch(url, clip.size(), "")->status, 409);
  auto all = nlohmann::json::parse(client().Get("/v1/jobs", bearer(admin_token_))->body)["jobs"];
  int for_upload = 0;
  for (const auto& x : all) for_upload += x["spec"].value("metadata", nlohmann::json::object()).value("uploadId", "") == upload["id"];
  EXPECT_EQ(for_upload, 1);
}

TEST_F(Tus, SizeAndTypeAreCheckedBeforeAndANonMediaFileIsRefusedWithTheProbesMessage) {
  start_coordinator("[console]\nupload_location = \"work\"\nmax_upload_bytes = 1000000\n");
  auto c = client();
  auto big = c.Post("/v1/uploads", tus(admin_token_, {{"Upload-Length", "1000001"}, {"Upload-Metadata", "filename " + b64("a.mp4")}}), "", "text/plain");
  EXPECT_EQ(big->status, 413) << big->body;
  auto pdf = c.Post("/v1/uploads", tus(admin_token_, {{"Upload-Length", "10"}, {"Upload-Metadata", fmt::format("filename {},filetype {}", b64("cv.pdf"), b64("application/pdf"))}}), "", "text/plain");
  EXPECT_EQ(pdf->status, 415);
  EXPECT_NE(pdf->body.find("not a video"), std::string::npos) << pdf->body;
  auto ladder = c.Post("/v1/uploads", tus(admin_token_, {{"Upload-Length", "10"}, {"Upload-Metadata", fmt::format("filename {},ladder {}", b64("a.mp4"), b64("banana"))}}), "", "text/plain");
  EXPECT_EQ(ladder->status, 400) << "a bad ladder is refused before a byte is sent";
  EXPECT_EQ(c.Post("/v1/uploads", bearer(admin_token_), "", "text/plain")->status, 412);

  // random.mp4: random bytes with a video's name. It passes the checks before; the probe
  // after refuses it, the bytes are deleted, and no job is made.
  std::string junk = file_bytes(media("random.mp4"));
  std::string url = create("random.mp4", junk.size());
  auto r = patch(url, 0, junk);
  ASSERT_EQ(r->status, 415) << r->body;
  auto err = nlohmann::json::parse(r->body)["error"];
  EXPECT_EQ(err["code"], "input_not_media") << r->body;
  RunResult probe = run_kiln({"probe", media("random.mp4").string()});
  EXPECT_EQ(probe.exit_code, 12) << "kiln probe says the same: not media";
  auto upload = nlohmann::json::parse(c.Get(url.c_str(), tus(admin_token_))->body);
  EXPECT_EQ(upload["state"], "refused");
  EXPECT_EQ(upload["error"], err["message"]);
  EXPECT_FALSE(fs::exists(tmp_ / ("uploads/" + url.substr(12))));
  EXPECT_EQ(nlohmann::json::parse(c.Get("/v1/jobs", bearer(admin_token_))->body)["jobs"].size(), 0u);
  EXPECT_GE(metric("kiln_console_uploads_total{result=\"refused\"}"), 1);
}

// An image is an upload like a video: its type is let through, the probe child reads its
// header (libvips, as the image job will), and it becomes a job. Text named .jpg and declared
// image/jpeg is refused by its bytes, with the probe's message.
TEST_F(Tus, AnImageUploadIsCheckedByItsHeaderAndBecomesAJob) {
  start_coordinator();
  const std::string photo = file_bytes(media("images/photo.jpg"));
  std::string url = create("beach photo.jpg", photo.size(), "image/jpeg");
  auto done = patch(url, 0, photo);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->status, 204) << done->body;
  ASSERT_FALSE(done->get_header_value("Kiln-Job-Id").empty()) << "the last PATCH names the job";
  auto jobs = nlohmann::json::parse(client().Get("/v1/jobs", bearer(admin_token_))->body)["jobs"];
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["spec"]["metadata"]["upload"], "beach photo.jpg");

  const std::string text = file_bytes(media("images/notes.jpg"));
  std::string fake = create("notes.jpg", text.size(), "image/jpeg");
  auto refused = patch(fake, 0, text);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 415) << refused->body;
  EXPECT_EQ(nlohmann::json::parse(refused->body)["error"]["code"], "input_not_media") << refused->body;
  EXPECT_EQ(nlohmann::json::parse(client().Get("/v1/jobs", bearer(admin_token_))->body)["jobs"].size(), 1u);

  RunResult probe = run_kiln({"probe", "--json", media("images/photo.jpg").string()});
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  auto j = nlohmann::json::parse(probe.out);
  EXPECT_EQ(j["input"]["image"]["format"], "jpeg") << probe.out;
  EXPECT_GT(j["input"]["image"]["widthInPx"].get<int>(), 0);
  RunResult bomb = run_kiln({"probe", media("images/bomb.png").string()});
  EXPECT_EQ(bomb.exit_code, 16) << "past the pixel limit, refused from the header: " << bomb.err;
}

TEST_F(Tus, AnUploadThatCannotBeCheckedIsRefusedAndSaysSo) {
  // A probe given 1 ms cannot answer: the check itself fails (as a crash or a hang would).
  start_coordinator("[console]\nupload_location = \"work\"\nprobe_timeout_seconds = 0.001\n");
  std::string clip = file_bytes(media("console_10s.mp4"));
  std::string url = create("fine.mp4", clip.size());
  auto r = patch(url, 0, clip);
  ASSERT_EQ(r->status, 422) << r->body;
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["code"], "check_failed");
  EXPECT_NE(r->body.find("could not be checked"), std::string::npos) << r->body;
  EXPECT_EQ(metric("kiln_console_probe_failures_total"), 1);
  EXPECT_NE(read_file(tmp_ / "coordinator" / "stderr").find("took longer than"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(client().Get("/v1/jobs", bearer(admin_token_))->body)["jobs"].size(), 0u);
}

TEST_F(Tus, TerminationDeletesTheBytesAndExpiredUploadsAreDeleted) {
  // 0.0005 h = 1.8 s: an unfinished upload expires while the test watches.
  start_coordinator("[console]\nupload_location = \"work\"\nupload_expiry_hours = 0.0005\n");
  std::string url = create("gone.mp4", 1000);
  ASSERT_EQ(patch(url, 0, std::string(100, 'x'))->status, 204);
  fs::path dir = tmp_ / ("uploads/" + url.substr(12));
  EXPECT_TRUE(fs::exists(dir / "gone.mp4.part"));
  auto del = client().Delete(url.c_str(), tus(admin_token_));
  EXPECT_EQ(del->status, 204);
  EXPECT_FALSE(fs::exists(dir)) << "termination deletes the bytes";
  EXPECT_EQ(client().Head(url.c_str(), tus(admin_token_))->status, 404);

  std::string left = create("left.mp4", 1000);
  ASSERT_EQ(patch(left, 0, std::string(10, 'x'))->status, 204);
  fs::path left_dir = tmp_ / ("uploads/" + left.substr(12));
  ASSERT_TRUE(eventually([&] { return !fs::exists(left_dir); }, 30s)) << "an expired upload's bytes are deleted";
  EXPECT_EQ(client().Head(left.c_str(), tus(admin_token_))->status, 404);
  EXPECT_GE(metric("kiln_console_uploads_expired_total"), 1);
  EXPECT_NE(read_file(tmp_ / "coordinator" / "stderr").find("expired unfinished"), std::string::npos);
}

TEST_F(Tus, ABucketUploadGoesStraightToTheBucketAndBecomesAJob) {
  std::string why;
  if (!S3rver::available(&why)) GTEST_SKIP() << why;
  S3rver s3(tmp_ / "s3", {"inbox"});
  ::setenv("AWS_ACCESS_KEY_ID", S3rver::kAccessKey, 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", S3rver::kSecret, 1);
  start_coordinator("[console]\nupload_location = \"bucket\"\n",
                    "[[location]]\nname = \"bucket\"\nurl = \"s3://inbox/incoming/\"\nendpoint = \"" + s3.endpoint() +
                        "\"\npart_size = 5242880\n");
  Session s = sign_in(admin_token_);
  auto settings = nlohmann::json::parse(client().Get("/console/settings", with(s, false))->body);
  EXPECT_EQ(settings["uploadProtocol"], "s3");
  auto page = client().Get("/console/sign-in");
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find(s3.endpoint()), std::string::npos)
      << "the page may PUT parts to the bucket";
  // 6 MB: two parts of 5 MiB and the rest.
  std::string body(6 * 1000 * 1000, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7 % 251);
  auto made = client().Post("/v1/uploads/s3", with(s, true),
                            nlohmann::json{{"filename", "big.mp4"}, {"filetype", "video/mp4"}, {"size", body.size()},
                                           {"output", "work"}}.dump(), "application/json");
  ASSERT_EQ(made->status, 201) << made->body;
  auto up = nlohmann::json::parse(made->body);
  ASSERT_EQ(up["parts"].size(), 2u);
  std::vector<std::string> etags;
  size_t part_size = up["partSize"];
  for (size_t i = 0; i < up["parts"].size(); ++i) {
    // As the browser does: a PUT of the part to the presigned URL, nothing else.
    std::string url = up["parts"][i]["url"];
    ASSERT_EQ(url.rfind(s3.endpoint(), 0), 0u) << url;
    httplib::Client bucket(s3.endpoint());
    auto put = bucket.Put(url.substr(s3.endpoint().size()).c_str(), body.substr(i * part_size, part_size), "application/octet-stream");
    ASSERT_TRUE(put);
    ASSERT_EQ(put->status, 200) << put->body;
    etags.push_back(put->get_header_value("ETag"));
  }
  std::string complete = "/v1/uploads/s3/" + up["id"].get<std::string>() + "/complete";
  EXPECT_EQ(client().Post(complete.c_str(), with(s, false), nlohmann::json{{"etags", etags}}.dump(), "application/json")->status, 403);
  auto done = client().Post(complete.c_str(), with(s, true), nlohmann::json{{"etags", etags}}.dump(), "application/json");
  ASSERT_EQ(done->status, 200) << done->body;
  int64_t job_id = std::stoll(done->get_header_value("Kiln-Job-Id"));
  auto j = job(job_id);
  std::string key = "incoming/uploads/" + up["id"].get<std::string>() + "/big.mp4";
  EXPECT_EQ(j["spec"]["input"], "s3://inbox/" + key);
  EXPECT_EQ(j["status"], "SUBMITTED");
  // The object is in the bucket, whole (s3rver answers unsigned requests).
  httplib::Client bucket(s3.endpoint());
  auto object = bucket.Get(("/inbox/" + key).c_str());
  ASSERT_TRUE(object);
  EXPECT_EQ(object->status, 200);
  EXPECT_TRUE(object->body == body) << "the parts make the file, byte for byte";
  EXPECT_TRUE(s3.open_uploads("inbox").empty()) << "no multipart upload is left open";
  // Completing again makes no second job.
  auto again = client().Post(complete.c_str(), with(s, true), nlohmann::json{{"etags", etags}}.dump(), "application/json");
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(nlohmann::json::parse(again->body)["jobId"], job_id);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
}

}  // namespace
}  // namespace kiln::test
