#include "pipeline/fault.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <mutex>

#include "log.hpp"

namespace kiln::pipeline {

Result<FaultPlan> parse_fault(std::string_view spec) {
  auto bad = [&] {
    return Status(Code::kUsage, fmt::format("KILN_FAULT='{}': expected BACKEND:open, "
                                            "BACKEND:frame=N or worker:crash|abort|oom|hang[=N][@TEXT]", spec));
  };
  auto number = [](std::string_view n, int64_t* out) {
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), *out);
    return ec == std::errc() && end == n.data() + n.size() && *out >= 0;
  };
  auto colon = spec.find(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  FaultPlan plan;
  plan.backend = std::string(spec.substr(0, colon));
  std::string_view what = spec.substr(colon + 1);
  if (plan.backend == "worker") {
    if (auto at = what.find('@'); at != std::string_view::npos) {
      plan.only_input = std::string(what.substr(at + 1));
      what = what.substr(0, at);
      if (plan.only_input.empty()) return bad();
    }
    std::string_view kind = what.substr(0, what.find('='));
    if (kind == "crash") plan.worker = WorkerFault::kCrash;
    else if (kind == "abort") plan.worker = WorkerFault::kAbort;
    else if (kind == "oom") plan.worker = WorkerFault::kOom;
    else if (kind == "hang") plan.worker = WorkerFault::kHang;
    else return bad();
    plan.at_frame = 1;
    if (kind.size() < what.size() && !number(what.substr(kind.size() + 1), &plan.at_frame)) return bad();
    return plan;
  }
  if (what == "open") {
    plan.at_open = true;
    return plan;
  }
  constexpr std::string_view kFrame = "frame=";
  if (!what.starts_with(kFrame)) return bad();
  if (!number(what.substr(kFrame.size()), &plan.at_frame)) return bad();
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
