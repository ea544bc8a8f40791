// The ordered backend table. Hardware backends come first, each behind its build option;
// software is always built and always last, so "auto" always finds something.

#include <fmt/format.h>

#include <array>

#include "kiln/backend.hpp"
#include "software/software_backend.hpp"

namespace kiln {
namespace {

const auto kBackends = std::to_array<BackendOps>({
    // vaapi, qsv, nvenc and vulkan are listed here, #if-guarded, as they land.
    software::kBackend,
});

}  // namespace

std::span<const BackendOps> backend_table() { return kBackends; }

Result<VideoRecipe> choose_recipe(std::string_view requested, const MediaInfo& input,
                                  std::vector<std::string>* passed_over) {
  bool known = requested == "auto";
  for (const auto& b : kBackends) {
    if (requested != "auto" && b.name != requested) continue;
    known = true;
    auto devices = b.probe();
    if (devices.empty()) {
      if (passed_over) passed_over->push_back(fmt::format("{}: no device found", b.name));
      continue;
    }
    for (const auto& d : devices) {
      auto recipe = b.make_recipe(d, input);
      if (recipe) return recipe;
      if (passed_over)
        passed_over->push_back(fmt::format("{} ({}): {}", b.name, d.id, recipe.status().message()));
    }
  }
  if (!known) {
    std::string names;
    for (const auto& b : kBackends) names += fmt::format("{}{}", names.empty() ? "" : ", ", b.name);
    return Status(Code::kUsage, fmt::format("unknown or not built backend '{}' (this build has: "
                                            "auto, {})", requested, names));
  }
  return Status(Code::kUnsupported,
                fmt::format("no backend can run this input with --backend {}", requested));
}

}  // namespace kiln
