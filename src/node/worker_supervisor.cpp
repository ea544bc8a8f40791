#include "node/worker_supervisor.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "log.hpp"
#include "metrics/registry.hpp"
#include "pipeline/staging_dir.hpp"

extern char** environ;

namespace kiln::node {
namespace {

using Clock = std::chrono::steady_clock;

/// A file descriptor this object owns and closes.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd_ = std::exchange(o.fd_, -1);
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// A close-on-exec pipe whose ends are above the fds a worker is given (0..3), so dup2 onto
/// 0 and 3 in the child can never clobber the other end.
Status make_pipe(Fd* read_end, Fd* write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status(Code::kInternal, fmt::format("pipe: {}", strerror(errno)));
  for (int i = 0; i < 2; ++i) {
    if (fds[i] > worker::kReportFd) continue;
    int high = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
    ::close(fds[i]);
    fds[i] = high;
  }
  *read_end = Fd(fds[0]);
  *write_end = Fd(fds[1]);
  if (fds[0] < 0 || fds[1] < 0) return Status(Code::kInternal, "pipe: cannot move above fd 3");
  return Status::ok();
}

bool write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

/// The node writes answers into a pipe whose reader may have died: EPIPE, not SIGPIPE.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, nullptr);
  });
}

/// Resident bytes of `pid` from /proc; 0 when unknown.
int64_t resident_bytes(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/statm", pid));
  int64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * sysconf(_SC_PAGESIZE);
}

metrics::Family& failures_metric() {
  static metrics::Family& f = metrics::default_registry().counter(
      "kiln_worker_failures_total",
      "Job attempts whose worker process crashed, exited without a result, broke the protocol "
      "or was killed past a limit.",
      {"reason"});
  return f;
}

/// One running worker: the process, its pipes, and why the node killed it (if it did).
class Supervised {
 public:
  Supervised(const worker::JobMessage& job, const WorkerLimits& limits, const WorkerCallbacks& cb,
             const std::atomic<bool>* cancel)
      : job_(job), limits_(limits), cb_(cb), cancel_(cancel) {}

  ~Supervised() {
    if (pid_ > 0 && !reaped_) {  // never leave a worker behind, whatever happened
      ::kill(pid_, SIGKILL);
      int st;
      while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
  }

  Status start(const WorkerCommand& command) {
    ignore_sigpipe_once();
    Fd job_read, report_write;
    KILN_RETURN_IF_ERROR(make_pipe(&job_read, &job_write_));
    KILN_RETURN_IF_ERROR(make_pipe(&report_read_, &report_write));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, job_read.get(), 0);
    posix_spawn_file_actions_adddup2(&fa, 2, 1);  // stray prints land in the node's log
    posix_spawn_file_actions_adddup2(&fa, report_write.get(), worker::kReportFd);
    posix_spawn_file_actions_addclosefrom_np(&fa, worker::kReportFd + 1);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults, empty;
    sigemptyset(&defaults);
    for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&defaults, s);
    sigemptyset(&empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setpgroup(&attr, 0);  // a terminal's Ctrl-C reaches the node, which decides
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    std::vector<std::string> args = command.args;
    args.push_back("--parent");
    args.push_back(std::to_string(getpid()));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, command.exe.c_str(), &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      return Status(Code::kInternal, fmt::format("cannot start the worker {}: {}", command.exe, strerror(rc)));
    }
    started_ = Clock::now();
    // The worker waits for its job on stdin, so the limit is in place before it reads any media.
    if (limits_.memory_mb > 0) {
      rlim_t bytes = static_cast<rlim_t>(limits_.memory_mb * 1024 * 1024);
      struct rlimit rl {bytes, bytes};
      if (prlimit(pid_, RLIMIT_DATA, &rl, nullptr) != 0)
        logger("node")->warn("job {}: cannot limit the worker's memory: {}", job_.id, strerror(errno));
    }
    if (!write_all(job_write_.get(), worker::encode_job(job_).dump() + "\n"))
      logger("node")->warn("job {}: the worker did not take its job: {}", job_.id, strerror(errno));
    return Status::ok();
  }

  Result<WorkerOutcome> supervise() {
    bool eof = false;
    int status = 0;
    char buf[65536];
    for (;;) {
      if (!eof) {
        pollfd p{report_read_.get(), POLLIN, 0};
        int n = poll(&p, 1, 100);
        if (n > 0) {
          ssize_t got = ::read(report_read_.get(), buf, sizeof buf);
          if (got > 0) handle_bytes(std::string_view(buf, static_cast<size_t>(got)));
          else if (got == 0 || (errno != EINTR && errno != EAGAIN)) eof = true;
        }
      } else {
        struct rusage usage {};
        pid_t r = wait4(pid_, &status, WNOHANG, &usage);
        peak_rss_bytes_ = static_cast<int64_t>(usage.ru_maxrss) * 1024;
        if (r == pid_) {
          reaped_ = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      enforce();
    }
    return outcome(status);
  }

 private:
  void handle_bytes(std::string_view bytes) {
    if (kill_reason_) return;  // being killed: nothing it says counts any more
    auto lines = splitter_.feed(bytes);
    if (!lines) return kill_for("protocol", lines.status().message());
    for (const auto& line : *lines) {
      auto report = worker::decode_report(line);
      if (!report) return kill_for("protocol", report.status().message());
      dispatch(*report);
      if (kill_reason_) return;
    }
  }

  void dispatch(const worker::Report& r) {
    using Kind = worker::Report::Kind;
    switch (r.kind) {
      case Kind::kProgress:
        if (cb_.on_progress) cb_.on_progress(r.progress);
        break;
      case Kind::kInput:
        duration_ = r.input_duration_seconds;
        if (cb_.on_input) cb_.on_input(r.input_details, r.input_duration_seconds);
        break;
      case Kind::kDevice: {
        Device d;
        d.backend = r.device_backend;
        d.id = r.device_id;
        if (cb_.on_device) cb_.on_device(d, r.sessions, r.running);
        std::string key = d.backend + ":" + d.id;
        if (r.running) open_sessions_.push_back({d, r.sessions});
        else
          for (auto it = open_sessions_.begin(); it != open_sessions_.end(); ++it)
            if (it->first.backend + ":" + it->first.id == key && it->second == r.sessions) {
              open_sessions_.erase(it);
              break;
            }
        break;
      }
      case Kind::kStrike:
        if (cb_.on_strike) cb_.on_strike(r.strike_key, r.reason);
        break;
      case Kind::kPlaceRequest: {
        Result<DevicePlacement> placed = DevicePlacement{r.demand.candidates, "", -1, "in the order offered"};
        if (cb_.on_place) placed = cb_.on_place(r.demand);
        else if (r.demand.candidates.empty()) placed = Status(Code::kBusy, "no device was offered");
        (void)write_all(job_write_.get(), worker::place_answer_line(placed));
        break;
      }
      case Kind::kPublishRequest: {
        bool ok = !(cancel_ && cancel_->load()) && (!cb_.before_publish || cb_.before_publish());
        (void)write_all(job_write_.get(), worker::publish_answer_line(ok));
        break;
      }
      case Kind::kCounters:  // S3 retries, fallbacks...: counted in the worker, shown on the node's /metrics
        metrics::default_registry().add(r.counters);
        break;
      case Kind::kResult:
        result_ = WorkerOutcome{r.output, r.backend, r.fallbacks};
        break;
      case Kind::kError:
        error_ = r.status;
        break;
    }
  }

  /// Cancel, wall clock and memory, checked every tick.
  void enforce() {
    if (reaped_) return;
    auto now = Clock::now();
    if (cancel_ && cancel_->load() && !term_sent_) {
      term_sent_ = true;
      kill_deadline_ = now + std::chrono::milliseconds(static_cast<int64_t>(limits_.kill_grace_seconds * 1000));
      ::kill(pid_, SIGTERM);
    }
    if (term_sent_ && !kill_sent_ && now >= kill_deadline_) {
      logger("node")->warn("job {}: the worker ignored SIGTERM for {} s; killing it", job_.id,
                           limits_.kill_grace_seconds);
      kill_sent_ = true;
      ::kill(pid_, SIGKILL);
    }
    if (kill_reason_) return;
    double wall = wall_limit_seconds(limits_, duration_);
    double elapsed = std::chrono::duration<double>(now - started_).count();
    if (wall > 0 && elapsed > wall)
      return kill_for("wall_clock", fmt::format("worker exceeded the wall-clock limit of {:g} s "
                                                "(worker_wall_factor x input duration, at least "
                                                "worker_wall_min_seconds)", wall));
    if (limits_.memory_mb > 0 && now - last_memory_check_ > std::chrono::milliseconds(100)) {
      last_memory_check_ = now;
      int64_t rss = resident_bytes(pid_);
      if (rss > static_cast<int64_t>(limits_.memory_mb * 1024 * 1024))
        return kill_for("memory", fmt::format("worker exceeded the memory limit of {:.0f} MiB "
                                              "(worker_memory_mb): {} MiB resident",
                                              limits_.memory_mb, rss >> 20));
    }
  }

  void kill_for(const char* reason, std::string message) {
    if (kill_reason_) return;
    kill_reason_ = reason;
    kill_message_ = std::move(message);
    kill_sent_ = true;
    ::kill(pid_, SIGKILL);
  }

  Result<WorkerOutcome> outcome(int status) {
    release_sessions();
    const bool cancelled = cancel_ && cancel_->load();
    if (cancelled && (kill_reason_ || !result_)) {
      if (error_ && error_->code() == Code::kCancelled) return *error_;
      return Status(Code::kCancelled, "cancelled; the worker was stopped");
    }
    if (kill_reason_) return failed(kill_reason_, kill_message_);
    if (WIFSIGNALED(status)) {
      int sig = WTERMSIG(status);
      return failed("signal", fmt::format("worker killed by {}{}{}", signal_name(sig),
                                          WCOREDUMP(status) ? " (core dumped)" : "", near_memory_limit()));
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (result_ && code == 0) return std::move(*result_);
    if (error_) return *error_;
    return failed("exit", fmt::format("worker exited with status {} without a result{}", code, near_memory_limit()));
  }

  /// A worker that died after growing close to its memory limit most likely died of it (an
  /// allocation refused by RLIMIT_DATA): the message says so, for the operator.
  std::string near_memory_limit() const {
    const double limit = limits_.memory_mb * 1024 * 1024;
    if (limit <= 0 || peak_rss_bytes_ < 0.4 * limit) return "";
    return fmt::format("; it had used {} MiB, near its memory limit of {:.0f} MiB (worker_memory_mb)",
                       peak_rss_bytes_ >> 20, limits_.memory_mb);
  }

  /// A worker that died holding encoder sessions gives them back at once.
  void release_sessions() {
    for (const auto& [device, sessions] : open_sessions_)
      if (cb_.on_device) cb_.on_device(device, sessions, false);
    open_sessions_.clear();
  }

  Status failed(const char* reason, const std::string& message) {
    logger("node")->warn("job {} attempt {}: {}; the attempt fails and the job is retried", job_.id,
                         job_.attempt, message);
    failures_metric().counter({reason}).inc();
    // A worker that died mid-job could not remove its staging directory; its destructor never ran.
    const auto it = job_.spec.find("output");
    const std::string output = it != job_.spec.end() && it->is_string() ? it->get<std::string>() : "";
    if (!output.empty() && !storage::is_s3_url(output))  // an s3 output is built in the scratch space
      // remove_stale() spares attempts from the one named on: this attempt and earlier go.
      if (int n = pipeline::StagingDir::remove_stale(output, job_.id, job_.attempt + 1))
        logger("node")->info("job {}: removed the staging director{} the dead worker left", job_.id, n == 1 ? "y" : "ies");
    return Status(Code::kInternal, message);
  }

  const worker::JobMessage& job_;
  WorkerLimits limits_;
  const WorkerCallbacks& cb_;
  const std::atomic<bool>* cancel_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  Fd job_write_, report_read_;  // owned: the node's ends of the two pipes
  worker::LineSplitter splitter_;
  Clock::time_point started_ = Clock::now();
  Clock::time_point kill_deadline_{};
  Clock::time_point last_memory_check_{};
  bool term_sent_ = false, kill_sent_ = false;
  const char* kill_reason_ = nullptr;
  std::string kill_message_;
  double duration_ = 0;
  int64_t peak_rss_bytes_ = 0;
  std::vector<std::pair<Device, int>> open_sessions_;
  std::optional<WorkerOutcome> result_;
  std::optional<Status> error_;
};

}  // namespace

WorkerLimits worker_limits(const NodeConfig& c) {
  return {c.worker_memory_mb, c.worker_wall_factor, c.worker_wall_min_seconds, c.worker_kill_grace_seconds};
}

double wall_limit_seconds(const WorkerLimits& limits, double duration_seconds) {
  double by_duration = duration_seconds > 0 ? limits.wall_factor * duration_seconds : 0;
  return std::max(limits.wall_min_seconds, by_duration);
}

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

Result<WorkerOutcome> run_worker(const worker::JobMessage& job, const WorkerLimits& limits,
                                 const WorkerCallbacks& callbacks, const std::atomic<bool>* cancel,
                                 const WorkerCommand& command) {
  Supervised w(job, limits, callbacks, cancel);
  if (auto st = w.start(command); !st.is_ok()) {
    logger("node")->warn("job {}: {}", job.id, st.message());
    failures_metric().counter({"spawn"}).inc();
    return st;
  }
  return w.supervise();
}

}  // namespace kiln::node
