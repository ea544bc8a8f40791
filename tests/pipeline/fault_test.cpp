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
    if (!r.is_ok()) EXPECT_EQ(r.status().code(), Code::kUsage) << bad;
  }
}

}  // namespace
}  // namespace kiln::pipeline
