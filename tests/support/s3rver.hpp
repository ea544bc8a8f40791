#pragma once
// A real S3 server for a test: s3rver (tests/storage/s3rver/launch.js, installed by
// `scripts/install-deps --test`) on 127.0.0.1, its data in a directory of the test's own.
// Killed (SIGKILL) and restarted on the same port and data by the tests that need a dead server.

#include <filesystem>
#include <string>
#include <vector>

namespace kiln::test {

class S3rver {
 public:
  static constexpr const char* kAccessKey = "S3RVER";  // s3rver's only account
  static constexpr const char* kSecret = "S3RVER";

  /// Starts it on a free port with `buckets` created; throws when it does not come up. With
  /// `notify_config`, each object event is POSTed where that file (JSON: url, headers) says,
  /// read again per event (see launch.js); use write_notify_config() to make it.
  S3rver(std::filesystem::path data_dir, std::vector<std::string> buckets,
         std::filesystem::path notify_config = {});
  ~S3rver();
  S3rver(const S3rver&) = delete;
  S3rver& operator=(const S3rver&) = delete;

  /// False (with the reason) when node or the npm packages are missing: the test skips.
  static bool available(std::string* why);

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& data_dir() const { return dir_; }
  /// Multipart uploads in progress in `bucket` (s3rver keeps each in a directory of its own).
  std::vector<std::string> open_uploads(const std::string& bucket) const;

  /// Points s3rver's event notifications at `url` with an `Authorization: Bearer token` header.
  static void write_notify_config(const std::filesystem::path& file, const std::string& url, const std::string& token);
  /// The log (stdout and stderr) of the server: "notify 200 ObjectCreated:Put key" per event.
  std::string log() const;

  /// SIGKILL, as a crash: nothing is flushed or cleaned up.
  void kill();
  /// Starts again on the same port and data directory.
  void restart();

 private:
  void start();

  std::filesystem::path dir_;
  std::vector<std::string> buckets_;
  std::filesystem::path notify_config_;
  int port_ = 0;
  int pid_ = -1;
};

}  // namespace kiln::test
