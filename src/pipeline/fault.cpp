#include "pipeline/fault.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <mutex>

#include "log.hpp"

namespace kiln::pipeline {

Result<FaultPlan> parse_fault(std::string_view spec) {
  auto bad = [&] {
    return Status(Code::kUsage, fmt::format("KILN_FAULT='{}': expected BACKEND:open or "
                                            "BACKEND:frame=N", spec));
  };
  auto colon = spec.find(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  FaultPlan plan;
  plan.backend = std::string(spec.substr(0, colon));
  std::string_view what = spec.substr(colon + 1);
  if (what == "open") {
    plan.at_open = true;
    return plan;
  }
  constexpr std::string_view kFrame = "frame=";
  if (!what.starts_with(kFrame)) return bad();
  std::string_view n = what.substr(kFrame.size());
  auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), plan.at_frame);
  if (ec != std::errc() || end != n.data() + n.size() || plan.at_frame < 0) return bad();
  return plan;
}

std::optional<FaultPlan> fault_from_env() {
  const char* v = std::getenv("KILN_FAULT");
  if (!v || !*v) return std::nullopt;
  auto plan = parse_fault(v);
  if (!plan) {
    logger("pipeline")->error("{}; no fault injected", plan.status().message());
    return std::nullopt;
  }
  static std::once_flag announced;  // once per process, however often it is consulted
  std::call_once(announced, [&] {
    logger("pipeline")->warn("fault injection on: {} fails {}", plan->backend,
                             plan->at_open ? std::string("at open")
                                           : fmt::format("at frame {}", plan->at_frame));
  });
  return *plan;
}

}  // namespace kiln::pipeline
