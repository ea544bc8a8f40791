#pragma once
// What happens to an upload after its job: on completion the rule's on_complete (move it to
// move_to, or tag it kiln-status=complete), on failure a report in errors_prefix (and the tag
// kiln-status=failed). The same calls for file:// folders and s3:// buckets. Every action is
// idempotent (a completion loop that died after acting but before recording it acts again):
// a move whose source is gone but whose destination is there is done; a report or a tag is
// written again with the same content. Thread-safe.
//
// Where things go, for key K of rule R ({path} is K below R's watched directory):
//   moved:   R.move_to + {path}              (same location)
//   report:  R.errors_prefix + {path} + ".txt"

#include <cstdint>
#include <string>

#include "storage/s3_clients.hpp"
#include "coordinator/ingest/watch_rule.hpp"
#include "kiln/status.hpp"
#include "storage/location.hpp"

namespace kiln::coordinator::ingest {

/// The upload an action is about.
struct Source {
  std::string key;      // relative to rule.location
  std::string version;  // as in the ledger: an action on a source replaced since does nothing
  int64_t job_id = 0;   // 0: none was made
};

class SourceActions {
 public:
  SourceActions(const storage::Locations& locations, storage::S3Clients& clients) : locations_(locations), clients_(clients) {}

  /// The job completed: move or tag, as the rule says (nothing for none).
  Status completed(const WatchRule& rule, const Source& source) const;
  /// The job was discarded, or no job could be made (`job_id` 0): the report (when the rule has
  /// an errors_prefix) with `reason`, and kiln-status=failed when it tags.
  Status failed(const WatchRule& rule, const Source& source, const std::string& reason) const;

  static std::string moved_key(const WatchRule& rule, const std::string& key);
  static std::string report_key(const WatchRule& rule, const std::string& key);
  /// The report's text: the upload, the rule, the job and the reason, one per line.
  static std::string report_text(const WatchRule& rule, const Source& source, const std::string& reason);

 private:
  Status move_file(const WatchRule& rule, const storage::Location& loc, const Source& source) const;
  Status move_object(const WatchRule& rule, const Source& source) const;
  Status tag_object(const WatchRule& rule, const Source& source, const std::string& status) const;
  Status write(const WatchRule& rule, const std::string& key, const std::string& text) const;

  const storage::Locations& locations_;
  storage::S3Clients& clients_;
};

}  // namespace kiln::coordinator::ingest
