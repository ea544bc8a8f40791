#include "kiln/status.hpp"

#include <gtest/gtest.h>

#include <set>

namespace kiln {
namespace {

TEST(Status, EveryInputRefusalHasItsOwnExitCode) {
  std::set<int> seen;
  for (Code c : {Code::kInputMissing, Code::kInputEmpty, Code::kInputNotMedia, Code::kInputNoVideo,
                 Code::kInputTruncated, Code::kInputUnsupported, Code::kInputLimits,
                 Code::kInputUndecodable, Code::kOutputExists, Code::kUsage, Code::kCancelled}) {
    int e = exit_code(c);
    EXPECT_NE(e, 0) << code_name(c);
    EXPECT_TRUE(seen.insert(e).second) << "duplicate exit code " << e;
  }
  EXPECT_EQ(exit_code(Code::kOk), 0);
}

TEST(Status, ResultCarriesValueOrError) {
  Result<int> ok = 5;
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ(*ok, 5);
  Result<int> bad(Code::kIo, "disk full");
  EXPECT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().to_string(), "io: disk full");
}

}  // namespace
}  // namespace kiln
