#pragma once
// One named spdlog logger per component ("pipeline", "probe", "cli", ...), created on first use
// with the default logger's sinks and level.

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace kiln {

std::shared_ptr<spdlog::logger> logger(const std::string& component);

}  // namespace kiln
