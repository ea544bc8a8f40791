#include "node/node.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <random>
#include <thread>

#include "kiln/backend.hpp"
#include "kiln/pipeline.hpp"
#include "kiln/topology.hpp"
#include "log.hpp"
#include "node/hotplug.hpp"
#include "metrics/registry.hpp"
#include "pipeline/result_json.hpp"
#include "scheduler/device_health.hpp"
#include "store/event_store.hpp"
#include "store/job_store.hpp"
#include "store/node_store.hpp"

namespace kiln::node {
namespace {

using Clock = std::chrono::steady_clock;

struct RunningJob {
  Claim claim;
  std::atomic<bool> cancel{false};
  std::atomic<bool> lost{false};           // the lease is gone: publish nothing, report nothing
  std::atomic<bool> cancel_requested{false};
  std::atomic<bool> done{false};
  std::chrono::steady_clock::time_point last_status_update = std::chrono::steady_clock::now();
  std::mutex mu;
  nlohmann::json progress = {{"phase", "starting"}};
  std::thread thread;
};

/// Input problems a retry cannot fix: the job is discarded at once.
bool retryable(Code code) {
  switch (code) {
    case Code::kUsage: case Code::kInputMissing: case Code::kInputEmpty: case Code::kInputNotMedia:
    case Code::kInputNoVideo: case Code::kInputTruncated: case Code::kInputUnsupported:
    case Code::kInputLimits: case Code::kInputUndecodable:
      return false;
    default:
      return true;
  }
}

Result<Ladder> ladder_for(const nlohmann::json& spec) {
  Ladder ladder = default_ladder();
  std::string rungs = spec.value("ladder", std::string());
  if (!rungs.empty()) {
    auto selected = select_renditions(ladder, rungs);
    if (!selected) return selected.status();
    ladder = std::move(selected).value();
  }
  if (spec.contains("segmentSeconds")) {
    ladder.segment_seconds = spec["segmentSeconds"].get<double>();
    ladder.gop_seconds = std::min(ladder.gop_seconds, ladder.segment_seconds);
  }
  KILN_RETURN_IF_ERROR(validate_ladder(ladder));
  return ladder;
}

nlohmann::json devices_json(const std::vector<Device>& devices) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : devices)
    out.push_back({{"backend", d.backend}, {"id", d.id}, {"pciAddress", d.pci_address}, {"model", d.model},
                   {"numaNode", d.numa_node}, {"usable", d.usable}, {"health", d.health},
                   {"sessionLimit", d.session_limit}});
  return out;
}

class Node {
 public:
  Node(const NodeConfig& config, const std::atomic<bool>& stop) : config_(config), stop_(stop) {}

  int run(const std::function<void()>& on_ready) {
    auto log = logger("node");
    auto topology = load_topology("");
    if (!topology) return fail_start(topology.status());
    auto discovered = std::make_shared<const std::vector<Device>>(discover_devices(*topology));
    set_devices(discovered);
    max_jobs_ = config_.max_jobs;
    if (max_jobs_ <= 0) {
      for (const auto& d : *discovered) if (d.usable && d.backend != "software" && !d.cpu_emulated) ++max_jobs_;
      max_jobs_ += config_.software_slots >= 0 ? config_.software_slots : std::max(1, topology->pus / 4);
    }
    auto store = store::Db::connect(config_.database_url);
    if (!store) return fail_start(store.status());
    store_ = std::move(store).value();
    if (auto st = store::NodeStore(*store_).register_node(name(), devices_json(*devices()), max_jobs_); !st.is_ok()) return fail_start(st);
    if (auto st = hotplug_.start(); !st.is_ok())
      log->warn("hotplug: {}; devices added later need a restart", st.message());
    auto listener = store::Db::connect(config_.database_url);
    if (!listener) return fail_start(listener.status());
    listener_ = std::move(listener).value();
    (void)listener_->listen("kiln_jobs");
    (void)listener_->listen("kiln_cancel");
    start_metrics_server();
    log->info("node {} up: {} job slot(s), queues {}, {} device(s)", name(), max_jobs_,
              fmt::join(config_.queues, ","), devices()->size());
    sd_notify(0, "READY=1");
    if (on_ready) on_ready();
    std::thread beat([this] { heartbeat_loop(); });
    claim_loop();
    drain();
    beats_stop_ = true;
    poke_heartbeat();
    beat.join();
    if (metrics_server_) {
      metrics_server_->stop();
      metrics_thread_.join();
    }
    (void)store::NodeStore(*store_).node_heartbeat(name(), "stopped");
    log->info("node {} stopped", name());
    return 0;
  }

 private:
  std::string name() const {
    if (!config_.name.empty()) return config_.name;
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    return host;
  }

  int fail_start(const Status& st) {
    logger("node")->error("{}", st.message());
    return exit_code(st.code());
  }

  size_t running() {
    std::lock_guard lock(mu_);
    jobs_.remove_if([](const std::unique_ptr<RunningJob>& j) {
      if (!j->done) return false;
      j->thread.join();
      return true;
    });
    return jobs_.size();
  }

  void claim_loop() {
    while (!stop_.load()) {
      if (static_cast<int>(running()) >= max_jobs_) {
        // Full: still listen, so a cancel NOTIFY reaches the running job at once.
        auto woke = listener_->wait_notification(0.1);
        if (woke && *woke) poke_heartbeat();
        continue;
      }
      auto c = store::JobStore(*store_).claim(name(), config_.queues, config_.lease_seconds);
      if (!c) {
        logger("node")->warn("claiming: {}; retrying", c.status().message());
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      if (c->has_value()) {
        start_job(**c);
        continue;
      }
      // Idle: a NOTIFY on submit wakes us; the timeout is the poll fallback.
      auto woke = listener_->wait_notification(2.0);
      if (!woke) std::this_thread::sleep_for(std::chrono::milliseconds(500));
      else if (*woke) poke_heartbeat();
    }
  }

  void start_job(const Claim& claim) {
    auto job = std::make_unique<RunningJob>();
    job->claim = claim;
    RunningJob* j = job.get();
    running_gauge_.inc();
    j->thread = std::thread([this, j] {
      execute(*j);
      running_gauge_.dec();
      j->done = true;
    });
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }

  void execute(RunningJob& j) {
    auto log = logger("node");
    auto start = Clock::now();
    auto db = store::Db::connect(config_.database_url);  // this job's own connection
    if (!db) {
      log->error("job {}: {}", j.claim.id, db.status().message());
      return;
    }
    store::JobStore jobs(**db, store::RetryPolicy{config_.retry_base_seconds});
    const auto& spec = j.claim.spec;
    log->info("job {} attempt {}: {} -> {}", j.claim.id, j.claim.attempt, spec.value("input", ""),
              spec.value("output", ""));
    TranscodeRequest req;
    req.input = spec.value("input", "");
    req.output_dir = spec.value("output", "");
    req.overwrite = true;  // a retried attempt replaces what an earlier one published, atomically
    req.clear_stale_staging = j.claim.attempt > 1;
    req.backend = spec.value("backend", "auto");
    req.device = spec.value("device", "");
    const auto devices_now = devices();  // this job's view, even if discovery runs again
    req.devices = devices_now.get();
    req.health = &health_;
    req.node_config = &config_;
    req.cancel = &j.cancel;
    req.on_progress = [&j](const Progress& p) {
      std::lock_guard lock(j.mu);
      j.progress = {{"phase", p.phase}, {"percent", p.percent}, {"fps", p.fps}, {"speed", p.speed},
                    {"frames", p.frames}, {"etaSeconds", p.eta_seconds}};
    };
    req.on_input = [&](const MediaInfo& info) {
      (void)jobs.set_input_info(j.claim.id, j.claim.attempt, pipeline::input_details(info));
    };
    req.on_device = [this](const Device& d, int sessions, bool running) {
      sessions_.gauge({d.backend + ":" + d.id}).inc(running ? sessions : -sessions);
    };
    queue_wait_.histogram().observe(j.claim.queue_wait_seconds);
    const auto quarantined_before = health_.quarantined_devices();
    req.before_publish = [&]() {
      auto hb = jobs.heartbeat(j.claim.id, j.claim.attempt, {{"phase", "publishing"}, {"percent", 100}},
                                    config_.lease_seconds);
      return hb && hb->owned && !hb->cancel_requested;
    };
    Result<TranscodeResult> result = Status(Code::kInternal, "not run");
    auto ladder = ladder_for(spec);
    if (!ladder) {
      result = ladder.status();
    } else {
      req.ladder = std::move(ladder).value();
      result = transcode(req);
    }
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    duration_.histogram().observe(seconds);
    record_device_events(**db, j, result, quarantined_before);
    if (j.lost) {
      log->warn("job {} attempt {}: lease lost; stopped, nothing published", j.claim.id, j.claim.attempt);
      outcomes_.counter({"lease_lost"}).inc();
      return;
    }
    if (result) {
      auto output = pipeline::result_json(*result);
      auto ok = with_retries([&] { return jobs.complete(j.claim.id, j.claim.attempt, output); });
      log->info("job {} complete in {:.1f} s on {}", j.claim.id, seconds, result->backend);
      outcomes_.counter({ok && *ok ? "completed" : "fenced_out"}).inc();
      return;
    }
    const Status& st = result.status();
    if (st.code() == Code::kCancelled && j.cancel_requested) {
      (void)jobs.acknowledge_cancel(j.claim.id, j.claim.attempt);
      log->info("job {} cancelled", j.claim.id);
      outcomes_.counter({"cancelled"}).inc();
      return;
    }
    std::uniform_real_distribution<double> unit(0, 1);
    std::mt19937_64 rng(std::random_device{}());
    nlohmann::json error = {{"code", code_name(st.code())}, {"message", st.message()}, {"node", name()}};
    double u = unit(rng);
    auto state = with_retries([&] { return jobs.fail(j.claim.id, j.claim.attempt, error, retryable(st.code()), u); });
    log->warn("job {} attempt {} failed ({}): {} -> {}", j.claim.id, j.claim.attempt, code_name(st.code()),
              st.message(), state && *state ? state_name(**state) : "fenced out");
    outcomes_.counter({"failed"}).inc();
  }

  /// Fallbacks and new quarantines become events, so alerts and dashboards see them.
  void record_device_events(store::Db& db, const RunningJob& j, const Result<TranscodeResult>& result,
                            const std::vector<std::string>& quarantined_before) {
    store::EventStore events(db);
    if (result)
      for (const auto& why : result->fallbacks)
        (void)events.add_event(j.claim.id, "fallback", {{"reason", why}, {"node", name()}, {"ranOn", result->backend}});
    for (const auto& key : health_.quarantined_devices())
      if (std::find(quarantined_before.begin(), quarantined_before.end(), key) == quarantined_before.end())
        (void)events.add_event(j.claim.id, "device_quarantined", {{"device", key}, {"node", name()}});
  }

  /// A job's final write must survive a database restart: retried for up to the lease (after
  /// that the reaper hands the job back anyway). Every write is fenced, so a retry is safe.
  template <class F>
  auto with_retries(F&& write) -> decltype(write()) {
    auto until = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(config_.lease_seconds * 1000));
    for (;;) {
      auto r = write();
      if (r || Clock::now() > until || stop_hard_.load()) return r;
      logger("node")->warn("{}; retrying", r.status().message());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }

  /// Renews every running job's lease with its progress; stops jobs that were cancelled or
  /// whose lease was lost. Also the node's own heartbeat and the systemd watchdog.
  void heartbeat_loop() {
    auto store = store::Db::connect(config_.database_url);
    while (!beats_stop_.load()) {
      if (!store) store = store::Db::connect(config_.database_url);
      if (store) {
        (void)store::NodeStore(**store).node_heartbeat(name(), stop_.load() ? "draining" : "up");
        double fps_total = 0;
        std::vector<RunningJob*> snapshot;
        {
          std::lock_guard lock(mu_);
          for (auto& j : jobs_) if (!j->done) snapshot.push_back(j.get());
        }
        for (RunningJob* j : snapshot) {
          nlohmann::json progress;
          {
            std::lock_guard lock(j->mu);
            progress = j->progress;
          }
          fps_total += progress.value("fps", 0.0);
          auto hb = store::JobStore(**store).heartbeat(j->claim.id, j->claim.attempt, progress, config_.lease_seconds);
          if (hb && hb->owned && Clock::now() - j->last_status_update > std::chrono::seconds(10)) {
            (void)store::EventStore(**store).add_event(j->claim.id, "status_update", progress);
            j->last_status_update = Clock::now();
          }
          if (!hb) {
            store = store::Db::connect(config_.database_url);  // reconnect next round
            break;
          }
          if (!hb->owned) {
            j->lost = true;
            j->cancel = true;
          } else if (hb->cancel_requested) {
            j->cancel_requested = true;
            j->cancel = true;
          }
        }
        fps_.set(fps_total);
        rediscover_on_hotplug(**store);
        (void)recheck_quarantined_periodically();
      }
      sd_notify(0, "WATCHDOG=1");
      wait_beat();
    }
  }

  /// Waits for the next beat, or less when a NOTIFY (a cancel, say) asks for one now.
  void wait_beat() {
    auto until = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(config_.heartbeat_seconds * 1000));
    std::unique_lock lock(beat_mu_);
    beat_cv_.wait_until(lock, until, [&] { return beats_stop_.load() || beat_now_; });
    beat_now_ = false;
  }

  void poke_heartbeat() {
    {
      std::lock_guard lock(beat_mu_);
      beat_now_ = true;
    }
    beat_cv_.notify_all();
  }

  std::shared_ptr<const std::vector<Device>> devices() {
    std::lock_guard lock(devices_mu_);
    return devices_;
  }
  void set_devices(std::shared_ptr<const std::vector<Device>> d) {
    std::lock_guard lock(devices_mu_);
    devices_ = std::move(d);
  }

  /// A DRM device came, went or changed: discovery again, and the new list registered.
  void rediscover_on_hotplug(store::Db& db) {
    std::string what;
    if (!hotplug_.changed(&what)) return;
    auto topology = load_topology("");
    if (!topology) return;
    auto found = std::make_shared<const std::vector<Device>>(discover_devices(*topology));
    logger("node")->warn("hotplug ({}): rediscovered {} device(s)", what, found->size());
    set_devices(found);
    (void)store::NodeStore(db).register_node(name(), devices_json(*found), max_jobs_);
  }

  bool recheck_quarantined_periodically() {
    if (Clock::now() - last_recheck_ < std::chrono::seconds(60)) return false;
    last_recheck_ = Clock::now();
    return scheduler::recheck_quarantined(health_, *devices()) > 0;
  }

  /// SIGTERM: no new claims; running jobs get drain_seconds to finish, then are cancelled and
  /// handed back to the queue (retryable at once) for another node.
  void drain() {
    auto log = logger("node");
    log->info("draining: {} running job(s), {} s to finish", running(), config_.drain_seconds);
    auto until = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(config_.drain_seconds * 1000));
    while (running() > 0 && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::list<std::unique_ptr<RunningJob>> left;
    {
      std::lock_guard lock(mu_);
      left.swap(jobs_);
    }
    for (auto& j : left) {
      if (!j->done) {
        log->warn("job {}: handing back (node shutting down)", j->claim.id);
        j->cancel = true;
      }
      j->thread.join();
    }
  }

  void start_metrics_server() {
    if (config_.metrics_listen.empty()) return;
    auto colon = config_.metrics_listen.rfind(':');
    std::string host = config_.metrics_listen.substr(0, colon);
    int port = std::atoi(config_.metrics_listen.c_str() + colon + 1);
    metrics_server_ = std::make_unique<httplib::Server>();
    metrics_server_->Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics::default_registry().exposition(), "text/plain; version=0.0.4");
    });
    metrics_server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"ok\":true}", "application/json");
    });
    if (!metrics_server_->bind_to_port(host, port)) {
      logger("node")->warn("cannot serve metrics on {}", config_.metrics_listen);
      metrics_server_.reset();
      return;
    }
    metrics_thread_ = std::thread([this] { metrics_server_->listen_after_bind(); });
  }

  const NodeConfig& config_;
  const std::atomic<bool>& stop_;
  std::atomic<bool> beats_stop_{false};
  std::atomic<bool> stop_hard_{false};
  std::mutex beat_mu_;
  std::condition_variable beat_cv_;
  bool beat_now_ = false;
  std::mutex devices_mu_;
  std::shared_ptr<const std::vector<Device>> devices_;
  HotplugMonitor hotplug_;
  int max_jobs_ = 1;
  std::unique_ptr<store::Db> store_, listener_;
  std::mutex mu_;
  std::list<std::unique_ptr<RunningJob>> jobs_;
  scheduler::DeviceHealth health_{scheduler::DeviceHealth::Policy{config_.strikes,
                                                                  std::chrono::seconds(config_.strike_window_seconds)}};
  Clock::time_point last_recheck_ = Clock::now();
  std::unique_ptr<httplib::Server> metrics_server_;
  std::thread metrics_thread_;
  metrics::Gauge& running_gauge_ = metrics::default_registry().gauge("kiln_node_running_jobs", "Jobs running on this node.").gauge();
  metrics::Family& outcomes_ = metrics::default_registry().counter("kiln_node_jobs_total", "Job attempts on this node by outcome.", {"outcome"});
  metrics::Family& sessions_ = metrics::default_registry().gauge(
      "kiln_device_sessions", "Encoder sessions in use per device (backend:id).", {"device"});
  metrics::Gauge& fps_ = metrics::default_registry().gauge("kiln_node_encode_fps", "Source frames per second encoded by running jobs.").gauge();
  metrics::Family& queue_wait_ = metrics::default_registry().histogram(
      "kiln_job_queue_wait_seconds", "Time from due to claimed.", {0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600});
  metrics::Family& duration_ = metrics::default_registry().histogram(
      "kiln_job_duration_seconds", "Wall time of job attempts on this node.", {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600});
};

}  // namespace

int run(const NodeConfig& config, const std::atomic<bool>& stop, const std::function<void()>& on_ready) {
  return Node(config, stop).run(on_ready);
}

}  // namespace kiln::node
