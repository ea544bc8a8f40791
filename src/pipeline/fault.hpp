#pragma once
// Fault injection, off unless KILN_FAULT is set: makes one backend fail so the fallback chain,
// strikes and quarantine can be seen working without a broken GPU.
//   KILN_FAULT=vulkan:open       the backend fails to open its device
//   KILN_FAULT=vulkan:frame=30   every rendition on that backend fails at its 30th frame

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/status.hpp"

namespace kiln::pipeline {

struct FaultPlan {
  std::string backend;
  bool at_open = false;
  int64_t at_frame = -1;
};

/// Parses a KILN_FAULT value; kUsage says what a valid one looks like.
Result<FaultPlan> parse_fault(std::string_view spec);

/// The plan from the environment; nullopt when KILN_FAULT is unset or empty. An invalid value
/// is logged at error and ignored (a typo must not silently break a production node either way).
std::optional<FaultPlan> fault_from_env();

}  // namespace kiln::pipeline
