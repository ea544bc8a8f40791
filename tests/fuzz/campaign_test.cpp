// The mutation campaign (label `fuzz`): zzuf flips random bits in seeds of every container Kiln
// accepts (tests/fuzz/make_seeds.sh), at several ratios, and `kiln transcode` runs each case.
// A case must either publish a ladder that passes the output checks a player relies on (for an
// image seed: every listed variant readable at its listed size), or be
// refused with an input exit code (10-17) leaving nothing behind. An exit 1 (a bug), any other
// code, a signal or a hang fails the test and the case is saved under the build tree
// (fuzz-failures/) with the command that replays it. tests/fuzz/regressions.txt lists the cases
// that once failed; they run every time.
//
// KILN_FUZZ_CASES sets the cases per seed and ratio (default 9: 16 seeds x 4 ratios x 9 = 576).

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/image_check.hpp"
#include "support/ladder_check.hpp"
#include "support/run.hpp"

extern char** environ;

namespace kiln::test {
namespace {
namespace fs = std::filesystem;

constexpr double kRatios[] = {0.00002, 0.0001, 0.0005, 0.002};
// Far beyond what a 1.6 s clip takes (well under a second): only a hang gets near it.
constexpr auto kCaseTimeout = std::chrono::seconds(60);

struct Case {
  std::string seed_file;  // in the seeds directory
  double ratio;
  int zzuf_seed;
};

std::string ratio_text(double r) {
  std::ostringstream o;
  o << r;
  return o.str();
}

std::string case_name(const Case& c) {
  fs::path p(c.seed_file);
  return p.stem().string() + "-r" + ratio_text(c.ratio) + "-s" + std::to_string(c.zzuf_seed) +
         p.extension().string();
}

std::string replay(const Case& c) {
  return "zzuf -s " + std::to_string(c.zzuf_seed) + " -r " + ratio_text(c.ratio) + " < " +
         (fs::path(KILN_FUZZ_SEEDS) / c.seed_file).string() + " > " + case_name(c) + " && " + kiln_binary() +
         " transcode " + case_name(c) + " -o out";
}

/// Makes the case's bytes: zzuf as a filter (deterministic for a seed file, seed and ratio).
bool make_case(const Case& c, const fs::path& into) {
  std::string cmd = "zzuf -s " + std::to_string(c.zzuf_seed) + " -r " + ratio_text(c.ratio) + " < '" +
                    (fs::path(KILN_FUZZ_SEEDS) / c.seed_file).string() + "' > '" + into.string() + "'";
  return std::system(cmd.c_str()) == 0 && fs::file_size(into) > 0;
}

struct Outcome {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it
  bool timed_out = false;
  std::string err;
};

/// Runs kiln on one case with a hard deadline (SIGKILL past it).
Outcome run_case(const fs::path& input, const fs::path& out, const fs::path& dir) {
  const fs::path err_path = dir / "stderr.txt";
  std::vector<std::string> args = {kiln_binary(), "transcode", input.string(), "-o", out.string(),
                                   "--log-level", "warn"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  Outcome o;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    o.err = "cannot start kiln";
    return o;
  }
  const auto deadline = std::chrono::steady_clock::now() + kCaseTimeout;
  int status = 0;
  for (;;) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      o.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a child, not ordering the test
  }
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status) && !o.timed_out) o.signal = WTERMSIG(status);
  o.err = read_file(err_path);
  return o;
}

/// Keeps a failed case where a developer finds it, with how to make and run it again.
void save_failure(const Case& c, const fs::path& input, const std::string& what) {
  const fs::path dir = KILN_FUZZ_FAILURES;
  fs::create_directories(dir);
  std::error_code ec;
  fs::copy_file(input, dir / case_name(c), fs::copy_options::overwrite_existing, ec);
  std::ofstream(dir / "REPLAY.txt", std::ios::app) << case_name(c) << ": " << what << "\n  " << replay(c) << "\n";
}

std::string tail(const std::string& text, size_t n = 600) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

int failures_so_far() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
}

/// An image job's output (result.json has an IMAGE_GROUP): every listed variant exists and the
/// vips CLI reads it at the size listed. False when the output is not an image job's.
bool check_image_job(const fs::path& out) {
  auto result = nlohmann::json::parse(read_file(out / "result.json"), nullptr, false);
  if (!result.is_object() || !result["detail"].is_object()) return false;
  const auto& groups = result["detail"]["outputGroupDetails"];
  if (!groups.is_array() || groups.empty() || !groups[0].is_object() || groups[0].value("type", "") != "IMAGE_GROUP")
    return false;
  const auto& outputs = groups[0]["outputDetails"];
  EXPECT_FALSE(outputs.empty()) << "an image job published no variant";
  for (const auto& o : outputs) {
    const fs::path file = o["outputFilePaths"][0].get<std::string>();
    ImageFile f = read_image(file);
    EXPECT_EQ(f.width, o["imageDetails"]["widthInPx"]) << file;
    EXPECT_EQ(f.height, o["imageDetails"]["heightInPx"]) << file;
  }
  return true;
}

/// Runs one case; returns "published" or "refused N". Records a test failure when the case
/// breaks the contract.
std::string check_case(const Case& c) {
  TempDir tmp;
  const fs::path input = tmp / case_name(c);
  if (!make_case(c, input)) {
    ADD_FAILURE() << "zzuf could not make " << case_name(c) << " (is zzuf installed?)";
    return "error";
  }
  const fs::path out = tmp / "out";
  Outcome o = run_case(input, out, tmp.path());
  std::string what;
  if (o.timed_out) what = "hung: killed after " + std::to_string(kCaseTimeout.count()) + " s";
  else if (o.signal) what = "killed by signal " + std::to_string(o.signal);
  else if (o.exit_code != 0 && (o.exit_code < 10 || o.exit_code > 17))
    what = "exit code " + std::to_string(o.exit_code) + " (not an input refusal)";
  if (!what.empty()) {
    save_failure(c, input, what);
    ADD_FAILURE() << case_name(c) << ": " << what << "\nreplay: " << replay(c) << "\nstderr: " << tail(o.err);
    return "failed";
  }
  if (o.exit_code != 0) {
    // Refused: nothing published, nothing left behind.
    bool left = fs::exists(out);
    for (const auto& e : fs::directory_iterator(tmp.path()))
      left |= e.path().filename().string().find(".kiln-") != std::string::npos;
    if (left) {
      save_failure(c, input, "refused but left output behind");
      ADD_FAILURE() << case_name(c) << ": refused with " << o.exit_code << " but left output behind\nreplay: "
                    << replay(c);
    }
    return "refused " + std::to_string(o.exit_code);
  }
  const int before = failures_so_far();
  {
    SCOPED_TRACE(case_name(c) + " (published; replay: " + replay(c) + ")");
    if (!check_image_job(out)) check_ladder(out, expectation_from_result(out));
  }
  if (failures_so_far() != before) save_failure(c, input, "published a ladder that fails the output checks");
  return "published";
}

int cases_per_ratio() {
  const char* env = std::getenv("KILN_FUZZ_CASES");
  int n = env ? std::atoi(env) : 9;
  return n > 0 ? n : 9;
}

class Campaign : public ::testing::TestWithParam<std::string> {};

TEST_P(Campaign, EveryCasePublishesAValidLadderOrIsRefusedAsInput) {
  ASSERT_TRUE(fs::exists(fs::path(KILN_FUZZ_SEEDS) / GetParam())) << "seeds missing: the fuzz_seeds test makes them";
  std::map<std::string, int> tally;
  const int n = cases_per_ratio();
  for (double ratio : kRatios)
    for (int seed = 1; seed <= n; ++seed) ++tally[check_case({GetParam(), ratio, seed})];
  std::ostringstream summary;
  for (const auto& [k, v] : tally) summary << " " << k << ": " << v << ";";
  std::cout << GetParam() << ": " << std::size(kRatios) * n << " cases;" << summary.str() << "\n";
  // A campaign where nothing survives the mutations tests only the refusals.
  EXPECT_GT(tally["published"], 0) << "no case published: the ratios are too destructive to reach the pipeline";
}

INSTANTIATE_TEST_SUITE_P(Seeds, Campaign,
                         ::testing::Values("moov_last.mp4", "moov_first.mp4", "clip.mov", "clip.mkv", "clip.webm",
                                           "clip.ts", "clip.mpg", "clip.avi", "clip.flv", "image.jpg",
                                           "image.png", "image.webp", "image.gif", "image.tiff", "image.avif",
                                           "image.heic"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

/// Cases that once failed, each documented in regressions.txt by what it caught.
TEST(FuzzRegressions, CasesThatOnceFailedPassNow) {
  std::ifstream in(KILN_FUZZ_REGRESSIONS);
  ASSERT_TRUE(in) << KILN_FUZZ_REGRESSIONS;
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Case c;
    ASSERT_TRUE(fields >> c.seed_file >> c.ratio >> c.zzuf_seed) << "bad line: " << line;
    check_case(c);
    ++n;
  }
  EXPECT_GT(n, 0);
}

}  // namespace
}  // namespace kiln::test
