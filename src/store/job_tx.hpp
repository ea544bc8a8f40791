#pragma once
// For src/store/*.cpp only: a job submission inside a caller's transaction, so another store
// can write its own rows and the job atomically (the ingest ledger does).

#include <pqxx/pqxx>

#include "kiln/job.hpp"
#include "store/job_store.hpp"

namespace kiln::store {

/// JobStore::submit's work in `tx`: the job row, its `submitted` event and the NOTIFY, or the
/// live job that already has the output or the idempotency key. Throws what libpqxx throws.
JobStore::Submitted submit_in(pqxx::work& tx, const NewJob& job);

}  // namespace kiln::store
