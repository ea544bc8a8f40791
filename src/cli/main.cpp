// kiln: one binary, subcommands, like git.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "av/av_log_bridge.hpp"
#include "cli/commands.hpp"
#include "kiln/status.hpp"
#include "kiln/version.hpp"

int main(int argc, char** argv) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto default_logger = std::make_shared<spdlog::logger>("kiln", sink);
  default_logger->set_pattern("%^%L%$ %H:%M:%S.%e [%n] %v");
  spdlog::set_default_logger(default_logger);
  kiln::av::install_log_bridge();

  CLI::App app{"Kiln: a hardware-accelerated transcoding node (HLS + DASH CMAF ladders)"};
  app.set_version_flag("--version", std::string("kiln ") + kiln::kVersion);
  app.require_subcommand(1);
  app.fallthrough();  // global options (--log-level) may follow the subcommand
  std::string level = "info";
  app.add_option("--log-level", level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  auto run_transcode = kiln::cli::add_transcode(app);
  auto run_devices = kiln::cli::add_devices(app);
  auto run_services = kiln::cli::add_services(app);
  auto run_client = kiln::cli::add_client(app);
  auto run_bench = kiln::cli::add_bench(app, argc, argv);
  auto run_nodes = kiln::cli::add_nodes(app);
  auto run_worker = kiln::cli::add_worker(app);
  auto run_storage = kiln::cli::add_storage(app);
  auto run_probe = kiln::cli::add_probe(app);
  std::string topic;
  CLI::App* help = app.add_subcommand("help", "Show help for a command: kiln help transcode");
  help->add_option("command", topic, "the command to explain");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kiln::exit_code(kiln::Code::kUsage);
  }
  spdlog::set_level(spdlog::level::from_str(level));

  if (help->parsed()) {
    if (topic.empty()) {
      std::fputs(app.help().c_str(), stdout);
      return 0;
    }
    try {
      std::fputs(app.get_subcommand(topic)->help().c_str(), stdout);
      return 0;
    } catch (const CLI::OptionNotFound&) {
      std::fprintf(stderr, "kiln: no command '%s'; see kiln --help\n", topic.c_str());
      return kiln::exit_code(kiln::Code::kUsage);
    }
  }
  if (app.got_subcommand("transcode")) return run_transcode();
  if (app.got_subcommand("devices")) return run_devices();
  for (const char* s : {"node", "coordinator", "migrate", "token"})
    if (app.got_subcommand(s)) return run_services();
  if (app.got_subcommand("bench")) return run_bench();
  if (app.got_subcommand("nodes")) return run_nodes();
  if (app.got_subcommand("worker")) return run_worker();
  if (app.got_subcommand("storage")) return run_storage();
  if (app.got_subcommand("probe")) return run_probe();
  for (const char* s : {"submit", "jobs", "cancel", "retry"})
    if (app.got_subcommand(s)) return run_client();
  return 0;
}
