#pragma once
// Checks a finished upload with `kiln probe --json` in a child process (the running binary),
// under its memory and CPU ceilings and a wall-clock timeout: untrusted media is never parsed
// inside the coordinator (ARCHITECTURE.md, trust boundaries). Thread-safe (one child per call).

#include <string>

#include <nlohmann/json.hpp>

#include "kiln/status.hpp"

namespace kiln::console {

/// What the probe said: the input's description, or the refusal (a Code 10-17 with the probe's
/// message). A probe that crashed or ran past `timeout_seconds` is kInternal, saying so.
Result<nlohmann::json> probe_in_child(const std::string& path, double timeout_seconds);

}  // namespace kiln::console
