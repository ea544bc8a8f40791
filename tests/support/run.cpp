#include "support/run.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace kiln::test {
namespace fs = std::filesystem;

std::string kiln_binary() {
  // KILN_TEST_BINARY in the environment runs the tests against another build (an older one, to
  // see that a test fails without the change it covers).
  const char* other = std::getenv("KILN_TEST_BINARY");
  return other && *other ? other : KILN_TEST_BINARY;
}
fs::path media(const std::string& name) { return fs::path(KILN_TEST_MEDIA_DIR) / name; }

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

namespace {
int spawn_as(const std::vector<std::string>& args, const fs::path& log_dir, int uid, int gid);
}

int spawn_kiln(const std::vector<std::string>& args, const fs::path& log_dir) {
  return spawn_as(args, log_dir, -1, -1);
}

namespace {
int spawn_as(const std::vector<std::string>& args, const fs::path& log_dir, int uid, int gid) {
  std::string out = (log_dir / "stdout").string(), err = (log_dir / "stderr").string();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    // The log files are open already: only then give up root.
    if (gid >= 0 && (setgroups(0, nullptr) != 0 || setgid(gid) != 0)) _exit(126);
    if (uid >= 0 && setuid(uid) != 0) _exit(126);
    std::vector<char*> argv;
    std::string bin = kiln_binary();
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}
}  // namespace

int wait_exit(int pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

RunResult run_kiln_as(int uid, int gid, const std::vector<std::string>& args) {
  TempDir logs;
  RunResult r;
  r.exit_code = wait_exit(spawn_as(args, logs.path(), uid, gid));
  r.out = read_file(logs / "stdout");
  r.err = read_file(logs / "stderr");
  return r;
}

RunResult run_kiln(const std::vector<std::string>& args) {
  TempDir logs;
  RunResult r;
  r.exit_code = wait_exit(spawn_kiln(args, logs.path()));
  r.out = read_file(logs / "stdout");
  r.err = read_file(logs / "stderr");
  return r;
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "kiln-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string test_locations(const std::filesystem::path& work_dir) {
  std::string out;
  auto add = [&](const std::string& name, const std::filesystem::path& dir) {
    out += "[[location]]\nname = \"" + name + "\"\nurl = \"file://" + dir.string() + "\"\n";
  };
  add("media", media("x").parent_path());
  add("work", work_dir);
  add("queued-in", "/media");
  add("queued-out", "/out");
  return out;
}

}  // namespace kiln::test

namespace kiln::test {

TestDeadline::TestDeadline(std::chrono::seconds limit, std::function<void()> on_expiry) {
  thread_ = std::thread([this, limit, on_expiry = std::move(on_expiry)] {
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, limit, [this] { return disarmed_; })) return;
    std::fprintf(stderr, "\n[  FAILED  ] the test ran past its own deadline of %llds; what it had:\n",
                 static_cast<long long>(limit.count()));
    if (on_expiry) on_expiry();
    std::fflush(stderr);
    std::_Exit(1);
  });
}

TestDeadline::~TestDeadline() {
  {
    std::lock_guard lock(mu_);
    disarmed_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool eventually(const std::function<bool()>& cond, std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return cond();
}

std::string read_pg_url(const std::filesystem::path& pg_dir) {
  std::ifstream in(pg_dir / "url");
  std::string url;
  std::getline(in, url);
  return url;
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  close(fd);
  if (!ok) throw std::runtime_error("no free loopback port");
  return ntohs(a.sin_port);
}

void print_service_logs(const std::filesystem::path& dir, size_t bytes) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (!std::filesystem::exists(e.path() / "stderr")) continue;
    std::string log = read_file(e.path() / "stderr");
    std::fprintf(stderr, "---- %s stderr (last %zu bytes) ----\n%s\n", e.path().filename().c_str(), bytes,
                 log.substr(log.size() > bytes ? log.size() - bytes : 0).c_str());
  }
}

}  // namespace kiln::test
