// kiln devices: what discovery found on this machine (or in a saved hwloc topology), per
// backend, with where each device sits and whether it can be used; with --node, a running
// node's live device ledger (its metrics_listen's /devices).

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "kiln/backend.hpp"
#include "kiln/topology.hpp"
#include "kiln/node_config.hpp"
#include "log.hpp"
#include "pipeline/device_check.hpp"
#include "scheduler/placement.hpp"

namespace kiln::cli {
namespace {

struct DevicesOptions {
  std::string topology;
  std::string config;
  std::string node;
  bool json = false;
  bool check = false;
};

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string joined(const std::vector<std::string>& v) {
  return v.empty() ? "-" : fmt::format("{}", fmt::join(v, ","));
}

nlohmann::json placement_json(const scheduler::Slot& s) {
  return {{"enabled", s.enabled}, {"rule", s.rule ? s.rule->origin : ""},
          {"maxSessions", s.max_sessions}, {"maxJobs", s.max_jobs}, {"codecs", s.codecs},
          {"capacityPixelsPerSecond", s.capacity}, {"capacitySource", s.capacity_source},
          {"bindCpus", s.bind_cpus},
          {"bindNumaNode", s.bind_numa}};
}

nlohmann::json to_json(const Topology& t, const std::vector<Device>& devices,
                       const std::vector<scheduler::Slot>& slots) {
  nlohmann::json numa = nlohmann::json::array();
  for (const auto& n : t.numa_nodes) numa.push_back({{"node", n.os_index}, {"cpus", n.cpus}});
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : t.gpus)
    gpus.push_back({{"pciAddress", g.pci_address}, {"vendor", g.vendor},
                    {"vendorId", fmt::format("{:04x}", g.vendor_id)},
                    {"deviceId", fmt::format("{:04x}", g.device_id)}, {"model", g.model},
                    {"numaNode", g.numa_node}, {"localCpus", g.local_cpus},
                    {"renderNode", g.render_node}, {"cudaIndex", g.cuda_index},
                    {"driver", g.driver}});
  nlohmann::json devs = nlohmann::json::array();
  for (const auto& d : devices)
    devs.push_back({{"backend", d.backend}, {"id", d.id}, {"description", d.description},
                    {"pciAddress", d.pci_address}, {"vendor", d.vendor}, {"model", d.model},
                    {"driver", d.driver}, {"renderNode", d.render_node},
                    {"cudaIndex", d.cuda_index}, {"numaNode", d.numa_node},
                    {"localCpus", d.local_cpus}, {"decode", d.decode_codecs},
                    {"encode", d.encode_codecs}, {"sessionLimit", d.session_limit},
                    {"capacity", d.capacity}, {"usable", d.usable},
                    {"cpuEmulated", d.cpu_emulated}, {"health", d.health}});
  for (size_t i = 0; i < slots.size(); ++i) devs[i]["placement"] = placement_json(slots[i]);
  return {{"topology",
           {{"source", t.source}, {"fromFile", t.from_file}, {"packages", t.packages},
            {"cores", t.cores}, {"threads", t.pus}, {"cpus", t.all_cpus}, {"numaNodes", numa},
            {"gpus", gpus}}},
          {"devices", devs}};
}

void print_table(const Topology& t, const std::vector<Device>& devices) {
  std::printf("%s: %d package(s), %d core(s), %d thread(s), %zu NUMA node(s), %zu GPU(s)%s\n",
              t.source.c_str(), t.packages, t.cores, t.pus, t.numa_nodes.size(), t.gpus.size(),
              t.from_file ? " (read from a file: devices are listed as planned, not opened)" : "");
  std::printf("%-8s %-20s %-13s %-4s %-12s %-19s %-8s %-28s %-16s %-16s %-5s %s\n", "BACKEND",
              "DEVICE", "PCI", "NUMA", "CPUS", "RENDER NODE", "DRIVER", "MODEL", "DECODE",
              "ENCODE", "SESS", "HEALTH");
  for (const auto& d : devices)
    std::printf("%-8s %-20s %-13s %-4s %-12s %-19s %-8s %-28s %-16s %-16s %-5s %s\n",
                d.backend.c_str(), d.id.c_str(), or_dash(d.pci_address).c_str(),
                d.numa_node < 0 ? "-" : std::to_string(d.numa_node).c_str(),
                or_dash(d.local_cpus).c_str(), or_dash(d.render_node).c_str(),
                or_dash(d.driver).c_str(), or_dash(d.model).substr(0, 28).c_str(),
                joined(d.decode_codecs).substr(0, 16).c_str(),
                joined(d.encode_codecs).substr(0, 16).c_str(),
                d.session_limit > 0 ? std::to_string(d.session_limit).c_str() : "-",
                d.health.c_str());
}

void print_placement(const std::vector<scheduler::Slot>& slots) {
  std::printf("\nPlacement (node config):\n%-8s %-20s %-8s %-9s %-6s %-10s %-10s %-14s %s\n", "BACKEND",
              "DEVICE", "ENABLED", "MAX SESS", "JOBS", "CAPACITY", "SOURCE", "BIND CPUS", "RULE");
  for (const auto& s : slots)
    std::printf("%-8s %-20s %-8s %-9s %-6s %-10s %-10s %-14s %s\n", s.device.backend.c_str(),
                s.device.id.c_str(), s.enabled ? "yes" : "no",
                s.max_sessions > 0 ? std::to_string(s.max_sessions).c_str() : "-",
                s.max_jobs > 0 ? std::to_string(s.max_jobs).c_str() : "-",
                fmt::format("{:.3g}", s.capacity).c_str(), s.capacity_source.c_str(), or_dash(s.bind_cpus).c_str(),
                s.rule ? s.rule->origin.c_str() : "(defaults)");
}

/// A test encode on every usable device; its outcome goes into the health column.
void run_checks(std::vector<Device>& devices) {
  for (auto& d : devices) {
    if (!d.usable) continue;
    const BackendOps* ops = nullptr;
    for (const auto& b : backend_table())
      if (b.name == d.backend) ops = &b;
    if (!ops) continue;
    auto start = std::chrono::steady_clock::now();
    Status st = pipeline::test_encode(*ops, d);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (st.is_ok()) {
      d.health = d.health == "ok" ? fmt::format("ok (test encode passed in {:.0f} ms)", ms)
                                  : fmt::format("{}; test encode passed in {:.0f} ms", d.health, ms);
    } else {
      d.usable = false;
      d.health = fmt::format("test encode failed: {}", st.message());
    }
  }
}

/// The live ledger of the node whose metrics_listen is `where` ("host:port").
int run_against_node(const DevicesOptions& o) {
  auto colon = o.node.rfind(':');
  if (colon == std::string::npos) {
    logger("cli")->error("--node '{}': give the node's metrics_listen, host:port", o.node);
    return exit_code(Code::kUsage);
  }
  httplib::Client c(o.node.substr(0, colon), std::atoi(o.node.c_str() + colon + 1));
  c.set_connection_timeout(5);
  c.set_read_timeout(10);
  auto r = c.Get("/devices");
  if (!r) {
    logger("cli")->error("no node answers on {}: {} (is metrics_listen set in its node.toml?)", o.node,
                         httplib::to_string(r.error()));
    return exit_code(Code::kIo);
  }
  auto devices = nlohmann::json::parse(r->body, nullptr, false);
  if (r->status != 200 || !devices.is_array()) {
    logger("cli")->error("{} answered /devices with HTTP {}: not a Kiln node of this version?", o.node, r->status);
    return exit_code(Code::kIo);
  }
  if (o.json) std::puts(nlohmann::json{{"node", o.node}, {"devices", devices}}.dump(2).c_str());
  else print_device_ledger("", devices, true);
  return 0;
}

int run(const DevicesOptions& o) {
  if (!o.node.empty()) return run_against_node(o);
  auto topology = load_topology(o.topology);
  if (!topology) {
    logger("cli")->error("{}", topology.status().message());
    return exit_code(topology.status().code());
  }
  auto devices = discover_devices(*topology);
  if (o.check && !topology->from_file) run_checks(devices);
  NodeConfig config;
  if (!o.config.empty()) {
    auto loaded = load_node_config(o.config);
    if (!loaded) {
      logger("cli")->error("{}", loaded.status().message());
      return exit_code(loaded.status().code());
    }
    config = std::move(loaded).value();
  }
  // What kiln bench measured here (the node's capacity_file); a plan of another server has none.
  scheduler::Measurements measured;
  if (!topology->from_file) {
    auto loaded = scheduler::load_measurements(config.capacity_file);
    if (!loaded) {
      logger("cli")->error("{}", loaded.status().message());
      return exit_code(loaded.status().code());
    }
    measured = std::move(loaded).value();
  }
  auto slots = scheduler::make_slots(devices, config, &measured);
  if (o.json) {
    std::puts(to_json(*topology, devices, slots).dump(2).c_str());
  } else {
    print_table(*topology, devices);
    print_placement(slots);
  }
  return 0;
}

}  // namespace

void print_device_ledger(const std::string& node, const nlohmann::json& devices, bool header) {
  auto cap = [](const nlohmann::json& d, const char* used, const char* max) {
    int m = d.value(max, 0);
    return m > 0 ? fmt::format("{}/{}", d.value(used, 0), m) : fmt::format("{}", d.value(used, 0));
  };
  const char* row = node.empty() ? "%.0s%-8s %-20s %-7s %-9s %-6s %-10s %s\n" : "%-16s %-8s %-20s %-7s %-9s %-6s %-10s %s\n";
  if (header) std::printf(row, "NODE", "BACKEND", "DEVICE", "JOBS", "SESSIONS", "LOAD", "CAPACITY", "SOURCE");
  for (const auto& d : devices)
    std::printf(row, node.c_str(), d.value("backend", "").c_str(), d.value("id", "").c_str(),
                cap(d, "jobs", "maxJobs").c_str(), cap(d, "sessions", "maxSessions").c_str(),
                fmt::format("{:.2f}", d.value("loadRatio", 0.0)).c_str(),
                fmt::format("{:.3g}", d.value("capacity", 0.0)).c_str(), d.value("capacitySource", "").c_str());
}

std::function<int()> add_devices(CLI::App& app) {
  auto opts = std::make_shared<DevicesOptions>();
  CLI::App* cmd = app.add_subcommand(
      "devices", "List the video devices discovery finds (hwloc, libdrm, each backend's probe).");
  cmd->add_option("--topology", opts->topology,
                  "read a saved hwloc XML topology (lstopo --of xml) instead of this machine, to "
                  "plan another server's pinning");
  cmd->add_option("--config", opts->config,
                  "node.toml: show what its [[device]] rules make of each device (enabled, "
                  "session caps, NUMA binding)");
  cmd->add_flag("--check", opts->check,
                "run a short test encode on every usable device (this machine only)");
  cmd->add_flag("--json", opts->json, "print the topology and devices as JSON");
  cmd->add_option("--node", opts->node,
                  "a running node's metrics_listen (host:port): its live ledger of jobs, encoder "
                  "sessions and load per device");
  return [opts] { return run(*opts); };
}

}  // namespace kiln::cli
