#include "kiln/node_config.hpp"

#include <fmt/format.h>

#include "toml_fields.hpp"

namespace kiln {
namespace {

using toml_fields::read_bool;
using toml_fields::read_number;
using toml_fields::read_string;
using toml_fields::read_strings;

Result<DeviceRule> parse_rule(const toml::table& t, std::string where) {
  DeviceRule r;
  r.origin = where;
  const toml::table* match = t["match"].as_table();
  if (!match) return Status(Code::kUsage, fmt::format("{}: needs a match = {{ pci | render_node | "
                                                      "vendor | backend = \"...\" }} table", where));
  KILN_RETURN_IF_ERROR(read_string(*match, "pci", &r.match_pci, where));
  KILN_RETURN_IF_ERROR(read_string(*match, "render_node", &r.match_render_node, where));
  KILN_RETURN_IF_ERROR(read_string(*match, "vendor", &r.match_vendor, where));
  KILN_RETURN_IF_ERROR(read_string(*match, "backend", &r.match_backend, where));
  if (r.match_pci.empty() && r.match_render_node.empty() && r.match_vendor.empty() &&
      r.match_backend.empty())
    return Status(Code::kUsage, fmt::format("{}: match is empty", where));
  if (!r.match_render_node.empty() && r.match_render_node.find('/') == std::string::npos)
    r.match_render_node = "/dev/dri/" + r.match_render_node;
  KILN_RETURN_IF_ERROR(read_bool(t, "enabled", &r.enabled, where));
  KILN_RETURN_IF_ERROR(read_number(t, "max_sessions", &r.max_sessions, where));
  KILN_RETURN_IF_ERROR(read_strings(t, "codecs", &r.codecs, where));
  KILN_RETURN_IF_ERROR(read_number(t, "capacity", &r.capacity, where));
  std::string numa = "local";
  KILN_RETURN_IF_ERROR(read_string(t, "numa", &numa, where));
  KILN_RETURN_IF_ERROR(read_string(t, "cpus", &r.cpus, where));
  if (numa == "local") r.numa = NumaPolicy::kLocal;
  else if (numa == "none") r.numa = NumaPolicy::kNone;
  else if (numa == "cpus") r.numa = NumaPolicy::kCpus;
  else return Status(Code::kUsage, fmt::format("{}: numa = '{}' (local, cpus or none)", where, numa));
  if (r.numa == NumaPolicy::kCpus && r.cpus.empty())
    return Status(Code::kUsage, fmt::format("{}: numa = \"cpus\" needs cpus = \"0-7\"", where));
  if (r.max_sessions < 0) return Status(Code::kUsage, fmt::format("{}: max_sessions < 0", where));
  return r;
}

}  // namespace

Result<NodeConfig> parse_node_config(std::string_view text, std::string_view origin) {
  auto parsed = toml_fields::parse(text, origin);
  if (!parsed) return parsed.status();
  const toml::table& root = *parsed;
  NodeConfig c;
  if (const auto* node = root["node"].as_table()) {
    std::string where = fmt::format("{}: [node]", origin);
    KILN_RETURN_IF_ERROR(read_string(*node, "name", &c.name, where));
    KILN_RETURN_IF_ERROR(read_number(*node, "software_slots", &c.software_slots, where));
    KILN_RETURN_IF_ERROR(read_strings(*node, "queues", &c.queues, where));
    KILN_RETURN_IF_ERROR(read_number(*node, "max_jobs", &c.max_jobs, where));
    KILN_RETURN_IF_ERROR(read_number(*node, "lease_seconds", &c.lease_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*node, "heartbeat_seconds", &c.heartbeat_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*node, "drain_seconds", &c.drain_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*node, "retry_base_seconds", &c.retry_base_seconds, where));
    KILN_RETURN_IF_ERROR(read_string(*node, "metrics_listen", &c.metrics_listen, where));
    KILN_RETURN_IF_ERROR(read_string(*node, "capacity_file", &c.capacity_file, where));
    KILN_RETURN_IF_ERROR(read_string(*node, "scratch_dir", &c.scratch_dir, where));
    if (c.scratch_dir.empty() || c.scratch_dir.front() != '/')
      return Status(Code::kUsage, fmt::format("{}: scratch_dir = '{}' must be an absolute directory", where, c.scratch_dir));
    KILN_RETURN_IF_ERROR(read_number(*node, "worker_memory_mb", &c.worker_memory_mb, where));
    KILN_RETURN_IF_ERROR(read_number(*node, "worker_wall_factor", &c.worker_wall_factor, where));
    KILN_RETURN_IF_ERROR(read_number(*node, "worker_wall_min_seconds", &c.worker_wall_min_seconds, where));
    KILN_RETURN_IF_ERROR(read_number(*node, "worker_kill_grace_seconds", &c.worker_kill_grace_seconds, where));
    if (c.worker_memory_mb < 0 || c.worker_wall_factor < 0 || c.worker_wall_min_seconds < 0 ||
        c.worker_kill_grace_seconds < 0)
      return Status(Code::kUsage, fmt::format("{}: worker_* limits must not be negative", where));
    if (c.heartbeat_seconds <= 0 || c.lease_seconds < 2 * c.heartbeat_seconds)
      return Status(Code::kUsage, fmt::format("{}: lease_seconds must be at least twice heartbeat_seconds", where));
  }
  if (const auto* db = root["database"].as_table())
    KILN_RETURN_IF_ERROR(read_string(*db, "url", &c.database_url, fmt::format("{}: [database]", origin)));
  if (const auto* s = root["scheduler"].as_table()) {
    std::string where = fmt::format("{}: [scheduler]", origin);
    KILN_RETURN_IF_ERROR(read_number(*s, "strikes", &c.strikes, where));
    KILN_RETURN_IF_ERROR(read_number(*s, "strike_window_seconds", &c.strike_window_seconds, where));
    if (c.strikes < 1) return Status(Code::kUsage, fmt::format("{}: strikes must be >= 1", where));
  }
  if (const auto* arr = root["device"].as_array()) {
    for (size_t i = 0; i < arr->size(); ++i) {
      std::string where = fmt::format("{}: [[device]] #{}", origin, i + 1);
      const auto* t = (*arr)[i].as_table();
      if (!t) return Status(Code::kUsage, fmt::format("{} is not a table", where));
      auto rule = parse_rule(*t, where);
      if (!rule) return rule.status();
      c.devices.push_back(std::move(rule).value());
    }
  }
  return c;
}

Result<NodeConfig> load_node_config(const std::string& path) {
  auto text = toml_fields::read_file(path, "node config");
  if (!text) return text.status();
  return parse_node_config(*text, path);
}

const DeviceRule* rule_for(const NodeConfig& config, const Device& d) {
  for (const auto& r : config.devices) {
    if (!r.match_pci.empty() && r.match_pci != d.pci_address) continue;
    if (!r.match_render_node.empty() && r.match_render_node != d.render_node) continue;
    if (!r.match_vendor.empty() && r.match_vendor != d.vendor) continue;
    if (!r.match_backend.empty() && r.match_backend != d.backend) continue;
    return &r;
  }
  return nullptr;
}

}  // namespace kiln
