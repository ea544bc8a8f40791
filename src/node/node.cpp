#include "node/node.hpp"

#include <fmt/format.h>
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
#include "metrics/registry.hpp"
#include "node/claim_loop.hpp"
#include "node/db_link.hpp"
#include "node/hotplug.hpp"
#include "node/metrics_server.hpp"
#include "node/progress_reporter.hpp"
#include "node/rediscovery.hpp"
#include "node/running_job.hpp"
#include "node/worker_supervisor.hpp"
#include "pipeline/device_check.hpp"
#include "pipeline/result_json.hpp"
#include "pipeline/scratch.hpp"
#include "scheduler/device_health.hpp"
#include "scheduler/ledger.hpp"
#include "store/event_store.hpp"
#include "store/job_store.hpp"
#include "store/node_store.hpp"
#include "storage/s3_clients.hpp"

namespace kiln::node {
namespace {

using Clock = std::chrono::steady_clock;

/// Problems a retry cannot fix: the job is discarded at once, with the reason. Input problems,
/// and object storage that refuses this node for good: an unknown access key, a wrong secret,
/// no such bucket, access denied (the operator fixes the config or the bucket policy, then
/// retries the job by hand). Object storage that may come back is retried: an unreachable
/// endpoint, 5xx after the client's own retries, an object that changed mid-download, a
/// clock too far off (NTP may fix it, and another node's clock may be right).
bool retryable(Code code) {
  switch (code) {
    case Code::kUsage: case Code::kInputMissing: case Code::kInputEmpty: case Code::kInputNotMedia:
    case Code::kInputNoVideo: case Code::kInputTruncated: case Code::kInputUnsupported:
    case Code::kInputLimits: case Code::kInputUndecodable: case Code::kOutputExists: case Code::kPathNotAllowed:
    case Code::kStorageBadKey: case Code::kStorageBadSecret: case Code::kStorageNoBucket: case Code::kStorageDenied:
      return false;
    case Code::kStorageUnreachable: case Code::kStorageClockSkew: case Code::kStorage:
    default:
      return true;
  }
}

/// The node's devices as /v1/devices shows them: what each is, and the ledger's live numbers.
nlohmann::json devices_json(const std::vector<scheduler::Slot>& slots) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : slots) {
    const Device& d = s.device;
    out.push_back({{"backend", d.backend}, {"id", d.id}, {"pciAddress", d.pci_address}, {"model", d.model},
                   {"numaNode", d.numa_node}, {"usable", d.usable}, {"health", d.health},
                   {"enabled", s.enabled}, {"sessionLimit", d.session_limit}, {"maxSessions", s.max_sessions},
                   {"maxJobs", s.max_jobs}, {"jobs", s.jobs}, {"sessions", s.sessions},
                   {"load", s.load}, {"capacity", s.capacity},
                   // node.toml's figure, kiln bench's measurement (capacity_file), or the
                   // built-in estimate.
                   {"capacitySource", s.capacity_source},
                   {"loadRatio", s.load / std::max(s.capacity, 1.0)}});
  }
  return out;
}

/// The daemon, assembled from parts that each own one loop: ClaimLoop (claims), ProgressReporter
/// (heartbeats, leases, progress), DatabaseState/DbLink (the connection state and reconnects),
/// MetricsServer. Node itself runs jobs (execute) and drains.
class Node {
 public:
  Node(const NodeConfig& config, const storage::Locations& locations, const std::atomic<bool>& stop)
      : config_(config), locations_(locations), stop_(stop) {}

  int run(const std::function<void()>& on_ready) {
    auto log = logger("node");
    auto topology = load_topology("");
    if (!topology) return fail_start(topology.status());
    auto discovered = std::make_shared<const std::vector<Device>>(discover_devices(*topology));
    set_devices(discovered);
    auto measured = scheduler::load_measurements(config_.capacity_file);
    if (!measured) return fail_start(measured.status());
    measured_ = std::move(measured).value();
    if (!measured_.devices.empty())
      log->info("capacity measured by kiln bench at {} for {} device(s), from {}", measured_.measured_at,
                measured_.devices.size(), config_.capacity_file);
    ledger_.set_slots(scheduler::make_slots(*discovered, config_, &measured_));
    max_jobs_ = config_.max_jobs;
    if (max_jobs_ <= 0) {
      for (const auto& d : *discovered) if (d.usable && d.backend != "software" && !d.cpu_emulated) ++max_jobs_;
      max_jobs_ += config_.software_slots >= 0 ? config_.software_slots : std::max(1, topology->pus / 4);
    }
    {  // A database that is down at start is an outage like any other: wait for it (logged once).
      // This connection is closed once registered: a node holds 3 + max_jobs while it runs.
      DbLink db(config_.database_url, db_state_, backoff_for_lease(config_.lease_seconds));
      for (;;) {
        if (stop_.load()) return 0;
        Status st = db.run([&](store::Db& d) { return store::NodeStore(d).register_node(name(), devices_json(ledger_.snapshot()), max_jobs_); });
        if (st.is_ok()) break;
        if (db.get()) return fail_start(st);  // reached the database, and it refused
        std::this_thread::sleep_for(std::max(db.retry_in(), std::chrono::milliseconds(100)));
      }
    }
    if (auto st = hotplug_.start(); !st.is_ok())
      log->warn("hotplug: {}; devices added later need a restart", st.message());
    if (!config_.metrics_listen.empty())
      if (auto st = metrics_server_.start(config_.metrics_listen); !st.is_ok()) log->warn("{}", st.message());
    log->info("node {} up: {} job slot(s), queues {}, {} device(s)", name(), max_jobs_,
              fmt::join(config_.queues, ","), devices()->size());
    sd_notify(0, "READY=1\nSTATUS=ready=true: database reachable");
    if (on_ready) on_ready();
    ProgressReporter reporter(config_, name(), jobs_, db_state_,
                              {[this] { return stop_.load(); }, [this](store::Db* db) { each_beat(db); },
                               [this] { return devices_json(ledger_.snapshot()); }});
    std::thread beat([&reporter] { reporter.run(); });
    ClaimLoop claims(config_, name(), max_jobs_, jobs_, db_state_,
                     {[this](const Claim& c, Clock::time_point at) { start_job(c, at); },
                      [&reporter] { reporter.poke(); },
                      [this] { return ledger_.room(&health_) > jobs_.unplaced(); }});
    claims.run(stop_);
    drain();
    reporter.stop();
    beat.join();
    metrics_server_.stop();
    // Stopped on purpose: 'stopped', never 'lost' (no alert). Tried for a few seconds only.
    DbLink db(config_.database_url, db_state_, backoff_for_lease(config_.lease_seconds));
    auto until = Clock::now() + std::chrono::seconds(5);
    while (!db.run([&](store::Db& d) { return store::NodeStore(d).node_heartbeat(name(), "stopped"); }).is_ok() &&
           Clock::now() < until)
      std::this_thread::sleep_for(std::max(std::min(db.retry_in(), std::chrono::milliseconds(1000)),
                                           std::chrono::milliseconds(100)));
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

  void start_job(const Claim& claim, Clock::time_point claimed_at) {
    auto job = std::make_shared<RunningJob>();
    job->claim = claim;
    job->renewed(claimed_at, config_.lease_seconds);
    running_gauge_.inc();
    job->thread = std::thread([this, j = job.get()] {
      try {
        execute(*j);
      } catch (const std::exception& e) {
        // Never the node: this attempt ends, its lease runs out, the reaper hands it on.
        logger("node")->error("job {} attempt {}: {}; leaving it to the reaper", j->claim.id, j->claim.attempt, e.what());
      } catch (...) {
        logger("node")->error("job {} attempt {}: unknown exception; leaving it to the reaper", j->claim.id, j->claim.attempt);
      }
      ledger_.release(j->claim.id);  // also after an exception: no place is ever kept by a dead job
      running_gauge_.dec();
      j->done = true;
    });
    jobs_.add(std::move(job));
  }

  void execute(RunningJob& j) {
    auto log = logger("node");
    auto start = Clock::now();
    DbLink link(config_.database_url, db_state_, backoff_for_lease(config_.lease_seconds));  // this job's own connection
    const auto& spec = j.claim.spec;
    log->info("job {} attempt {}: {} -> {}", j.claim.id, j.claim.attempt, spec.value("input", ""),
              spec.value("output", ""));
    // The job runs in a worker process: media is parsed there, never in the node. The worker
    // replaces only this job's own earlier output (the result.json marker).
    // Paths again, as the coordinator checked them at submit: a row written into the database
    // by other means is held to the node's own [[location]] list before any file is touched.
    auto paths = locations_.resolve_job(spec.value("input", ""), spec.value("output", ""));
    if (!paths) {
      fail_attempt(j, link, paths.status());
      return;
    }
    if (complete_from_earlier_attempt(j, link, paths->output)) return;
    const auto devices_now = devices();  // this job's view, even if discovery runs again
    nlohmann::json resolved_spec = spec;  // the worker opens the paths as resolved here
    resolved_spec["input"] = paths->input;
    resolved_spec["output"] = paths->output;
    worker::JobMessage job{j.claim.id, j.claim.attempt, resolved_spec, *devices_now, config_,
                           health_.quarantined_devices(), locations_};
    WorkerCallbacks callbacks;
    callbacks.on_progress = [&j](const Progress& p) {
      std::lock_guard lock(j.mu);
      j.progress = {{"phase", p.phase}, {"percent", p.percent}, {"fps", p.fps}, {"speed", p.speed},
                    {"frames", p.frames}, {"etaSeconds", p.eta_seconds}};
      j.progress.update(j.device);  // the console's list shows where each job runs
    };
    callbacks.on_input = [&](const nlohmann::json& details, double) {
      (void)link.run([&](store::Db& db) { return store::JobStore(db).set_input_info(j.claim.id, j.claim.attempt, details); });
    };
    callbacks.on_place = [this, &j](const DeviceDemand& d) -> Result<DevicePlacement> {
      scheduler::Demand demand{d.selector, d.codec, d.sessions, d.pixels_per_second};
      auto placed = ledger_.place(j.claim.id, demand, d.candidates, &health_);
      j.placed = true;
      if (!placed) {
        j.place_refused = placed.status().message();
        return placed.status();
      }
      return DevicePlacement{placed->order, placed->bind_cpus, placed->bind_numa, placed->why};
    };
    callbacks.on_device = [this, &j](const Device& d, int, bool running) {
      if (running) ledger_.moved(j.claim.id, scheduler::device_key(d));  // a fallback: the place follows
      if (running) {
        std::lock_guard lock(j.mu);
        j.device = {{"backend", d.backend}, {"device", d.id}};
        j.progress.update(j.device);
      }
    };
    callbacks.on_strike = [this](const std::string& key, const std::string& reason) { health_.strike(key, reason); };
    queue_wait_.histogram().observe(j.claim.queue_wait_seconds);
    const auto quarantined_before = health_.quarantined_devices();
    callbacks.before_publish = [&]() { return still_ours_before_publish(j, link); };
    Result<WorkerOutcome> result = Status(Code::kInternal, "not run");
    auto ladder = worker::ladder_from_spec(spec);  // checked here too: a bad spec starts no worker
    if (!ladder) result = ladder.status();
    else result = run_worker(job, worker_limits(config_), callbacks, &j.cancel);
    ledger_.release(j.claim.id);  // however it ended: the worker is gone, so is its place
    // A worker killed mid-job could not remove its staged input or its half-built ladder.
    if (pipeline::ScratchSpace::remove_left_over(config_.scratch_dir, j.claim.id, j.claim.attempt))
      log->info("job {} attempt {}: removed the scratch directory its worker left", j.claim.id, j.claim.attempt);
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    duration_.histogram().observe(seconds);
    record_device_events(link, j, result, quarantined_before);
    if (j.lost) {
      log->warn("job {} attempt {}: lease lost; stopped, nothing published", j.claim.id, j.claim.attempt);
      outcomes_.counter({"lease_lost"}).inc();
      return;
    }
    if (result) {
      finish_published(j, link, result->output, seconds, result->backend);
      return;
    }
    const Status& st = result.status();
    if (st.code() == Code::kBusy && !j.place_refused.empty()) {
      wait_for_room(j, link, j.place_refused);
      return;
    }
    if (st.code() == Code::kCancelled && j.cancel_requested) {
      acknowledge_cancel(j, link);
      return;
    }
    if (st.code() == Code::kCancelled && j.handing_back) {
      hand_back(j, link);
      return;
    }
    fail_attempt(j, link, st);
  }

  /// The attempt failed: recorded (retried until the lease expires), the job retried or
  /// discarded as the code and the attempts left say.
  void fail_attempt(RunningJob& j, DbLink& link, const Status& st) {
    std::uniform_real_distribution<double> unit(0, 1);
    std::mt19937_64 rng(std::random_device{}());
    nlohmann::json error = {{"code", code_name(st.code())}, {"message", st.message()}, {"node", name()}};
    double u = unit(rng);
    store::RetryPolicy policy{config_.retry_base_seconds};
    auto state = with_retries(j, link, [&](store::Db& db) {
      return store::JobStore(db, policy).fail(j.claim.id, j.claim.attempt, error, retryable(st.code()), u);
    });
    logger("node")->warn("job {} attempt {} failed ({}): {} -> {}", j.claim.id, j.claim.attempt, code_name(st.code()),
                         st.message(), state && *state ? state_name(**state) : "fenced out");
    outcomes_.counter({"failed"}).inc();
  }

  /// An earlier attempt of this job published its complete output (result.json names this job)
  /// but its completion never reached the database: complete with it, without re-encoding.
  /// True when the attempt ended here (completed, or failed because the output could not be read).
  bool complete_from_earlier_attempt(RunningJob& j, DbLink& link, const std::string& output_dir) {
    auto found = published_owner(output_dir);
    if (!found) {
      fail_attempt(j, link, found.status());
      return true;
    }
    const auto& owner = *found;
    if (!owner || owner->job_id != j.claim.id) return false;
    logger("node")->info("job {} attempt {}: attempt {} already published {}; completing without re-encoding",
                         j.claim.id, j.claim.attempt, owner->attempt, output_dir);
    finish_published(j, link, owner->result, 0, "earlier attempt");
    return true;
  }

  /// Who published `output`: its result.json's marker, read from the disk or from the bucket
  /// (nullopt: none). A bucket that cannot be read is this attempt's failure, with the storage
  /// code: the worker could not publish there either.
  Result<std::optional<pipeline::OutputOwner>> published_owner(const std::string& output) {
    if (!storage::is_s3_url(output)) return pipeline::output_owner(output);
    auto opened = s3_clients_.open(output);
    if (!opened) return opened.status();
    auto text = opened->client->get(opened->object.key + "/result.json");
    if (!text) {
      if (text.status().code() == Code::kInputMissing) return std::optional<pipeline::OutputOwner>();
      return text.status();
    }
    return pipeline::parse_output_owner(*text);
  }

  /// The pre-publish check, retried until the lease itself expires: true only when the
  /// database confirms this attempt still holds the job and nobody cancelled it.
  bool still_ours_before_publish(RunningJob& j, DbLink& link) {
    nlohmann::json publishing = {{"phase", "publishing"}, {"percent", 100}};
    {
      std::lock_guard lock(j.mu);
      publishing.update(j.device);  // the finished job still says where it ran
    }
    for (;;) {
      if (j.lost || j.cancel_requested || j.handing_back) return false;
      auto sent = Clock::now();
      auto hb = link.run([&](store::Db& db) {
        return store::JobStore(db).heartbeat(j.claim.id, j.claim.attempt, publishing, config_.lease_seconds);
      });
      if (hb) {
        if (!hb->owned) j.lost = true;
        else if (hb->cancel_requested) j.cancel_requested = true;
        else j.renewed(sent, config_.lease_seconds);
        return hb->owned && !hb->cancel_requested;
      }
      if (j.lease_expired()) {
        j.lost = true;
        return false;
      }
      pause_before_retry(link);
    }
  }

  /// Published: record completion (retried until the lease expires). If it never gets through,
  /// the output stays in place and the next attempt completes with it without re-encoding.
  void finish_published(RunningJob& j, DbLink& link, const nlohmann::json& output, double seconds,
                        const std::string& ran_on) {
    auto log = logger("node");
    auto ok = with_retries(j, link, [&](store::Db& db) { return store::JobStore(db).complete(j.claim.id, j.claim.attempt, output); });
    if (ok && *ok) {
      log->info("job {} complete in {:.1f} s on {}", j.claim.id, seconds, ran_on);
      outcomes_.counter({"completed"}).inc();
      return;
    }
    if (!ok) {
      log->warn("job {} attempt {}: published, but completion could not be recorded ({}); the next attempt "
                "will find the output and complete without re-encoding", j.claim.id, j.claim.attempt,
                ok.status().message());
      outcomes_.counter({"completion_unrecorded"}).inc();
      return;
    }
    // Fenced: a cancel arrived after the pre-publish check (the job ends cancelled), or the
    // lease was lost.
    if (acknowledge_cancel(j, link)) return;
    outcomes_.counter({"fenced_out"}).inc();
  }

  bool acknowledge_cancel(RunningJob& j, DbLink& link) {
    auto ack = with_retries(j, link, [&](store::Db& db) { return store::JobStore(db).acknowledge_cancel(j.claim.id, j.claim.attempt); });
    if (!ack || !*ack) return false;
    logger("node")->info("job {} cancelled", j.claim.id);
    outcomes_.counter({"cancelled"}).inc();
    return true;
  }

  /// Drain: the job goes back to the queue at once, no attempt spent, no error, no alert.
  void hand_back(RunningJob& j, DbLink& link) {
    auto log = logger("node");
    auto released = with_retries(j, link, [&](store::Db& db) { return store::JobStore(db).release(j.claim.id, j.claim.attempt); });
    if (released && *released) {
      log->info("job {} attempt {}: handed back to the queue (node draining)", j.claim.id, j.claim.attempt);
      outcomes_.counter({"handed_back"}).inc();
      return;
    }
    if (released && j.cancel_requested) {
      acknowledge_cancel(j, link);
      return;
    }
    log->warn("job {} attempt {}: could not hand it back ({}); its lease will run out and the reaper retries it",
              j.claim.id, j.claim.attempt, released ? "fenced out" : released.status().message());
    outcomes_.counter({"lease_lost"}).inc();
  }

  /// No device could take the job now (every cap full): back to the queue for a few seconds,
  /// no attempt spent, with a status_update saying why. Never an oversubscribed device.
  void wait_for_room(RunningJob& j, DbLink& link, const std::string& why) {
    constexpr double kWaitSeconds = 3;
    auto released = with_retries(j, link, [&](store::Db& db) {
      return store::JobStore(db).release_for_later(j.claim.id, j.claim.attempt, kWaitSeconds, why);
    });
    if (released && *released) {
      logger("node")->warn("job {} attempt {}: {}; back to the queue for {:.0f} s (no attempt spent)", j.claim.id,
                           j.claim.attempt, why, kWaitSeconds);
      outcomes_.counter({"no_room"}).inc();
      return;
    }
    if (released && j.cancel_requested) {
      acknowledge_cancel(j, link);
      return;
    }
    outcomes_.counter({"lease_lost"}).inc();
  }

  /// Fallbacks and new quarantines become events, so alerts and dashboards see them.
  void record_device_events(DbLink& link, const RunningJob& j, const Result<WorkerOutcome>& result,
                            const std::vector<std::string>& quarantined_before) {
    auto add = [&](const std::string& kind, const nlohmann::json& payload) {
      (void)link.run([&](store::Db& db) { return store::EventStore(db).add_event(j.claim.id, kind, payload); });
    };
    if (result)
      for (const auto& why : result->fallbacks) add("fallback", {{"reason", why}, {"node", name()}, {"ranOn", result->backend}});
    for (const auto& key : health_.quarantined_devices())
      if (std::find(quarantined_before.begin(), quarantined_before.end(), key) == quarantined_before.end())
        add("device_quarantined", {{"device", key}, {"node", name()}});
  }

  /// A job's final write must survive a database outage: retried (with the link's backoff)
  /// until the lease itself expires; after that the reaper hands the job on anyway. Every write
  /// is fenced on (id, attempt), so a retry is safe.
  template <class F>
  auto with_retries(RunningJob& j, DbLink& link, F&& write) -> decltype(write(std::declval<store::Db&>())) {
    for (;;) {
      auto r = link.run(write);
      if (r || j.lease_expired()) return r;
      if (link.get()) logger("node")->warn("job {}: {}; retrying", j.claim.id, r.status().message());
      pause_before_retry(link);
    }
  }

  static void pause_before_retry(DbLink& link) {
    std::this_thread::sleep_for(std::clamp(link.retry_in(), std::chrono::milliseconds(100), std::chrono::milliseconds(1000)));
  }

  std::shared_ptr<const std::vector<Device>> devices() {
    std::lock_guard lock(devices_mu_);
    return devices_;
  }
  void set_devices(std::shared_ptr<const std::vector<Device>> d) {
    std::lock_guard lock(devices_mu_);
    devices_ = std::move(d);
  }

  /// Every heartbeat round: hotplug rediscovery and quarantine rechecks. `db` is nullptr while
  /// the database is unreachable (a rediscovery is then registered with a later beat).
  void each_beat(store::Db* db) {
    rediscover_on_hotplug(db);
    (void)recheck_quarantined_periodically();
  }

  /// A DRM device came, went or changed: the Rediscovery part runs discovery again and
  /// registers the new list (see rediscovery.hpp).
  void rediscover_on_hotplug(store::Db* db) {
    std::function<Status()> register_now = [&] {
      return store::NodeStore(*db).register_node(name(), devices_json(ledger_.snapshot()), max_jobs_);
    };
    rediscovery_.round(db ? &register_now : nullptr);
  }

  bool recheck_quarantined_periodically() {
    if (Clock::now() - last_recheck_ < std::chrono::seconds(60)) return false;
    last_recheck_ = Clock::now();
    return scheduler::recheck_quarantined(health_, *devices(), pipeline::test_encode_device) > 0;
  }

  /// SIGTERM: no new claims; running jobs get drain_seconds to finish, then are stopped and
  /// handed back to the queue (available at once, no attempt spent) for another node.
  void drain() {
    auto log = logger("node");
    log->info("draining: {} running job(s), {} s to finish", jobs_.reap_done(), config_.drain_seconds);
    auto until = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(config_.drain_seconds * 1000));
    while (jobs_.reap_done() > 0 && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto left = jobs_.take_all();
    for (auto& j : left) {
      if (!j->done) {
        log->info("job {}: handing back (node shutting down)", j->claim.id);
        j->handing_back = true;
        j->cancel = true;
      }
      j->thread.join();
    }
  }

  const NodeConfig& config_;
  const storage::Locations& locations_;
  storage::S3Clients s3_clients_{locations_};  // reads s3 outputs' result.json (earlier attempts)
  const std::atomic<bool>& stop_;
  DatabaseState db_state_;
  std::mutex devices_mu_;
  std::shared_ptr<const std::vector<Device>> devices_;
  HotplugMonitor hotplug_;
  Rediscovery rediscovery_{{[this](std::string* what) { return hotplug_.changed(what); },
                            []() -> Result<std::vector<Device>> {
                              auto topology = load_topology("");
                              if (!topology) return topology.status();
                              return discover_devices(*topology);
                            },
                            [this](std::shared_ptr<const std::vector<Device>> found) {
                              ledger_.set_slots(scheduler::make_slots(*found, config_, &measured_));
                              set_devices(std::move(found));
                            }}};  // heartbeat thread only
  int max_jobs_ = 1;
  JobTable jobs_;
  scheduler::DeviceHealth health_{scheduler::DeviceHealth::Policy{config_.strikes,
                                                                  std::chrono::seconds(config_.strike_window_seconds)}};
  scheduler::Ledger ledger_;  // every device's jobs, sessions and load: placement reads it
  scheduler::Measurements measured_;  // kiln bench's figures (capacity_file), read once at start
  Clock::time_point last_recheck_ = Clock::now();
  MetricsServer metrics_server_{[this] { return db_state_.up(); },
                                [this] { return devices_json(ledger_.snapshot()).dump(); }};
  metrics::Gauge& running_gauge_ = metrics::default_registry().gauge("kiln_node_running_jobs", "Jobs running on this node.").gauge();
  metrics::Family& outcomes_ = metrics::default_registry().counter("kiln_node_jobs_total", "Job attempts on this node by outcome.", {"outcome"});
  metrics::Family& queue_wait_ = metrics::default_registry().histogram(
      "kiln_job_queue_wait_seconds", "Time from due to claimed.", {0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600});
  metrics::Family& duration_ = metrics::default_registry().histogram(
      "kiln_job_duration_seconds", "Wall time of job attempts on this node.", {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600});
};

}  // namespace

int run(const NodeConfig& config, const storage::Locations& locations, const std::atomic<bool>& stop,
        const std::function<void()>& on_ready) {
  try {
    return Node(config, locations, stop).run(on_ready);
  } catch (const std::exception& e) {
    logger("node")->critical("node stopped by an unexpected error: {}", e.what());
    return exit_code(Code::kInternal);
  }
}

}  // namespace kiln::node
