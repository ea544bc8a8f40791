#pragma once
// `kiln node`: registers this machine's devices, claims jobs it has room for, runs each through
// the pipeline (placement, fallback), reports progress and renews its lease, stops a cancelled
// job within a heartbeat, and on SIGTERM stops claiming, finishes or hands back what it runs.

#include <atomic>
#include <functional>

#include "kiln/node_config.hpp"
#include "storage/location.hpp"

namespace kiln::node {

/// Runs until `stop` is set, then drains. `on_ready` is called once registered. A job's paths
/// must lie inside `locations` (node.toml [[location]]); others fail as path_not_allowed.
int run(const NodeConfig& config, const storage::Locations& locations, const std::atomic<bool>& stop,
        const std::function<void()>& on_ready);

}  // namespace kiln::node
