// The supervisor against stand-in workers: small shell scripts that speak (or break) the
// protocol, crash, hang or ignore SIGTERM. Real processes and signals, no kiln media needed.

#include "node/worker_supervisor.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "kiln/node_config.hpp"
#include "metrics/registry.hpp"

namespace kiln::node {
namespace {

WorkerCommand sh(const std::string& script) { return {"/bin/sh", {"sh", "-c", script}}; }

worker::JobMessage a_job() {
  worker::JobMessage job;
  job.id = 7;
  job.spec = {{"input", "/media/a.mp4"}, {"output", "/out/a"}};
  return job;
}

WorkerLimits quick_limits() {
  WorkerLimits l;
  l.memory_mb = 0;
  l.wall_factor = 0;
  l.wall_min_seconds = 0;
  l.kill_grace_seconds = 0.5;
  return l;
}

double failures(const std::string& reason) {
  return metrics::default_registry()
      .counter("kiln_worker_failures_total", "", {"reason"})
      .counter({reason})
      .value();
}

TEST(WorkerSupervisor, PumpsReportsAndAnswersThePublishRequest) {
  // Reads its job, checks it is job 7, reports, asks to publish, and succeeds only on yes.
  auto cmd = sh(R"(read job; case "$job" in *'"id":7'*) ;; *) exit 9;; esac
    echo '{"type":"input","details":{"uri":"/media/a.mp4"},"durationSeconds":3}' >&3
    echo '{"type":"device","backend":"vaapi","id":"/dev/dri/renderD128","sessions":2,"running":true}' >&3
    echo '{"type":"progress","phase":"transcoding","percent":50,"fps":30,"speed":1,"frames":90,"etaSeconds":3}' >&3
    echo '{"type":"strike","device":"vaapi:/dev/dri/renderD128","reason":"device lost"}' >&3
    echo '{"type":"device","backend":"vaapi","id":"/dev/dri/renderD128","sessions":2,"running":false}' >&3
    echo '{"type":"publish?"}' >&3
    read answer; case "$answer" in *'"ok":true'*) ;; *) echo '{"type":"error","code":"cancelled","message":"no"}' >&3; exit 130;; esac
    echo '{"type":"result","output":{"detail":{"status":"COMPLETE"}},"backend":"vaapi","fallbacks":[]}' >&3)");
  std::vector<std::string> seen;
  int sessions = 0;
  WorkerCallbacks cb;
  cb.on_input = [&](const nlohmann::json& d, double s) { seen.push_back("input " + d["uri"].get<std::string>() + " " + std::to_string(int(s))); };
  cb.on_device = [&](const Device& d, int n, bool running) { sessions += running ? n : -n; seen.push_back("device " + d.id); };
  cb.on_progress = [&](const Progress& p) { seen.push_back("progress " + std::to_string(p.frames)); };
  cb.on_strike = [&](const std::string& key, const std::string& why) { seen.push_back("strike " + key + " " + why); };
  cb.before_publish = [&] { seen.push_back("publish?"); return true; };
  auto r = run_worker(a_job(), quick_limits(), cb, nullptr, cmd);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->backend, "vaapi");
  EXPECT_EQ(r->output["detail"]["status"], "COMPLETE");
  EXPECT_EQ(sessions, 0);
  EXPECT_EQ(seen, (std::vector<std::string>{"input /media/a.mp4 3", "device /dev/dri/renderD128", "progress 90",
                                            "strike vaapi:/dev/dri/renderD128 device lost",
                                            "device /dev/dri/renderD128", "publish?"}));
}

TEST(WorkerSupervisor, APublishRefusedIsCancelled) {
  auto cmd = sh(R"(read job; echo '{"type":"publish?"}' >&3; read answer
    case "$answer" in *'"ok":false'*) echo '{"type":"error","code":"cancelled","message":"not ours"}' >&3; exit 130;; esac
    echo '{"type":"result","output":{},"backend":"software","fallbacks":[]}' >&3)");
  WorkerCallbacks cb;
  cb.before_publish = [] { return false; };
  auto r = run_worker(a_job(), quick_limits(), cb, nullptr, cmd);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCancelled);
}

TEST(WorkerSupervisor, TheWorkersOwnErrorComesBackAsIs) {
  auto r = run_worker(a_job(), quick_limits(), {}, nullptr,
                      sh(R"(read job; echo '{"type":"error","code":"input_truncated","message":"cut short"}' >&3; exit 14)"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInputTruncated);
  EXPECT_EQ(r.status().message(), "cut short");
}

TEST(WorkerSupervisor, ACrashFailsTheAttemptNamingTheSignalAndReleasesItsSessions) {
  double before = failures("signal");
  int sessions = 0;
  WorkerCallbacks cb;
  cb.on_device = [&](const Device&, int n, bool running) { sessions += running ? n : -n; };
  auto r = run_worker(a_job(), quick_limits(), cb, nullptr,
                      sh(R"(read job; echo '{"type":"device","backend":"software","id":"cpu","sessions":2,"running":true}' >&3; kill -SEGV $$)"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);  // retryable
  EXPECT_NE(r.status().message().find("worker killed by SIGSEGV"), std::string::npos) << r.status().message();
  EXPECT_EQ(sessions, 0) << "a dead worker's sessions go back at once";
  EXPECT_EQ(failures("signal"), before + 1);
}

TEST(WorkerSupervisor, ExitingWithoutAResultIsAFailure) {
  auto r = run_worker(a_job(), quick_limits(), {}, nullptr, sh("read job; exit 3"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("exited with status 3 without a result"), std::string::npos)
      << r.status().message();
  auto clean = run_worker(a_job(), quick_limits(), {}, nullptr, sh("read job; exit 0"));
  ASSERT_FALSE(clean.is_ok());
  EXPECT_NE(clean.status().message().find("status 0 without a result"), std::string::npos);
}

TEST(WorkerSupervisor, GarbageOnTheReportPipeKillsTheWorker) {
  double before = failures("protocol");
  auto r = run_worker(a_job(), quick_limits(), {}, nullptr, sh("read job; echo 'hello' >&3; exec sleep 600"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("not a JSON object"), std::string::npos) << r.status().message();
  EXPECT_EQ(failures("protocol"), before + 1);
}

TEST(WorkerSupervisor, AHangIsKilledAtTheWallClockLimit) {
  WorkerLimits l = quick_limits();
  l.wall_min_seconds = 0.5;
  auto r = run_worker(a_job(), l, {}, nullptr, sh("read job; exec sleep 600"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
  EXPECT_NE(r.status().message().find("exceeded the wall-clock limit"), std::string::npos) << r.status().message();
}

TEST(WorkerSupervisor, WallClockLimitFollowsTheInputDuration) {
  WorkerLimits l;
  l.wall_factor = 10;
  l.wall_min_seconds = 60;
  EXPECT_DOUBLE_EQ(wall_limit_seconds(l, 0), 60);    // not probed yet: the floor
  EXPECT_DOUBLE_EQ(wall_limit_seconds(l, 3), 60);    // short input: the floor
  EXPECT_DOUBLE_EQ(wall_limit_seconds(l, 600), 6000);
  l.wall_factor = 0;
  l.wall_min_seconds = 0;
  EXPECT_DOUBLE_EQ(wall_limit_seconds(l, 600), 0);   // no limit
}

TEST(WorkerSupervisor, MemoryPastTheLimitKillsTheWorker) {
  WorkerLimits l = quick_limits();
  l.memory_mb = 64;
  // A shell that grows a string without bound: the kernel's RLIMIT_DATA or the node's resident
  // check stops it; either way the attempt says the memory limit was the reason.
  auto r = run_worker(a_job(), l, {}, nullptr,
                      sh("read job; s=xxxxxxxxxxxxxxxx; while :; do s=\"$s$s\"; done"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
  const std::string m = r.status().message();  // status() returns a copy: keep the string
  EXPECT_NE(m.find("memory limit of 64 MiB (worker_memory_mb)"), std::string::npos) << m;
}

TEST(WorkerSupervisor, CancelSendsSigtermThenSigkill) {
  std::atomic<bool> cancel{false};
  // Ignores SIGTERM: only the SIGKILL after the grace period ends it.
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  auto r = run_worker(a_job(), quick_limits(), {}, &cancel, sh("trap '' TERM; read job; while :; do sleep 0.1; done"));
  canceller.join();
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCancelled);
}

TEST(WorkerSupervisor, AMissingBinaryIsAFailureNotACrash) {
  auto r = run_worker(a_job(), quick_limits(), {}, nullptr, {"/nonexistent/kiln", {"kiln", "worker"}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
}

TEST(WorkerSupervisor, LimitsComeFromNodeToml) {
  auto c = parse_node_config("[node]\nworker_memory_mb = 2048\nworker_wall_factor = 4\n"
                             "worker_wall_min_seconds = 120\nworker_kill_grace_seconds = 3\n", "node.toml");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  WorkerLimits l = worker_limits(*c);
  EXPECT_DOUBLE_EQ(l.memory_mb, 2048);
  EXPECT_DOUBLE_EQ(l.wall_factor, 4);
  EXPECT_DOUBLE_EQ(l.wall_min_seconds, 120);
  EXPECT_DOUBLE_EQ(l.kill_grace_seconds, 3);
  auto defaults = worker_limits(*parse_node_config("", "node.toml"));
  EXPECT_DOUBLE_EQ(defaults.memory_mb, 4096);
  EXPECT_DOUBLE_EQ(wall_limit_seconds(defaults, 3600), 36000);
  auto negative = parse_node_config("[node]\nworker_memory_mb = -1\n", "node.toml");
  ASSERT_FALSE(negative.is_ok());
  EXPECT_NE(negative.status().message().find("worker_"), std::string::npos);
}

TEST(WorkerSupervisor, SignalNames) {
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
}

}  // namespace
}  // namespace kiln::node
