// The console in a real browser and the tus server against a real tus client: both are Node
// scripts (console_browser.mjs, tus_client.mjs, packages pinned in package-lock.json here),
// run against a coordinator, a node and PostgreSQL started by this fixture.

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include "console/console_cluster.hpp"

namespace kiln::test {
namespace {

namespace fs = std::filesystem;

/// Runs `cmd`, its output going to this test's output; returns the exit code.
int run_shell(const std::string& cmd) {
  std::cout << "+ " << cmd << std::endl;
  int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool node_packages(std::string* why) {
  if (std::system("command -v node >/dev/null 2>&1") != 0) {
    *why = "node is not installed (scripts/install-deps --test)";
    return false;
  }
  if (!fs::exists(fs::path(KILN_CONSOLE_TESTS) / "node_modules/tus-js-client")) {
    *why = "npm ci has not run in tests/console (scripts/install-deps --test)";
    return false;
  }
  return true;
}

using ConsoleBrowser = ConsoleCluster;
using TusJsClient = ConsoleCluster;

TEST_F(TusJsClient, UploadsResumesAndTerminates) {
  std::string why;
  if (!node_packages(&why)) GTEST_SKIP() << why;
  start_coordinator();
  int rc = run_shell("node " KILN_CONSOLE_TESTS "/tus_client.mjs --base " + base() + " --token " + admin_token_ + " --file " +
                     media("console_10s.mp4").string());
  EXPECT_EQ(rc, 0);
}

TEST_F(ConsoleBrowser, UploadWatchPlayCancelAndScopes) {
  std::string why;
  if (!node_packages(&why)) GTEST_SKIP() << why;
  if (!fs::exists(std::getenv("CHROMIUM") ? std::getenv("CHROMIUM") : "/usr/bin/chromium"))
    GTEST_SKIP() << "no Chromium (scripts/install-deps --test installs Debian's)";
  start_coordinator();
  start_node("n1");
  std::string reader = make_token("read");
  fs::path shots = KILN_CONSOLE_SHOTS;
  fs::remove_all(shots);
  int rc = run_shell("node " KILN_CONSOLE_TESTS "/console_browser.mjs --base " + base() + " --admin " + admin_token_ +
                     " --read " + reader + " --clip " + media("console_10s.mp4").string() + " --junk " +
                     media("random.mp4").string() + " --long " + media("long.mp4").string() + " --image " +
                     media("images/photo.jpg").string() + " --shots " + shots.string());
  EXPECT_EQ(rc, 0);
  for (const char* page : {"sign-in", "jobs", "job", "upload", "nodes"})
    for (const char* size : {"desktop", "phone"})
      EXPECT_TRUE(fs::exists(shots / (std::string(page) + "-" + size + ".png"))) << page << " " << size;
}

}  // namespace
}  // namespace kiln::test
