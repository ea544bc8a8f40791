// kiln nodes [--devices] [rm NAME]: the registered nodes, read and pruned in the database (like
// kiln token); --devices shows each running node's device ledger as of its last heartbeat.

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "log.hpp"
#include "store/db.hpp"
#include "store/node_store.hpp"

namespace kiln::cli {

std::function<int()> add_nodes(CLI::App& app) {
  struct Options {
    std::string database, name;
    bool force = false, json = false, devices = false;
    CLI::App* rm = nullptr;
  };
  auto o = std::make_shared<Options>();
  CLI::App* nodes = app.add_subcommand("nodes", "List registered nodes, or remove one: kiln nodes rm NAME");
  nodes->add_option("--database", o->database, "PostgreSQL URL (default: $KILN_DATABASE_URL)");
  nodes->add_flag("--json", o->json, "print JSON");
  nodes->add_flag("--devices", o->devices,
                  "each node's devices with its live ledger (jobs, encoder sessions, load), as of its last heartbeat");
  o->rm = nodes->add_subcommand("rm", "Remove a node's record (a node that is stopped or lost).");
  o->rm->add_option("name", o->name, "the node's name")->required();
  o->rm->add_flag("--force", o->force, "remove it even if it is up or draining");
  o->rm->add_option("--database", o->database, "PostgreSQL URL (default: $KILN_DATABASE_URL)");
  return [o]() -> int {
    auto log = logger("cli");
    std::string url = o->database;
    if (url.empty() && std::getenv("KILN_DATABASE_URL")) url = std::getenv("KILN_DATABASE_URL");
    if (url.empty()) {
      log->error("no database: pass --database URL or set KILN_DATABASE_URL");
      return exit_code(Code::kUsage);
    }
    auto db = store::Db::connect(url);
    if (!db) {
      log->error("{}", db.status().message());
      return exit_code(db.status().code());
    }
    store::NodeStore store(**db);
    if (o->rm->parsed()) {
      auto removed = store.remove(o->name, o->force);
      if (!removed) {
        log->error("{}", removed.status().message());
        return exit_code(removed.status().code());
      }
      if (!*removed) {
        log->error("no node named '{}'", o->name);
        return exit_code(Code::kUsage);
      }
      std::printf("removed node %s\n", o->name.c_str());
      return 0;
    }
    auto list = store.nodes();
    if (!list) {
      log->error("{}", list.status().message());
      return exit_code(list.status().code());
    }
    if (o->json) {
      std::puts(list->dump(2).c_str());
      return 0;
    }
    if (o->devices) {
      bool header = true;
      for (const auto& n : *list) {
        print_device_ledger(n["name"].get<std::string>(), n["devices"], header);
        header = false;
      }
      return 0;
    }
    for (const auto& n : *list)
      std::printf("%-24s %-9s %d/%d job(s)  heartbeat %s\n", n["name"].get<std::string>().c_str(),
                  n["state"].get<std::string>().c_str(), n["running"].get<int>(), n["capacity"].get<int>(),
                  n["heartbeatAt"].get<std::string>().c_str());
    return 0;
  };
}

}  // namespace kiln::cli
