#pragma once
// Runs one job in a worker process (`kiln worker`) and watches it: the node's side of
// node/worker_protocol.hpp. Media is parsed only in the worker, so a decoder crash, a runaway
// allocation or a hang ends that one attempt, reported as a retryable failure, never the node.

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/backend.hpp"
#include "kiln/node_config.hpp"
#include "kiln/pipeline.hpp"
#include "kiln/status.hpp"
#include "node/worker_protocol.hpp"

namespace kiln::node {

/// The hard limits the node enforces from outside the worker (node.toml [node] worker_*).
struct WorkerLimits {
  double memory_mb = 4096;        // RLIMIT_DATA on the worker, and its resident size; 0 = none
  double wall_factor = 10;        // wall clock: max(wall_min_seconds, factor * input duration)
  double wall_min_seconds = 600;  // the limit until the input is probed; 0 and 0 = none
  double kill_grace_seconds = 10; // cancel: SIGTERM, then SIGKILL after this long
};
WorkerLimits worker_limits(const NodeConfig& config);

/// The wall-clock limit for an input of `duration_seconds` (<= 0: not yet known); 0 = none.
double wall_limit_seconds(const WorkerLimits& limits, double duration_seconds);

/// What the worker reports, delivered on the calling thread.
struct WorkerCallbacks {
  std::function<void(const Progress&)> on_progress;
  std::function<void(const nlohmann::json& input_details, double duration_seconds)> on_input;
  /// `device` carries the backend and id (the rest is the node's own device list).
  std::function<void(const Device& device, int sessions, bool running)> on_device;
  /// A strike the worker counted against a device: the node's DeviceHealth records it.
  std::function<void(const std::string& key, const std::string& reason)> on_strike;
  /// The worker asks before its atomic publish; false: it publishes nothing (kCancelled).
  std::function<bool()> before_publish;
  /// The worker asks where its planned ladder goes (the node's ledger reserves it there); a
  /// Status (kBusy) when nothing can take it now. Unset: the devices in the order offered.
  std::function<Result<DevicePlacement>(const DeviceDemand&)> on_place;
};

/// A completed job: result_json() of the TranscodeResult, and what the node logs from it.
struct WorkerOutcome {
  nlohmann::json output;
  std::string backend;
  std::vector<std::string> fallbacks;
};

/// How to start a worker. The node uses the defaults (this binary, `kiln worker`); tests may
/// start any program that speaks the protocol.
struct WorkerCommand {
  std::string exe = "/proc/self/exe";
  std::vector<std::string> args = {"kiln", "worker"};  // argv, argv[0] included
};

/// Starts the worker, sends it `job`, pumps its reports to `callbacks` until it exits, and
/// returns its result or why it has none. Blocks the calling thread; thread-safe (one call
/// per job). `cancel` set: SIGTERM, then SIGKILL after the grace period; returns kCancelled.
/// A worker that dies of a signal, exits without a result, breaks the protocol or passes a
/// limit is killed if need be and reported as kInternal (retryable) saying what happened,
/// logged at warn and counted in kiln_worker_failures_total{reason}.
Result<WorkerOutcome> run_worker(const worker::JobMessage& job, const WorkerLimits& limits,
                                 const WorkerCallbacks& callbacks, const std::atomic<bool>* cancel,
                                 const WorkerCommand& command = {});

/// "SIGSEGV" for SIGSEGV, "signal 77" for a number without a name.
std::string signal_name(int sig);

}  // namespace kiln::node
