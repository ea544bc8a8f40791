#pragma once
// Runs the kiln binary as a user would, and makes throwaway directories.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kiln::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Path of the built kiln binary (set by CMake; $KILN_TEST_BINARY overrides it) and of the
/// generated media.
std::string kiln_binary();
std::filesystem::path media(const std::string& name);

/// `[[location]]` tables for a test's coordinator.toml and node.toml: the generated media
/// (`media`), the test's own directory (`work`), and `/media`, `/out` for jobs that are only
/// queued, never run. Every job path in a service test lies in one of them.
std::string test_locations(const std::filesystem::path& work_dir);

/// Runs kiln with `args` to completion, capturing stdout and stderr.
RunResult run_kiln(const std::vector<std::string>& args);

/// As run_kiln, but the child drops to uid/gid first (a service user, when the tests run as
/// root). Exit code 126 if it could not.
RunResult run_kiln_as(int uid, int gid, const std::vector<std::string>& args);

/// Starts kiln in the background; stdout/stderr go to files in `log_dir`. Returns the pid.
int spawn_kiln(const std::vector<std::string>& args, const std::filesystem::path& log_dir);
/// Waits for a spawned process; returns its exit code (128+N if killed by signal N).
int wait_exit(int pid);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& p);

/// A test's own deadline, shorter than CTest's TIMEOUT: past it, `on_expiry` prints what the
/// test has (the services' logs) and the test binary exits with a failure. Without it a hang
/// is killed by CTest with nothing printed but "[ RUN ]". Disarmed by destruction.
class TestDeadline {
 public:
  TestDeadline(std::chrono::seconds limit, std::function<void()> on_expiry);
  ~TestDeadline();
  TestDeadline(const TestDeadline&) = delete;
  TestDeadline& operator=(const TestDeadline&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::thread thread_;
};

/// Polls `cond` every 100 ms until it holds or `limit` passes; the last answer after that.
bool eventually(const std::function<bool()>& cond, std::chrono::seconds limit);

/// The connection URL of the throwaway PostgreSQL cluster in `pg_dir` (pg_cluster.sh start).
std::string read_pg_url(const std::filesystem::path& pg_dir);

/// A loopback TCP port free right now, for a service's listen address: bound to port 0 and
/// closed again (a listener kept open would share the port with the service under test).
int free_port();

/// Prints the last `bytes` of every `*/stderr` file under `dir` (the logs spawn_kiln writes).
void print_service_logs(const std::filesystem::path& dir, size_t bytes = 6144);

}  // namespace kiln::test
