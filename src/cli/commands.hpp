#pragma once
// One function pair per subcommand: add its options to the app, then run it after parsing.

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace kiln::cli {

/// Registers `kiln transcode`; returns the function that runs it (its exit code).
std::function<int()> add_transcode(CLI::App& app);
/// Registers `kiln devices`.
std::function<int()> add_devices(CLI::App& app);
/// Registers `kiln node`, `kiln coordinator`, `kiln migrate`, `kiln token create`.
std::function<int()> add_services(CLI::App& app);
/// Registers `kiln submit`, `kiln jobs`, `kiln cancel`, `kiln retry` (HTTP API clients).
std::function<int()> add_client(CLI::App& app);
/// Registers `kiln nodes` and `kiln nodes rm NAME` (database, like kiln token).
std::function<int()> add_nodes(CLI::App& app);
/// Registers the hidden `kiln worker`: one node job in a process of its own (cli/worker_cmd.cpp).
std::function<int()> add_worker(CLI::App& app);
/// Registers `kiln storage check LOCATION` and `kiln storage cp SRC DST` (cli/storage_cmd.cpp).
std::function<int()> add_storage(CLI::App& app);
/// `kiln probe FILE`: what a file holds, or why a job would refuse it.
std::function<int()> add_probe(CLI::App& app);
/// Registers `kiln bench` (bench/bench_cmd.cpp); argv is recorded in the report.
std::function<int()> add_bench(CLI::App& app, int argc, char** argv);

/// Prints devices with their live ledger (the JSON a node heartbeats and serves on /devices),
/// one row each, prefixed by `node` when not empty (kiln devices --node, kiln nodes --devices).
void print_device_ledger(const std::string& node, const nlohmann::json& devices, bool header);

}  // namespace kiln::cli
