#include "support/run.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace kiln::test {
namespace fs = std::filesystem;

std::string kiln_binary() { return KILN_TEST_BINARY; }
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

}  // namespace kiln::test
