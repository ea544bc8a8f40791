// Staging an object-store input in the scratch directory (pipeline/scratch.hpp) against a real
// S3 server on loopback: a connection cut mid-download resumes, a scratch filesystem without room
// is a clear error before a byte is written, one that fills up during the download leaves no
// half file, and a job attempt's scratch space goes however the attempt ends.
#include "pipeline/scratch.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "metrics/registry.hpp"
#include "support/run.hpp"
#include "support/s3_ladder.hpp"
#include "support/s3rver.hpp"
#include "support/tcp_proxy.hpp"

namespace kiln::pipeline {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::eventually;
using test::S3rver;

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

/// A tmpfs of `size` mounted for the test (root only: the test skips without it).
class SmallDisk {
 public:
  SmallDisk(const fs::path& at, const std::string& size) : at_(at) {
    fs::create_directories(at);
    if (::mount("tmpfs", at.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0) mounted_ = true;
    else why_ = std::string("cannot mount a tmpfs for a small scratch disk (needs root): ") + std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }

 private:
  fs::path at_;
  bool mounted_ = false;
  std::string why_;
};

class StageInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!S3rver::available(&why)) GTEST_SKIP() << why;
    server_ = std::make_unique<S3rver>(tmp_ / "s3", std::vector<std::string>{"bkt"});
    client_ = test::s3_client(server_->endpoint(), "bkt");
  }

  test::TempDir tmp_;
  std::unique_ptr<S3rver> server_;
  std::unique_ptr<storage::s3::S3Client> client_;
};

TEST_F(StageInputTest, ADownloadCutMidwayResumesAndTheStagedFileIsWhole) {
  const std::string bytes = random_bytes(3 * 1024 * 1024, 21);
  ASSERT_TRUE(client_->put("in/clip.MP4", bytes));
  test::TcpProxy proxy(server_->port());
  proxy.cut_after(1024 * 1024);
  auto via_proxy = test::s3_client("http://127.0.0.1:" + std::to_string(proxy.port()), "bkt");
  auto& resumes = metrics::default_registry().counter("kiln_s3_download_resumes_total", "").counter();
  const double before = resumes.value();
  fs::create_directories(tmp_ / "scratch");
  auto staged = stage_input(*via_proxy, "s3://bkt/in/clip.MP4", "in/clip.MP4", (tmp_ / "scratch").string());
  ASSERT_TRUE(staged) << staged.status().message();
  EXPECT_EQ(*staged, (tmp_ / "scratch" / "input.MP4").string());
  EXPECT_TRUE(test::read_file(*staged) == bytes);
  EXPECT_EQ(resumes.value(), before + 1);
  EXPECT_EQ(entries(tmp_ / "scratch"), std::vector<std::string>{"input.MP4"});
}

TEST_F(StageInputTest, AMissingOrEmptyObjectSaysSo) {
  fs::create_directories(tmp_ / "scratch");
  auto missing = stage_input(*client_, "s3://bkt/in/none.mp4", "in/none.mp4", (tmp_ / "scratch").string());
  EXPECT_EQ(missing.status().code(), Code::kInputMissing);
  EXPECT_NE(missing.status().message().find("'s3://bkt/in/none.mp4' does not exist"), std::string::npos);
  ASSERT_TRUE(client_->put("in/empty.mp4", ""));
  auto empty = stage_input(*client_, "s3://bkt/in/empty.mp4", "in/empty.mp4", (tmp_ / "scratch").string());
  EXPECT_EQ(empty.status().code(), Code::kInputEmpty);
  EXPECT_TRUE(entries(tmp_ / "scratch").empty());
}

// The object is larger than the room left: refused before a byte is written, saying how much
// is needed, how much is free, and what to change.
TEST_F(StageInputTest, AScratchDiskWithoutRoomIsAClearErrorBeforeAnyByteIsWritten) {
  SmallDisk disk(tmp_ / "small", "1m");
  if (!disk.mounted()) GTEST_SKIP() << disk.why();
  ASSERT_TRUE(client_->put("in/big.mp4", random_bytes(2 * 1024 * 1024, 5)));
  auto staged = stage_input(*client_, "s3://bkt/in/big.mp4", "in/big.mp4", (tmp_ / "small").string());
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.status().code(), Code::kIo);
  const std::string why = staged.status().message();
  EXPECT_NE(why.find("no room to stage input 's3://bkt/in/big.mp4' (2.0 MiB)"), std::string::npos) << why;
  EXPECT_NE(why.find("1.0 MiB free"), std::string::npos) << why;
  EXPECT_NE(why.find("scratch_dir"), std::string::npos) << why;
  EXPECT_TRUE(entries(tmp_ / "small").empty());
}

// There was room when the download started, and another writer took it meanwhile: the download
// fails with the disk's own words, and neither the file nor its .part remains.
TEST_F(StageInputTest, ADiskThatFillsUpDuringTheDownloadLeavesNoHalfFile) {
  SmallDisk disk(tmp_ / "small", "3m");
  if (!disk.mounted()) GTEST_SKIP() << disk.why();
  ASSERT_TRUE(client_->put("in/clip.mp4", random_bytes(2 * 1024 * 1024, 6)));
  test::TcpProxy proxy(server_->port());
  proxy.cut_after(512 * 1024);     // the download is cut...
  proxy.hold_new_connections(1);  // ...and its resume waits while the disk fills up
  auto via_proxy = test::s3_client("http://127.0.0.1:" + std::to_string(proxy.port()), "bkt");
  Result<std::string> staged = Status(Code::kInternal, "not run");
  std::thread t([&] { staged = stage_input(*via_proxy, "s3://bkt/in/clip.mp4", "in/clip.mp4", (tmp_ / "small").string()); });
  bool resuming = eventually([&] { return proxy.held_connections() == 1; }, 30s);
  {
    std::ofstream filler(tmp_ / "small" / "filler", std::ios::binary);
    std::string block(64 * 1024, 'f');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size())) && filler.flush()) {
    }
  }
  proxy.release();
  t.join();
  ASSERT_TRUE(resuming);
  ASSERT_FALSE(staged);
  EXPECT_EQ(staged.status().code(), Code::kIo) << staged.status().message();
  EXPECT_NE(staged.status().message().find("no space left on the device"), std::string::npos)
      << staged.status().message();
  EXPECT_NE(staged.status().message().find("nothing of it is left there"), std::string::npos);
  EXPECT_EQ(entries(tmp_ / "small"), std::vector<std::string>{"filler"});
}

TEST(ScratchSpace, GoesWithItsAttemptAndTheNodeRemovesAKilledWorkersLeftovers) {
  test::TempDir tmp;
  {
    auto s = ScratchSpace::create((tmp / "scratch").string(), 12, 3);
    ASSERT_TRUE(s) << s.status().message();
    EXPECT_EQ(s->path(), (tmp / "scratch" / "kiln-j12-a3").string());
    std::ofstream(fs::path(s->path()) / "input.mp4") << "x";
  }
  EXPECT_TRUE(entries(tmp / "scratch").empty());
  // A worker killed with SIGKILL never ran its destructors.
  fs::create_directories(tmp / "scratch" / ScratchSpace::name_for(12, 4) / "out");
  fs::create_directories(tmp / "scratch" / ScratchSpace::name_for(13, 4));
  EXPECT_TRUE(ScratchSpace::remove_left_over((tmp / "scratch").string(), 12, 4));
  EXPECT_FALSE(ScratchSpace::remove_left_over((tmp / "scratch").string(), 12, 4));
  EXPECT_EQ(entries(tmp / "scratch"), std::vector<std::string>{"kiln-j13-a4"}) << "another job's is not touched";
  auto cli = ScratchSpace::create((tmp / "scratch").string(), 0, 0);
  ASSERT_TRUE(cli);
  EXPECT_EQ(fs::path(cli->path()).filename().string().rfind("kiln-", 0), 0u);
  auto bad = ScratchSpace::create("/proc/no-scratch-here", 1, 1);
  EXPECT_EQ(bad.status().code(), Code::kIo);
  EXPECT_NE(bad.status().message().find("scratch_dir"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace kiln::pipeline
