#include "coordinator/ingest/source_actions.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "coordinator/ingest/ingestor.hpp"
#include "log.hpp"

namespace kiln::coordinator::ingest {
namespace fs = std::filesystem;
namespace {

/// The file's version as the watcher writes it, or "" when it is not there.
std::string version_of(const fs::path& p) {
  struct stat st{};
  if (::stat(p.c_str(), &st) != 0) return "";
  return file_version(st.st_size, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec);
}

std::string now_iso() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
}

}  // namespace

std::string SourceActions::moved_key(const WatchRule& rule, const std::string& key) {
  return rule.move_to + key_parts(rule, key, "").path;
}

std::string SourceActions::report_key(const WatchRule& rule, const std::string& key) {
  return rule.errors_prefix + key_parts(rule, key, "").path + ".txt";
}

std::string SourceActions::report_text(const WatchRule& rule, const Source& source, const std::string& reason) {
  return fmt::format("Kiln made no output from this upload.\n"
                     "upload: {}:{} (version {})\n"
                     "rule:   {}\n"
                     "job:    {}\n"
                     "reason: {}\n"
                     "at:     {}\n",
                     rule.location, source.key, source.version, rule.name,
                     source.job_id ? std::to_string(source.job_id) + " (discarded: GET /v1/jobs/" +
                                         std::to_string(source.job_id) + " has every attempt's error)"
                                   : std::string("none (refused before a job was made)"),
                     reason, now_iso());
}

Status SourceActions::completed(const WatchRule& rule, const Source& source) const {
  switch (rule.on_complete) {
    case OnComplete::kNone:
      return Status::ok();
    case OnComplete::kTag:
      return tag_object(rule, source, "complete");
    case OnComplete::kMove: {
      if (rule.s3) return move_object(rule, source);
      const storage::Location* loc = locations_.find(rule.location);
      if (!loc) return Status(Code::kUsage, fmt::format("rule {}: no location '{}'", rule.name, rule.location));
      return move_file(rule, *loc, source);
    }
  }
  return Status::ok();
}

Status SourceActions::failed(const WatchRule& rule, const Source& source, const std::string& reason) const {
  if (rule.on_complete == OnComplete::kTag) KILN_RETURN_IF_ERROR(tag_object(rule, source, "failed"));
  if (rule.errors_prefix.empty()) return Status::ok();
  return write(rule, report_key(rule, source.key), report_text(rule, source, reason));
}

Status SourceActions::move_file(const WatchRule& rule, const storage::Location& loc, const Source& source) const {
  auto log = logger("ingest");
  fs::path from = fs::path(loc.root) / source.key;
  fs::path to = fs::path(loc.root) / moved_key(rule, source.key);
  std::string now = version_of(from);
  if (now.empty()) {
    if (fs::exists(to)) return Status::ok();  // moved before (an action repeated after a crash)
    log->warn("rule {}: {} is gone; nothing to move", rule.name, from.string());
    return Status::ok();
  }
  if (now != source.version) {
    log->warn("rule {}: {} changed since its job was made (a new upload): left where it is", rule.name, from.string());
    return Status::ok();
  }
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (ec) return Status(Code::kIo, fmt::format("rule {}: cannot make {}: {}", rule.name, to.parent_path().string(), ec.message()));
  fs::rename(from, to, ec);
  if (ec)
    return Status(Code::kIo, fmt::format("rule {}: moving {} to {}: {} (move_to must be on the same filesystem)",
                                         rule.name, from.string(), to.string(), ec.message()));
  log->info("rule {}: moved {} to {}", rule.name, from.string(), to.string());
  return Status::ok();
}

Status SourceActions::move_object(const WatchRule& rule, const Source& source) const {
  auto client = clients_.client(rule.location);
  if (!client) return client.status();
  const storage::Location* loc = locations_.find(rule.location);
  const std::string from = loc->s3->key(source.key), to = loc->s3->key(moved_key(rule, source.key));
  auto log = logger("ingest");
  auto head = (*client)->head(from);
  if (!head) {
    if (head.status().code() != Code::kInputMissing) return head.status();
    auto there = (*client)->head(to);
    if (!there && there.status().code() != Code::kInputMissing) return there.status();
    if (!there) log->warn("rule {}: s3 object {} is gone; nothing to move", rule.name, from);
    return Status::ok();  // moved before, or removed by someone
  }
  if (head->etag != source.version) {
    log->warn("rule {}: s3 object {} was replaced since its job was made: left where it is", rule.name, from);
    return Status::ok();
  }
  // If-Match as well: a store that honours it closes the window between the HEAD and the copy.
  auto copied = (*client)->copy(from, to, source.version);
  if (!copied) return copied.status();
  KILN_RETURN_IF_ERROR((*client)->remove(from));
  log->info("rule {}: moved s3 object {} to {}", rule.name, from, to);
  return Status::ok();
}

Status SourceActions::tag_object(const WatchRule& rule, const Source& source, const std::string& status) const {
  auto client = clients_.client(rule.location);
  if (!client) return client.status();
  const std::string key = locations_.find(rule.location)->s3->key(source.key);
  auto tags = (*client)->get_tags(key);
  if (!tags) {
    if (tags.status().code() == Code::kInputMissing) return Status::ok();  // gone: nothing to tag
    return tags.status();
  }
  storage::s3::Tags merged;
  for (auto& t : *tags)
    if (t.first != "kiln-status" && t.first != "kiln-job") merged.push_back(std::move(t));
  merged.emplace_back("kiln-status", status);
  if (source.job_id) merged.emplace_back("kiln-job", std::to_string(source.job_id));
  return (*client)->put_tags(key, merged);
}

Status SourceActions::write(const WatchRule& rule, const std::string& key, const std::string& text) const {
  const storage::Location* loc = locations_.find(rule.location);
  if (!loc) return Status(Code::kUsage, fmt::format("rule {}: no location '{}'", rule.name, rule.location));
  if (loc->s3) {
    auto client = clients_.client(rule.location);
    if (!client) return client.status();
    auto put = (*client)->put(loc->s3->key(key), text, {"text/plain; charset=utf-8", ""});
    return put ? Status::ok() : put.status();
  }
  fs::path path = fs::path(loc->root) / key;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  std::string tmp_name = path.filename().string();
  tmp_name.insert(tmp_name.begin(), '.');  // hidden: a watch folder never takes it
  tmp_name += ".tmp";
  fs::path tmp = path.parent_path() / tmp_name;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return Status(Code::kIo, fmt::format("rule {}: cannot write {}", rule.name, tmp.string()));
  }
  fs::rename(tmp, path, ec);
  if (ec) return Status(Code::kIo, fmt::format("rule {}: cannot write {}: {}", rule.name, path.string(), ec.message()));
  return Status::ok();
}

}  // namespace kiln::coordinator::ingest
