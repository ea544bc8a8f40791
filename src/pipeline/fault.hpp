#pragma once
// Fault injection, off unless KILN_FAULT is set: makes one backend fail so the fallback chain,
// strikes and quarantine can be seen working without a broken GPU.
//   KILN_FAULT=vulkan:open       the backend fails to open its device
//   KILN_FAULT=vulkan:frame=30   every rendition on that backend fails at its 30th frame
//   KILN_FAULT=worker:crash=30   a job's worker process dies of SIGSEGV at source frame 30
//                                (worker:crash alone: at its first frame); also worker:abort=N
//                                (SIGABRT), worker:oom=N (allocates until its memory limit) and
//                                worker:hang=N (stops making progress). A suffix @TEXT limits it
//                                to jobs whose input path contains TEXT: worker:crash=5@bad.mp4

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/status.hpp"

namespace kiln::pipeline {

enum class WorkerFault { kNone, kCrash, kAbort, kOom, kHang };

struct FaultPlan {
  std::string backend;              // "worker" for the worker-process faults
  bool at_open = false;
  int64_t at_frame = -1;
  WorkerFault worker = WorkerFault::kNone;
  std::string only_input;           // worker faults: only inputs whose path contains this
};

/// Parses a KILN_FAULT value; kUsage says what a valid one looks like.
Result<FaultPlan> parse_fault(std::string_view spec);

/// The plan from the environment; nullopt when KILN_FAULT is unset or empty. An invalid value
/// is logged at error and ignored (a typo must not silently break a production node either way).
std::optional<FaultPlan> fault_from_env();

}  // namespace kiln::pipeline
