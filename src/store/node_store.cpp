#include "store/node_store.hpp"

#include "store/db_impl.hpp"

namespace kiln::store {

NodeStore::NodeStore(Db& db) : db_(db) {}

Status NodeStore::register_node(const std::string& name, const nlohmann::json& devices, int capacity) {
  return db_.impl().run("register_node", [&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO kiln_nodes (name, devices, capacity) VALUES ($1, $2::jsonb, $3) "
                   "ON CONFLICT (name) DO UPDATE SET devices = excluded.devices, capacity = excluded.capacity, "
                   "state = 'up', started_at = now(), heartbeat_at = now()",
                   name, devices.dump(), capacity);
    return 0;
  }).status();
}

Status NodeStore::node_heartbeat(const std::string& name, const std::string& state) {
  return db_.impl().run("node_heartbeat", [&](pqxx::work& tx) {
    tx.exec_params("UPDATE kiln_nodes SET heartbeat_at = now(), state = $2 WHERE name = $1", name, state);
    return 0;
  }).status();
}

Status NodeStore::node_heartbeat(const std::string& name, const std::string& state, const nlohmann::json& devices) {
  return db_.impl().run("node_heartbeat", [&](pqxx::work& tx) {
    tx.exec_params("UPDATE kiln_nodes SET heartbeat_at = now(), state = $2, devices = $3::jsonb WHERE name = $1", name,
                   state, devices.dump());
    return 0;
  }).status();
}

Result<std::vector<std::string>> NodeStore::mark_lost_nodes(double timeout_seconds) {
  return db_.impl().run("mark_lost_nodes", [&](pqxx::work& tx) {
    auto r = tx.exec_params("UPDATE kiln_nodes SET state = 'lost' WHERE state NOT IN ('lost', 'stopped') AND "
                            "heartbeat_at < now() - make_interval(secs => $1) RETURNING name", timeout_seconds);
    std::vector<std::string> lost;
    for (const auto& row : r) {
      lost.emplace_back(row[0].c_str());
      tx.exec_params("INSERT INTO kiln_events (job_id, kind, payload) VALUES (NULL, 'node_lost', $1::jsonb)",
                     nlohmann::json{{"node", lost.back()}}.dump());
    }
    return lost;
  });
}

Result<bool> NodeStore::remove(const std::string& name, bool force) {
  auto removed = db_.impl().run("remove_node", [&](pqxx::work& tx) -> Result<bool> {
    auto r = tx.exec_params("SELECT state FROM kiln_nodes WHERE name = $1 FOR UPDATE", name);
    if (r.empty()) return false;
    std::string state = r[0][0].c_str();
    if (!force && state != "stopped" && state != "lost")
      return Status(Code::kUsage, fmt::format("node '{}' is {}; stop it first (or pass --force)", name, state));
    tx.exec_params("DELETE FROM kiln_nodes WHERE name = $1", name);
    return true;
  });
  if (!removed) return removed.status();
  return std::move(removed).value();
}

Result<nlohmann::json> NodeStore::nodes() {
  return db_.impl().run("nodes", [&](pqxx::work& tx) {
    auto r = tx.exec("SELECT name, devices::text, capacity, state, to_char(heartbeat_at AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), (SELECT count(*) FROM kiln_jobs j WHERE "
                     "j.node = n.name AND j.state = 'running') FROM kiln_nodes n ORDER BY name");
    nlohmann::json out = nlohmann::json::array();
    for (const auto& row : r)
      out.push_back({{"name", row[0].c_str()}, {"devices", nlohmann::json::parse(row[1].c_str())},
                     {"capacity", row[2].as<int>()}, {"state", row[3].c_str()},
                     {"heartbeatAt", row[4].c_str()}, {"running", row[5].as<int>()}});
    return out;
  });
}

}  // namespace kiln::store
