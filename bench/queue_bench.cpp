// Queue benchmark: submit-to-running latency on an idle node, and claims per second with 8
// concurrent claimers, against a real PostgreSQL. Not a test: figures go to bench/RESULTS.md.
//
//   build/bench/kiln_queue_bench --database URL [--jobs 4000] [--claimers 8] [--latency-jobs 300]
//   bench/queue_bench.sh      (starts a throwaway cluster and runs this)

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <pqxx/pqxx>

#include "store/db.hpp"
#include "store/job_store.hpp"

using Clock = std::chrono::steady_clock;
using kiln::store::Db;
using kiln::store::JobStore;

namespace {

std::unique_ptr<Db> connect(const std::string& url) {
  auto s = Db::connect(url);
  if (!s) {
    std::fprintf(stderr, "%s\n", s.status().message().c_str());
    std::exit(1);
  }
  return std::move(s).value();
}

/// Bench setup only (the store has no raw-SQL door): empties the queue, optionally seeds it.
void reset_queue(const std::string& url, int seed_jobs) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  tx.exec("TRUNCATE kiln_jobs CASCADE");
  if (seed_jobs > 0)
    tx.exec(fmt::format("INSERT INTO kiln_jobs (spec, priority) SELECT jsonb_build_object('input', "
                        "'/in/' || g), g % 11 - 5 FROM generate_series(1, {}) g", seed_jobs));
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

double claims_per_second(const std::string& url, int jobs, int claimers) {
  reset_queue(url, jobs);
  std::atomic<int> claimed{0};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int t = 0; t < claimers; ++t)
    threads.emplace_back([&, t] {
      auto s = connect(url);
      for (;;) {
        auto c = JobStore(*s).claim(fmt::format("bench-{}", t), {"default"}, 60);
        if (!c || !c->has_value()) return;
        ++claimed;
      }
    });
  for (auto& th : threads) th.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (claimed != jobs) std::fprintf(stderr, "claimed %d of %d\n", claimed.load(), jobs);
  return claimed / seconds;
}

/// An idle node's loop (LISTEN, claim on NOTIFY) against one submitter.
std::vector<double> submit_to_running_ms(const std::string& url, int n) {
  auto submitter = connect(url);
  reset_queue(url, 0);
  std::mutex mu;
  std::map<int64_t, Clock::time_point> submitted, running;
  std::atomic<bool> stop{false};
  std::thread node([&] {
    auto claimer = connect(url);
    auto listener = connect(url);
    (void)listener->listen("kiln_jobs");
    while (!stop) {
      auto c = JobStore(*claimer).claim("bench-node", {"default"}, 60);
      if (c && c->has_value()) {
        std::lock_guard lock(mu);
        running[(*c)->id] = Clock::now();
        continue;
      }
      (void)listener->wait_notification(0.5);
    }
  });
  for (int i = 0; i < n; ++i) {
    kiln::NewJob j;
    j.spec = {{"input", fmt::format("/in/{}", i)}};
    auto t0 = Clock::now();
    auto r = JobStore(*submitter).submit(j);
    if (!r) continue;
    {
      std::lock_guard lock(mu);
      submitted[r->job.id] = t0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // an idle node between uploads
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  node.join();
  std::vector<double> ms;
  for (const auto& [id, t] : submitted)
    if (running.count(id)) ms.push_back(std::chrono::duration<double, std::milli>(running[id] - t).count());
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Kiln queue benchmark"};
  std::string url;
  int jobs = 4000, claimers = 8, latency_jobs = 300, runs = 3;
  app.add_option("--database", url, "PostgreSQL URL (a scratch database: it is truncated)")->required();
  app.add_option("--jobs", jobs);
  app.add_option("--claimers", claimers);
  app.add_option("--latency-jobs", latency_jobs);
  app.add_option("--runs", runs);
  CLI11_PARSE(app, argc, argv);
  auto store = connect(url);
  if (auto v = store->migrate(); !v) return 1;
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) rates.push_back(claims_per_second(url, jobs, claimers));
  auto lat = submit_to_running_ms(url, latency_jobs);
  std::sort(rates.begin(), rates.end());
  std::printf("claims/s with %d concurrent claimers over %d jobs: median %.0f (min %.0f, max %.0f) over %d runs "
              "(goal >= 2000)\n", claimers, jobs, rates[rates.size() / 2], rates.front(), rates.back(), runs);
  std::printf("submit-to-running latency on an idle node, %zu jobs: p50 %.1f ms, p99 %.1f ms, max %.1f ms "
              "(goals p50 < 50 ms, p99 < 250 ms)\n", lat.size(), percentile(lat, 0.5), percentile(lat, 0.99),
              percentile(lat, 1.0));
  return 0;
}
