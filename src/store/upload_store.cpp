#include "store/upload_store.hpp"

#include "store/db_impl.hpp"

namespace kiln::store {

namespace {

constexpr const char* kColumns =
    "id, location, key, filename, filetype, length, spec::text, state, coalesce(s3_upload_id, ''), "
    "coalesce(job_id, 0), coalesce(error, ''), "
    "to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "extract(epoch FROM expires_at - now())";

Upload from_row(const pqxx::row& r) {
  Upload u;
  u.id = r[0].c_str();
  u.location = r[1].c_str();
  u.key = r[2].c_str();
  u.filename = r[3].c_str();
  u.filetype = r[4].c_str();
  u.length = r[5].as<int64_t>();
  u.spec = nlohmann::json::parse(r[6].c_str(), nullptr, false);
  u.state = r[7].c_str();
  u.s3_upload_id = r[8].c_str();
  u.job_id = r[9].as<int64_t>();
  u.error = r[10].c_str();
  u.expires_at = r[11].c_str();
  u.expires_in_seconds = r[12].as<double>();
  return u;
}

}  // namespace

UploadStore::UploadStore(Db& db) : db_(db) {}

Result<Upload> UploadStore::create(Upload u, double expires_seconds) {
  return db_.impl().run("create_upload", [&](pqxx::work& tx) {
    // 128 random bits from the server's CSPRNG: the id is the upload's only credential-like part
    // of its URL (every request also needs a session or token with submit scope).
    std::string id = tx.exec("SELECT replace(gen_random_uuid()::text, '-', '')")[0][0].c_str();
    std::string key = u.key;
    if (auto at = key.find("{id}"); at != std::string::npos) key.replace(at, 4, id);
    nlohmann::json spec = u.spec;
    if (spec.contains("output") && spec["output"].is_string()) {
      std::string out = spec["output"];
      if (auto at = out.find("{id}"); at != std::string::npos) out.replace(at, 4, id);
      spec["output"] = out;
    }
    auto r = tx.exec_params(std::string("INSERT INTO kiln_uploads (id, location, key, filename, filetype, length, spec, expires_at) "
                                        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, now() + make_interval(secs => $8)) RETURNING ") +
                                kColumns,
                            id, u.location, key, u.filename, u.filetype, u.length, spec.dump(), expires_seconds);
    return from_row(r[0]);
  });
}

Result<std::optional<Upload>> UploadStore::get(const std::string& id) {
  return db_.impl().run("get_upload", [&](pqxx::work& tx) -> std::optional<Upload> {
    auto r = tx.exec_params(std::string("SELECT ") + kColumns + " FROM kiln_uploads WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return from_row(r[0]);
  });
}

Status UploadStore::set_s3_upload_id(const std::string& id, const std::string& s3_upload_id) {
  auto r = db_.impl().run("set_s3_upload_id", [&](pqxx::work& tx) {
    tx.exec_params("UPDATE kiln_uploads SET s3_upload_id = $2 WHERE id = $1", id, s3_upload_id);
    return true;
  });
  return r ? Status::ok() : r.status();
}

Result<bool> UploadStore::begin_check(const std::string& id) {
  return db_.impl().run("begin_upload_check", [&](pqxx::work& tx) {
    return !tx.exec_params("UPDATE kiln_uploads SET state = 'checking' WHERE id = $1 AND state = 'receiving' RETURNING 1", id)
                .empty();
  });
}

Status UploadStore::finish(const std::string& id, int64_t job_id) {
  auto r = db_.impl().run("finish_upload", [&](pqxx::work& tx) {
    tx.exec_params("UPDATE kiln_uploads SET state = 'done', job_id = $2 WHERE id = $1", id, job_id);
    return true;
  });
  return r ? Status::ok() : r.status();
}

Status UploadStore::refuse(const std::string& id, const std::string& error) {
  auto r = db_.impl().run("refuse_upload", [&](pqxx::work& tx) {
    tx.exec_params("UPDATE kiln_uploads SET state = 'refused', error = $2 WHERE id = $1", id, error);
    return true;
  });
  return r ? Status::ok() : r.status();
}

Result<bool> UploadStore::remove(const std::string& id) {
  return db_.impl().run("remove_upload", [&](pqxx::work& tx) {
    return !tx.exec_params("DELETE FROM kiln_uploads WHERE id = $1 RETURNING 1", id).empty();
  });
}

Result<std::vector<Upload>> UploadStore::take_expired(int limit) {
  return db_.impl().run("take_expired_uploads", [&](pqxx::work& tx) {
    auto r = tx.exec_params(std::string("DELETE FROM kiln_uploads WHERE id IN (SELECT id FROM kiln_uploads "
                                        "WHERE state IN ('receiving', 'refused') AND expires_at <= now() "
                                        "LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING ") + kColumns,
                            limit);
    std::vector<Upload> out;
    for (const auto& row : r) out.push_back(from_row(row));
    return out;
  });
}

}  // namespace kiln::store
