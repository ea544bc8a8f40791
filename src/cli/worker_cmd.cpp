// `kiln worker` (hidden): runs one of the node's jobs in a process of its own, so untrusted
// media is parsed only here. The node (node/worker_supervisor.cpp) writes the job to our stdin
// and reads our reports from fd 3 (node/worker_protocol.hpp); we exit when the job ends.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "cli/commands.hpp"
#include "kiln/pipeline.hpp"
#include "log.hpp"
#include "metrics/registry.hpp"
#include "node/worker_protocol.hpp"
#include "pipeline/fault.hpp"
#include "pipeline/result_json.hpp"
#include "scheduler/device_health.hpp"

namespace kiln::cli {
namespace {

namespace proto = node::worker;

std::atomic<bool> g_cancel{false};
pid_t g_node = 0;
/// Only the node stops a job. systemd's stop (KillMode=control-group) sends SIGTERM to every
/// process of the unit at once; the node then drains, letting running jobs finish, and tells
/// each worker itself when to stop. So a SIGTERM from anyone else is not a cancel.
extern "C" void on_cancel_signal(int, siginfo_t* info, void*) {
  if (g_node == 0 || info == nullptr || info->si_pid == g_node) g_cancel.store(true);
}

// Written by the new-handler, which must not allocate: prepared before the job starts.
std::string g_oom_line;

void write_report(const std::string& line) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(proto::kReportFd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the node is gone; PR_SET_PDEATHSIG ends us
    done += static_cast<size_t>(n);
  }
}

void on_out_of_memory() {
  (void)!::write(proto::kReportFd, g_oom_line.data(), g_oom_line.size());
  _exit(exit_code(Code::kInternal));
}

/// KILN_FAULT=worker:...: the worker misbehaves on purpose once the job reaches a frame.
void maybe_inject_fault(const pipeline::FaultPlan& fault, const Progress& p) {
  if (p.frames < fault.at_frame) return;
  switch (fault.worker) {
    case pipeline::WorkerFault::kCrash:
      logger("worker")->warn("fault injection: crashing with SIGSEGV at frame {}", p.frames);
      std::raise(SIGSEGV);
      break;
    case pipeline::WorkerFault::kAbort:
      logger("worker")->warn("fault injection: aborting at frame {}", p.frames);
      std::abort();
    case pipeline::WorkerFault::kOom: {
      logger("worker")->warn("fault injection: allocating without bound at frame {}", p.frames);
      static std::vector<char*> hog;
      for (;;) {
        char* block = new char[64 << 20];
        for (size_t i = 0; i < (64u << 20); i += 4096) block[i] = 1;  // resident, not just reserved
        hog.push_back(block);
      }
    }
    case pipeline::WorkerFault::kHang:
      logger("worker")->warn("fault injection: hanging at frame {}", p.frames);
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    case pipeline::WorkerFault::kNone:
      break;
  }
}

int run_job(const proto::JobMessage& job) {
  auto log = logger("worker");
  auto ladder = proto::ladder_from_spec(job.spec);
  if (!ladder) {
    write_report(proto::error_line(ladder.status()));
    return exit_code(ladder.status().code());
  }
  scheduler::DeviceHealth health(scheduler::DeviceHealth::Policy{
      job.config.strikes, std::chrono::seconds(job.config.strike_window_seconds)});
  for (const auto& key : job.quarantined)  // the node's verdict holds here too
    for (int i = 0; i < job.config.strikes; ++i) health.strike(key, "quarantined by the node");
  health.set_strike_observer([](const std::string& key, const std::string& reason) {
    write_report(proto::strike_line(key, reason));
  });

  TranscodeRequest req;
  req.input = job.spec.value("input", "");
  req.output_dir = job.spec.value("output", "");
  req.ladder = std::move(ladder).value();
  req.overwrite = false;  // only this job's own earlier output is replaced (the result.json marker)
  req.job_id = job.id;
  req.job_attempt = job.attempt;
  req.clear_stale_staging = job.attempt > 1;
  req.locations = &job.locations;
  req.scratch_dir = job.config.scratch_dir;
  // The publish check renews the lease: manifests go out within half of it or not at all, so an
  // attempt stalled past its lease never writes over the next attempt's.
  req.manifest_window_seconds = job.config.lease_seconds / 2;
  req.backend = job.spec.value("backend", "auto");
  req.device = job.spec.value("device", "");
  req.devices = &job.devices;
  req.quarantined = [&health](const std::string& key) { return health.quarantined(key); };
  req.strike = [&health](const std::string& key, const std::string& reason) { health.strike(key, reason); };
  req.cancel = &g_cancel;
  auto fault = pipeline::fault_from_env();
  if (fault && (fault->worker == pipeline::WorkerFault::kNone ||
                req.input.find(fault->only_input) == std::string::npos))
    fault.reset();
  req.on_progress = [fault](const Progress& p) {
    write_report(proto::progress_line(p));
    if (fault && p.phase == "transcoding") maybe_inject_fault(*fault, p);
  };
  req.on_input = [](const MediaInfo& info) {
    write_report(proto::input_line(pipeline::input_details(info), info.duration_seconds));
  };
  req.on_device = [](const Device& d, int sessions, bool running) {
    write_report(proto::device_line(d, sessions, running));
  };
  req.place = [](const DeviceDemand& demand) -> Result<DevicePlacement> {
    write_report(proto::place_request_line(demand));
    std::string answer;
    if (!std::getline(std::cin, answer)) return Status(Code::kCancelled, "the node is gone");
    return proto::decode_place_answer(answer);
  };
  req.before_publish = [] {
    write_report(proto::publish_request_line());
    std::string answer;
    if (!std::getline(std::cin, answer)) return false;  // the node is gone: publish nothing
    auto ok = proto::decode_publish_answer(answer);
    return ok && *ok;
  };
  auto result = transcode(req);
  // What this process counted (S3 retries, fallbacks...) goes to the node, whose /metrics shows it.
  write_report(proto::counters_line(metrics::default_registry().counters()));
  if (!result) {
    write_report(proto::error_line(result.status()));
    return exit_code(result.status().code());
  }
  write_report(proto::result_line(pipeline::result_json(*result), result->backend, result->fallbacks));
  return 0;
}

int run_worker(long parent) {
  // The node dying must not leave an orphan transcoding for nobody.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (parent > 0 && getppid() != parent) return exit_code(Code::kCancelled);
  g_node = static_cast<pid_t>(parent);
  struct sigaction sa {};
  sa.sa_sigaction = on_cancel_signal;
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  std::string first;
  if (!std::getline(std::cin, first)) {
    std::fputs("kiln worker: no job on stdin (this command is started by kiln node)\n", stderr);
    return exit_code(Code::kUsage);
  }
  auto parsed = nlohmann::json::parse(first, nullptr, false);
  auto job = parsed.is_discarded() ? Result<proto::JobMessage>(Status(Code::kInternal, "worker: the job is not JSON"))
                                   : proto::decode_job(parsed);
  if (!job) {
    write_report(proto::error_line(job.status()));
    return exit_code(job.status().code());
  }
  spdlog::set_pattern(fmt::format("%^%L%$ %H:%M:%S.%e [%n] job {} worker {}: %v", job->id, getpid()));
  struct rlimit rl {};
  getrlimit(RLIMIT_DATA, &rl);
  g_oom_line = proto::error_line(Status(
      Code::kInternal, rl.rlim_cur == RLIM_INFINITY
                           ? std::string("worker ran out of memory")
                           : fmt::format("worker ran out of memory: it reached the memory limit of {} MiB "
                                         "(worker_memory_mb)", rl.rlim_cur >> 20)));
  std::set_new_handler(on_out_of_memory);
  try {
    return run_job(*job);
  } catch (const std::exception& e) {  // a bug, reported as this attempt's failure
    Status st(Code::kInternal, fmt::format("worker: unexpected exception: {}", e.what()));
    write_report(proto::error_line(st));
    return exit_code(st.code());
  }
}

}  // namespace

std::function<int()> add_worker(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("worker", "Run one job for kiln node (started by the node).");
  sub->group("");  // hidden: not for people
  auto parent = std::make_shared<long>(0);
  sub->add_option("--parent", *parent, "the node's pid");
  return [parent] { return run_worker(*parent); };
}

}  // namespace kiln::cli
