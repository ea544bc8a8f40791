#include "kiln/status.hpp"

#include <gtest/gtest.h>

#include <set>

namespace kiln {
namespace {

TEST(Status, EveryInputRefusalHasItsOwnExitCode) {
  std::set<int> seen;
  for (Code c : {Code::kInputMissing, Code::kInputEmpty, Code::kInputNotMedia, Code::kInputNoVideo,
                 Code::kInputTruncated, Code::kInputUnsupported, Code::kInputLimits,
                 Code::kInputUndecodable, Code::kOutputExists, Code::kUsage, Code::kCancelled,
                 Code::kStorageUnreachable, Code::kStorageBadKey, Code::kStorageBadSecret,
                 Code::kStorageClockSkew, Code::kStorageNoBucket, Code::kStorageDenied, Code::kStorage}) {
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
  EXPECT_EQ(bad.value_or(7), 7);
  EXPECT_EQ(ok.value_or(7), 5);
}

// Reading a failed Result is a bug: it says so and throws BadResultAccess (which every daemon
// thread's top catches), never std::bad_variant_access from deep inside the variant.
TEST(Status, ValueOfAFailedResultThrowsBadResultAccessWithTheStatus) {
  Result<int> bad(Code::kIo, "database down");
  try {
    (void)bad.value();
    ADD_FAILURE() << "value() of a failed Result returned";
  } catch (const BadResultAccess& e) {
    EXPECT_STREQ(e.what(), "value() of a failed Result (io: database down)");
  }
  EXPECT_THROW((void)*bad, BadResultAccess);
  const Result<std::string> cbad(Code::kIo, "x");
  EXPECT_THROW((void)cbad->size(), BadResultAccess);
}

}  // namespace
}  // namespace kiln
