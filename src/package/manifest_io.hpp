#pragma once

#include <string>

#include "kiln/status.hpp"

namespace kiln::package {

/// Writes a whole text file; kIo with the path on failure.
Status write_text_file(const std::string& path, const std::string& text);

}  // namespace kiln::package
