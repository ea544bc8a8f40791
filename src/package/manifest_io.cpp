#include "package/manifest_io.hpp"

#include <fmt/format.h>

#include <fstream>

namespace kiln::package {

Status write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return {Code::kIo, fmt::format("cannot write '{}'", path)};
  return Status::ok();
}

}  // namespace kiln::package
