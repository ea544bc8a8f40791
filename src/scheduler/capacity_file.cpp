#include "scheduler/capacity_file.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace kiln::scheduler {
namespace fs = std::filesystem;

namespace {
constexpr int kFormat = 1;
}

Result<Measurements> load_measurements(const std::string& path) {
  Measurements m;
  std::error_code ec;
  if (path.empty() || !fs::exists(path, ec)) return m;
  std::ifstream in(path);
  if (!in) return Status(Code::kUsage, fmt::format("cannot read the capacity file {}: {}", path, std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status(Code::kUsage, fmt::format("the capacity file {} is not JSON (rewrite it with kiln bench --mode sweep "
                                            "--recommend, or delete it)", path));
  if (j.value("format", 0) != kFormat)
    return Status(Code::kUsage, fmt::format("the capacity file {} has format {}, this kiln reads format {}", path,
                                            j.value("format", 0), kFormat));
  try {
    m.measured_at = j.value("measuredAt", "");
    m.command = j.value("command", "");
    for (const auto& d : j.at("devices")) {
      MeasuredDevice md;
      md.backend = d.at("backend").get<std::string>();
      md.id = d.at("id").get<std::string>();
      md.pci_address = d.value("pciAddress", "");
      md.model = d.value("model", "");
      md.capacity = d.at("capacityPixelsPerSecond").get<double>();
      md.sessions = d.value("sessions", 0);
      md.jobs = d.value("jobs", 0);
      md.ladder = d.value("ladder", "");
      if (md.capacity < 0 || md.sessions < 0 || md.jobs < 0)
        return Status(Code::kUsage, fmt::format("the capacity file {}: {}:{} has a negative figure", path, md.backend, md.id));
      m.devices[md.backend + ":" + md.id] = md;
    }
  } catch (const nlohmann::json::exception& e) {
    return Status(Code::kUsage, fmt::format("the capacity file {} is malformed: {}", path, e.what()));
  }
  return m;
}

Status save_measurements(const std::string& path, const Measurements& m) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& [key, d] : m.devices)
    devices.push_back({{"backend", d.backend}, {"id", d.id}, {"pciAddress", d.pci_address}, {"model", d.model},
                       {"capacityPixelsPerSecond", d.capacity}, {"sessions", d.sessions}, {"jobs", d.jobs},
                       {"ladder", d.ladder}});
  nlohmann::json j = {{"format", kFormat}, {"measuredAt", m.measured_at}, {"command", m.command}, {"devices", devices}};
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return Status(Code::kIo, fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
    out << j.dump(2) << "\n";
    if (!out.flush()) return Status(Code::kIo, fmt::format("writing {} failed: {}", tmp, std::strerror(errno)));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status(Code::kIo, fmt::format("cannot put the capacity file at {}: {}", path, ec.message()));
  }
  return Status::ok();
}

}  // namespace kiln::scheduler
