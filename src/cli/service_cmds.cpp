// kiln node | coordinator | migrate | token create: the services and their admin commands.

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>

#include "cli/commands.hpp"
#include "coordinator/coordinator.hpp"
#include "kiln/node_config.hpp"
#include "log.hpp"
#include "node/node.hpp"
#include "store/db.hpp"
#include "store/token_store.hpp"

namespace kiln::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

void handle_stop_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

std::string database_from(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("KILN_DATABASE_URL");
  return env ? env : "";
}

}  // namespace

std::function<int()> add_services(CLI::App& app) {
  struct Options {
    std::string node_config, coordinator_config, database, scope = "submit", note;
    CLI::App *node, *coord, *migrate, *token;
  };
  auto o = std::make_shared<Options>();
  o->node = app.add_subcommand("node", "Run the node daemon: claim jobs from PostgreSQL and run them on this machine's devices.");
  o->node->add_option("--config", o->node_config, "node.toml ([database] url, [node], [[device]] rules)")->required();
  o->coord = app.add_subcommand("coordinator", "Run the coordinator: HTTP API, lease reaper, alert delivery.");
  o->coord->add_option("--config", o->coordinator_config, "coordinator.toml")->required();
  o->migrate = app.add_subcommand("migrate", "Apply the database migrations (the coordinator also does at start).");
  o->migrate->add_option("--database", o->database, "PostgreSQL URL (default: $KILN_DATABASE_URL)");
  o->token = app.add_subcommand("token", "API tokens: kiln token create --scope submit|read|admin");
  CLI::App* create = o->token->add_subcommand("create", "Create a token; it is printed once, only its hash is kept.");
  create->add_option("--scope", o->scope, "read, submit (also read) or admin (everything)")
      ->check(CLI::IsMember({"read", "submit", "admin"}));
  create->add_option("--note", o->note, "what the token is for");
  create->add_option("--database", o->database, "PostgreSQL URL (default: $KILN_DATABASE_URL)");
  o->token->require_subcommand(1);
  return [o]() -> int {
    auto log = logger("cli");
    if (o->node->parsed()) {
      auto config = load_node_config(o->node_config);
      if (!config) {
        log->error("{}", config.status().message());
        return exit_code(config.status().code());
      }
      if (config->database_url.empty()) {
        log->error("{}: [database] url is required for kiln node", o->node_config);
        return exit_code(Code::kUsage);
      }
      handle_stop_signals();
      return node::run(*config, g_stop, [] { std::fputs("kiln node: ready\n", stdout); std::fflush(stdout); });
    }
    if (o->coord->parsed()) {
      auto config = coordinator::load_config(o->coordinator_config);
      if (!config) {
        log->error("{}", config.status().message());
        return exit_code(config.status().code());
      }
      handle_stop_signals();
      return coordinator::run(*config, g_stop, [&](int port) {
        std::printf("kiln coordinator: listening on http://%s:%d\n", config->listen_host.c_str(), port);
        std::fflush(stdout);
      });
    }
    std::string url = database_from(o->database);
    if (url.empty()) {
      log->error("no database: pass --database URL or set KILN_DATABASE_URL");
      return exit_code(Code::kUsage);
    }
    int version = 0;
    auto store = store::Db::open_migrated(url, &version);
    if (!store) {
      log->error("{}", store.status().message());
      return exit_code(store.status().code());
    }
    if (o->migrate->parsed()) {
      std::printf("schema version %d\n", version);
      return 0;
    }
    auto token = store::TokenStore(**store).create_token(o->scope, o->note);
    if (!token) {
      log->error("{}", token.status().message());
      return exit_code(token.status().code());
    }
    std::printf("%s\n", token->c_str());
    return 0;
  };
}

}  // namespace kiln::cli
