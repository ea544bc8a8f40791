#include "pipeline/fault.hpp"

#include <gtest/gtest.h>

namespace kiln::pipeline {
namespace {

TEST(Fault, ParsesOpenAndFrame) {
  auto open = parse_fault("vaapi:open");
  ASSERT_TRUE(open.is_ok());
  EXPECT_EQ(open->backend, "vaapi");
  EXPECT_TRUE(open->at_open);
  auto frame = parse_fault("vulkan:frame=30");
  ASSERT_TRUE(frame.is_ok());
  EXPECT_EQ(frame->at_frame, 30);
  EXPECT_FALSE(frame->at_open);
}

TEST(Fault, RejectsAnythingElse) {
  for (const char* bad : {"", "vaapi", ":open", "vaapi:close", "vaapi:frame=", "vaapi:frame=x",
                          "vaapi:frame=-1", "vaapi:frame=3x"}) {
    auto r = parse_fault(bad);
    EXPECT_FALSE(r.is_ok()) << bad;
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), Code::kUsage) << bad;
    }
  }
}

TEST(Fault, ParsesWorkerFaults) {
  auto crash = parse_fault("worker:crash");
  ASSERT_TRUE(crash.is_ok());
  EXPECT_EQ(crash->worker, WorkerFault::kCrash);
  EXPECT_EQ(crash->at_frame, 1);
  EXPECT_TRUE(crash->only_input.empty());
  auto oom = parse_fault("worker:oom=12@bad.mp4");
  ASSERT_TRUE(oom.is_ok());
  EXPECT_EQ(oom->worker, WorkerFault::kOom);
  EXPECT_EQ(oom->at_frame, 12);
  EXPECT_EQ(oom->only_input, "bad.mp4");
  EXPECT_EQ(parse_fault("worker:hang=3")->worker, WorkerFault::kHang);
  EXPECT_EQ(parse_fault("worker:abort")->worker, WorkerFault::kAbort);
  for (const char* bad : {"worker:", "worker:explode", "worker:crash=", "worker:crash=x",
                          "worker:crash@", "worker:crash=-2", "worker:open"})
    EXPECT_FALSE(parse_fault(bad).is_ok()) << bad;
}

}  // namespace
}  // namespace kiln::pipeline
