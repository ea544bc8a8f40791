// kiln node | coordinator | migrate | token create: the services and their admin commands.

#include <optional>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>

#include "cli/commands.hpp"
#include "console/console.hpp"
#include "coordinator/coordinator.hpp"
#include "kiln/node_config.hpp"
#include "log.hpp"
#include "node/node.hpp"
#include "store/db.hpp"
#include "store/token_store.hpp"
#include "storage/location.hpp"
#include "toml_fields.hpp"

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

/// "90", "30m", "12h", "7d" -> seconds; nullopt if malformed.
std::optional<double> parse_duration(const std::string& text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  size_t used = 0;
  double n = 0;
  try {
    n = std::stod(text, &used);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = text.substr(used);
  double mult = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : -1;
  if (mult < 0 || !(n > 0) || n * mult > 10.0 * 365 * 86400) return std::nullopt;
  return n * mult;
}

}  // namespace

std::function<int()> add_services(CLI::App& app) {
  struct Options {
    std::string node_config, coordinator_config, database, scope = "submit", note, expires, revoke_what;
    CLI::App *create = nullptr, *revoke = nullptr;
    CLI::App *node, *coord, *migrate, *token;
  };
  auto o = std::make_shared<Options>();
  o->node = app.add_subcommand("node", "Run the node daemon: claim jobs from PostgreSQL and run them on this machine's devices.");
  o->node->add_option("--config", o->node_config, "node.toml ([database] url, [node], [[device]] rules)")->required();
  o->coord = app.add_subcommand("coordinator", "Run the coordinator: HTTP API, lease reaper, alert delivery.");
  o->coord->add_option("--config", o->coordinator_config, "coordinator.toml")->required();
  o->migrate = app.add_subcommand("migrate", "Apply the database migrations (the coordinator also does at start).");
  o->migrate->add_option("--database", o->database, "PostgreSQL URL (default: $KILN_DATABASE_URL)");
  o->token = app.add_subcommand("token", "API tokens: kiln token create --scope submit|read|admin|ingest");
  CLI::App* create = o->token->add_subcommand("create", "Create a token; it is printed once, only its hash is kept.");
  create->add_option("--scope", o->scope,
                     "read, submit (also read), admin (everything) or ingest (only POST /v1/ingest/s3-events: "
                     "a store's webhook credential)")
      ->check(CLI::IsMember({"read", "submit", "admin", "ingest"}));
  create->add_option("--note", o->note, "what the token is for");
  create->add_option("--database", o->database, "PostgreSQL URL (default: $KILN_DATABASE_URL)");
  create->add_option("--expires", o->expires, "the token stops working after this long: 90s, 30m, 12h, 7d");
  o->create = create;
  o->revoke = o->token->add_subcommand("revoke", "Revoke a token, by the id printed at creation or by the token itself.");
  o->revoke->add_option("what", o->revoke_what, "token id or token")->required();
  o->revoke->add_option("--database", o->database, "PostgreSQL URL (default: $KILN_DATABASE_URL)");
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
      // [[location]] is read from the same file (kept out of NodeConfig, which the node hands
      // to each worker: a worker gets its job's resolved paths, never the list).
      auto text = toml_fields::read_file(o->node_config, "node config");
      auto table = text ? toml_fields::parse(*text, o->node_config) : Result<toml::table>(text.status());
      auto locations = table ? storage::parse_locations(*table, o->node_config) : Result<storage::Locations>(table.status());
      if (!locations) {
        log->error("{}", locations.status().message());
        return exit_code(locations.status().code());
      }
      if (locations->empty())
        log->warn("{}: no [[location]] configured: every job will be refused (path_not_allowed)", o->node_config);
      handle_stop_signals();
      return node::run(*config, *locations, g_stop, [] { std::fputs("kiln node: ready\n", stdout); std::fflush(stdout); });
    }
    if (o->coord->parsed()) {
      auto config = coordinator::load_config(o->coordinator_config);
      if (!config) {
        log->error("{}", config.status().message());
        return exit_code(config.status().code());
      }
      handle_stop_signals();
      return coordinator::run(
          *config, g_stop,
          [&](int port) {
            std::printf("kiln coordinator: listening on http://%s:%d\n", config->listen_host.c_str(), port);
            std::fflush(stdout);
          },
          console::install);
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
    if (o->revoke->parsed()) {
      auto done = store::TokenStore(**store).revoke(o->revoke_what);
      if (!done) {
        log->error("{}", done.status().message());
        return exit_code(done.status().code());
      }
      if (!*done) {
        log->error("no live token matches '{}'", o->revoke_what);
        return exit_code(Code::kUsage);
      }
      std::printf("revoked\n");
      return 0;
    }
    double expires = 0;
    if (!o->expires.empty()) {
      auto d = parse_duration(o->expires);
      if (!d) {
        log->error("--expires '{}': give a positive duration like 90s, 30m, 12h or 7d (at most 10 years)", o->expires);
        return exit_code(Code::kUsage);
      }
      expires = *d;
    }
    int64_t id = 0;
    auto token = store::TokenStore(**store).create_token(o->scope, o->note, expires, &id);
    if (!token) {
      log->error("{}", token.status().message());
      return exit_code(token.status().code());
    }
    std::printf("%s\n", token->c_str());
    std::fprintf(stderr, "token id %lld (kiln token revoke %lld)\n", static_cast<long long>(id), static_cast<long long>(id));
    return 0;
  };
}

}  // namespace kiln::cli
