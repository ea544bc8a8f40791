#include "coordinator/ingest/stability.hpp"

namespace kiln::coordinator::ingest {

bool StabilityTracker::observe(const std::string& key, const FileState& state, TimePoint now) {
  auto [it, fresh] = files_.try_emplace(key, Entry{state, now, false});
  if (fresh) return true;
  if (it->second.state == state) return false;
  it->second = Entry{state, now, false};
  return true;
}

void StabilityTracker::forget(const std::string& key) { files_.erase(key); }

std::vector<std::pair<std::string, FileState>> StabilityTracker::due(TimePoint now) const {
  std::vector<std::pair<std::string, FileState>> out;
  for (const auto& [key, e] : files_)
    if (!e.taken && now - e.since >= stable_) out.emplace_back(key, e.state);
  return out;
}

void StabilityTracker::take(const std::string& key) {
  if (auto it = files_.find(key); it != files_.end()) it->second.taken = true;
}

void StabilityTracker::untake(const std::string& key) {
  if (auto it = files_.find(key); it != files_.end()) it->second.taken = false;
}

std::optional<StabilityTracker::TimePoint> StabilityTracker::next_due() const {
  std::optional<TimePoint> next;
  for (const auto& [key, e] : files_) {
    if (e.taken) continue;
    auto at = e.since + std::chrono::duration_cast<std::chrono::steady_clock::duration>(stable_);
    if (!next || at < *next) next = at;
  }
  return next;
}

std::vector<std::string> StabilityTracker::keys() const {
  std::vector<std::string> out;
  for (const auto& [key, e] : files_) out.push_back(key);
  return out;
}

size_t StabilityTracker::waiting() const {
  size_t n = 0;
  for (const auto& [key, e] : files_) n += e.taken ? 0 : 1;
  return n;
}

}  // namespace kiln::coordinator::ingest
