#pragma once
// `kiln coordinator`: migrates the database, serves the API, and runs the leader's chores
// (lease reaper, lost nodes), alert delivery from the outbox, and ingest ([[watch]] rules).

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "coordinator/config.hpp"

namespace kiln::coordinator {

class ApiServer;

/// Extra routes and chores on the API (the web console): called once the API is built, before it
/// listens; what it returns lives until the coordinator stops.
using Extension = std::function<std::shared_ptr<void>(ApiServer& api, const std::atomic<bool>& stop)>;

/// Runs until `stop` is set. `on_listening(port)` is called once the API listens.
int run(const Config& config, const std::atomic<bool>& stop, const std::function<void(int)>& on_listening,
        const Extension& extend = {});

}  // namespace kiln::coordinator
