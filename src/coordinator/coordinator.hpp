#pragma once
// `kiln coordinator`: migrates the database, serves the API, and runs the leader's chores
// (lease reaper, lost nodes), alert delivery from the outbox, and ingest ([[watch]] rules).

#include <atomic>
#include <functional>
#include <string>

#include "coordinator/config.hpp"

namespace kiln::coordinator {

/// Runs until `stop` is set. `on_listening(port)` is called once the API listens.
int run(const Config& config, const std::atomic<bool>& stop, const std::function<void(int)>& on_listening);

}  // namespace kiln::coordinator
