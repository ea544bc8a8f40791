#include "log.hpp"

#include <mutex>

namespace kiln {

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (auto l = spdlog::get(component)) return l;
  auto l = spdlog::default_logger()->clone(component);
  spdlog::register_logger(l);
  return l;
}

}  // namespace kiln
