#include "support/s3rver.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "support/run.hpp"

namespace kiln::test {
namespace fs = std::filesystem;

namespace {
fs::path launcher_dir() { return KILN_S3RVER_DIR; }
}  // namespace

bool S3rver::available(std::string* why) {
  if (::system("command -v node >/dev/null 2>&1") != 0) {
    *why = "node is not installed (scripts/install-deps --test)";
    return false;
  }
  if (!fs::exists(launcher_dir() / "node_modules" / "@20minutes" / "s3rver")) {
    *why = "s3rver is not installed in tests/storage/s3rver (scripts/install-deps --test)";
    return false;
  }
  return true;
}

S3rver::S3rver(fs::path data_dir, std::vector<std::string> buckets, fs::path notify_config)
    : dir_(std::move(data_dir)), buckets_(std::move(buckets)), notify_config_(std::move(notify_config)) {
  fs::create_directories(dir_);
  start();
}

S3rver::~S3rver() { kill(); }

void S3rver::start() {
  fs::path port_file = dir_.parent_path() / (dir_.filename().string() + ".port");
  fs::remove(port_file);
  // s3rver's ListObjectsV2 continuation tokens are DES-encrypted: OpenSSL 3 keeps DES in its
  // legacy provider, without which every truncated listing is a 500 InternalError.
  std::vector<std::string> args = {"node", "--openssl-legacy-provider", (launcher_dir() / "launch.js").string(), "--dir", dir_.string(),
                                   "--port-file", port_file.string(), "--port", std::to_string(port_)};
  for (const auto& b : buckets_) {
    args.push_back("--bucket");
    args.push_back(b);
  }
  if (!notify_config_.empty()) {
    args.push_back("--notify-config");
    args.push_back(notify_config_.string());
  }
  fs::path log = dir_.parent_path() / (dir_.filename().string() + ".log");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("node", argv.data());
    ::_exit(127);
  }
  bool up = eventually(
      [&] {
        std::ifstream in(port_file);
        int p = 0;
        return (in >> p) && p > 0 && (port_ = p, true);
      },
      std::chrono::seconds(30));
  if (!up) throw std::runtime_error("s3rver did not start; its log: " + read_file(log));
}

std::vector<std::string> S3rver::open_uploads(const std::string& bucket) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_ / bucket / "._S3rver_uploads", ec)) out.push_back(e.path().filename());
  return out;
}

void S3rver::write_notify_config(const fs::path& file, const std::string& url, const std::string& token) {
  fs::path tmp = file.string() + ".tmp";
  std::ofstream(tmp) << nlohmann::json{{"url", url}, {"headers", {{"Authorization", "Bearer " + token}}}}.dump();
  fs::rename(tmp, file);  // whole, so an event never reads half of it
}

std::string S3rver::log() const { return read_file(dir_.parent_path() / (dir_.filename().string() + ".log")); }

void S3rver::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void S3rver::restart() {
  kill();
  start();
}

}  // namespace kiln::test
