#pragma once
// Runs the kiln binary as a user would, and makes throwaway directories.

#include <filesystem>
#include <string>
#include <vector>

namespace kiln::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Path of the built kiln binary and of the generated media (set by CMake).
std::string kiln_binary();
std::filesystem::path media(const std::string& name);

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

}  // namespace kiln::test
