#pragma once
// `[[watch]]` rules of coordinator.toml: which uploads in a location become jobs, the job each
// one becomes (a POST /v1/jobs body with placeholders), and what happens to the upload after.
// Plain data and pure functions: thread-safe.
//
//   [[watch]]
//   name     = "uploads"            # [a-z0-9_-]; the ledger keys on it
//   location = "inbox"              # a [[location]]: s3:// (events, polling) or file:// (a folder)
//   prefix   = "uploads/"           # keys under it (relative to the location)
//   suffixes = [".mp4", ".mov"]     # case-insensitive; none: every key
//   output   = "outbox:{dir}{stem}" # LOCATION:pattern (placeholders below)
//   ladder   = "720p,480p"          # and segment_seconds, priority, queue, max_attempts,
//                                   # backend, device, metadata = { k = "{key}" }
//   on_complete   = "move"          # none | move | tag (s3 only)
//   move_to       = "done/"
//   errors_prefix = "errors/"       # a failure writes errors/{path}.txt with the reason
//
// Placeholders, for key "uploads/shows/ep1.MP4" under prefix "uploads/":
//   {key} uploads/shows/ep1.MP4   {path} shows/ep1.MP4   {dir} shows/   {name} ep1.MP4
//   {stem} ep1   {ext} MP4   {version} 12 hex digits naming this version of the upload
//   {rule} the rule's name;   {{ and }} are literal braces.
// {path} is the key below the prefix's directory (the prefix up to its last '/'), so a prefix
// such as "uploads/cam-" keeps "cam-" in {path}, {name} and {stem}.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "kiln/status.hpp"
#include "storage/location.hpp"

namespace kiln::coordinator::ingest {

enum class OnComplete { kNone, kMove, kTag };
enum class WatchMode { kAuto, kInotify, kPoll };  // file rules: how changes are seen
enum class EventKeys { kAuto, kUrl, kRaw };       // s3 rules: how event keys are encoded

struct WatchRule {
  std::string name;
  std::string location;               // the watched [[location]]
  bool s3 = false;                    // it is s3:// (else a file:// folder)
  std::string prefix;                 // relative to the location; "" = all of it
  std::vector<std::string> suffixes;  // lower-case; empty = any

  bool events = true;                 // s3: take POST /v1/ingest/s3-events for it
  EventKeys event_keys = EventKeys::kAuto;
  double poll_seconds = 0;            // s3: ListObjectsV2 every N s (0: events only);
                                      // file: the scan period (polling, and inotify's safety net)
  WatchMode watch = WatchMode::kAuto;  // file
  double stable_seconds = 5;          // file: size and mtime unchanged this long before it is taken

  std::string output;                 // "LOCATION:pattern"
  nlohmann::json job = nlohmann::json::object();  // POST /v1/jobs fields but input/output

  OnComplete on_complete = OnComplete::kNone;
  std::string move_to;                // on_complete = move: a prefix in the same location
  std::string errors_prefix;          // "": no failure reports

  /// True when `key` (relative to the location) is this rule's: under the prefix, with one of
  /// the suffixes, not a directory marker ("a/"), and no part of it below the watched
  /// directory hidden ('.'-first: temporary files of rsync and browsers, `kiln storage check`).
  bool matches(std::string_view key) const;
  /// The prefix up to its last '/': the directory a folder rule watches, and what {path} is
  /// relative to.
  std::string watched_dir() const;
};

/// The parts of one upload's key that placeholders name.
struct KeyParts {
  std::string key, path, dir, name, stem, ext, version, rule;
};
KeyParts key_parts(const WatchRule& rule, std::string_view key, std::string_view version);

/// `pattern` with its placeholders replaced. kUsage naming an unknown placeholder or an
/// unclosed brace.
Result<std::string> expand(std::string_view pattern, const KeyParts& parts);

/// The POST /v1/jobs body for one upload: input `LOCATION:key`, the output pattern expanded
/// (trailing '/' dropped), the template's fields, string metadata values expanded.
Result<nlohmann::json> job_body(const WatchRule& rule, std::string_view key, std::string_view version);

/// The `[[watch]]` array (absent: none). Errors (kUsage) name the file, the rule (by number and
/// name) and the key: unknown keys, a missing or unknown location, an invalid template (checked
/// as POST /v1/jobs would check it), a trigger that cannot fire, a move_to or errors_prefix
/// inside what the rule watches (moved files would be ingested again).
Result<std::vector<WatchRule>> parse_watch_rules(const toml::table& root, std::string_view origin,
                                                 const storage::Locations& locations);

}  // namespace kiln::coordinator::ingest
