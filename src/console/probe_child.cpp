#include "console/probe_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <vector>

#include "log.hpp"

extern char** environ;

namespace kiln::console {
namespace {

/// Maps `kiln probe`'s code name back to a Code (the input codes it can report).
Code code_from_name(const std::string& name) {
  for (Code c : {Code::kInputMissing, Code::kInputEmpty, Code::kInputNotMedia, Code::kInputNoVideo,
                 Code::kInputTruncated, Code::kInputUnsupported, Code::kInputLimits, Code::kInputUndecodable,
                 Code::kUsage, Code::kIo})
    if (name == code_name(c)) return c;
  return Code::kInternal;
}

}  // namespace

Result<nlohmann::json> probe_in_child(const std::string& path, double timeout_seconds) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status(Code::kIo, "probe: cannot make a pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> args = {"kiln", "--log-level", "off", "probe", "--json", path};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int err = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);  // ours no more: the child holds its copy
  if (err != 0) {
    close(fds[0]);
    return Status(Code::kInternal, fmt::format("probe: cannot start kiln probe: {}", strerror(err)));
  }
  // fds[0]: owned here, closed below.
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[4096];
    ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (out.size() < (1 << 20)) out.append(buf, static_cast<size_t>(got));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return Status(Code::kInternal, fmt::format("checking the upload took longer than {} s; it was stopped", timeout_seconds));
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::string how = WIFSIGNALED(status) ? fmt::format("was killed by signal {}", WTERMSIG(status))
                                          : fmt::format("exited with {}", WEXITSTATUS(status));
    return Status(Code::kInternal, fmt::format("checking the upload failed: kiln probe {} without an answer", how));
  }
  if (j.value("ok", false)) return j["input"];
  return Status(code_from_name(j.value("code", "")), j.value("message", "the file is not media Kiln can read"));
}

}  // namespace kiln::console
