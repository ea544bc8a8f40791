#pragma once
// Registered nodes: their devices, capacity, state and heartbeat. A view over a Db: not
// thread-safe, like the Db it uses.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/status.hpp"
#include "store/db.hpp"

namespace kiln::store {

class NodeStore {
 public:
  explicit NodeStore(Db& db);

  /// Registers (or re-registers) a node with its devices and job capacity; state 'up'.
  Status register_node(const std::string& name, const nlohmann::json& devices, int capacity);
  /// The node's own heartbeat with its state (up, draining, stopped).
  Status node_heartbeat(const std::string& name, const std::string& state);
  /// As node_heartbeat, with the node's live device list (its ledger: jobs, sessions, load).
  Status node_heartbeat(const std::string& name, const std::string& state, const nlohmann::json& devices);
  /// Nodes whose heartbeat is older than `timeout_seconds` become lost (node_lost event). A
  /// node that stopped on purpose ('stopped') is never lost.
  Result<std::vector<std::string>> mark_lost_nodes(double timeout_seconds);
  Result<nlohmann::json> nodes();
  /// Deletes a node's record (`kiln nodes rm`): true if removed, false if there is none.
  /// Refuses (kUsage) a node that is up or draining unless `force`.
  Result<bool> remove(const std::string& name, bool force);

 private:
  Db& db_;
};

}  // namespace kiln::store
