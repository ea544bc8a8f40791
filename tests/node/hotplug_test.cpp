#include "node/hotplug.hpp"

#include <gtest/gtest.h>

namespace kiln::node {
namespace {

// There is no udev daemon here to send events: the monitor must either listen or say why,
// and report no change without blocking.
TEST(Hotplug, StartsOrSaysWhyAndNeverBlocks) {
  HotplugMonitor m;
  Status st = m.start();
  if (!st.is_ok()) {
    EXPECT_EQ(st.code(), Code::kUnsupported);
    EXPECT_FALSE(st.message().empty());
  }
  std::string what;
  EXPECT_FALSE(m.changed(&what));
  EXPECT_TRUE(what.empty());
}

}  // namespace
}  // namespace kiln::node
