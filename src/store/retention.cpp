#include "store/retention.hpp"

#include "store/db_impl.hpp"

namespace kiln::store {

Retention::Retention(Db& db) : db_(db) {}

Result<int64_t> Retention::prune_events(double older_than_seconds, int batch) {
  return db_.impl().run("prune_events", [&](pqxx::work& tx) {
    auto r = tx.exec_params("DELETE FROM kiln_events WHERE id IN (SELECT id FROM kiln_events WHERE "
                            "created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2)",
                            older_than_seconds, batch);
    tx.exec_params("DELETE FROM kiln_dead_letters WHERE (event_id, receiver) IN (SELECT event_id, receiver "
                   "FROM kiln_dead_letters WHERE dead_at < now() - make_interval(secs => $1) LIMIT $2)",
                   older_than_seconds, batch);
    return static_cast<int64_t>(r.affected_rows());
  });
}

Result<int64_t> Retention::prune_jobs(double older_than_seconds, int batch) {
  return db_.impl().run("prune_jobs", [&](pqxx::work& tx) {
    auto r = tx.exec_params("DELETE FROM kiln_jobs WHERE id IN (SELECT id FROM kiln_jobs WHERE state IN "
                            "('completed', 'cancelled', 'discarded') AND finalized_at < now() - "
                            "make_interval(secs => $1) ORDER BY finalized_at LIMIT $2)",
                            older_than_seconds, batch);
    return static_cast<int64_t>(r.affected_rows());
  });
}

}  // namespace kiln::store
