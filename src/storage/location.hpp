#pragma once
// Storage locations: the one place a job's paths may come from. A submitter names an input and
// an output as `file:///abs/path`, `/abs/path` or `NAME:relative/path`; each is resolved
// (symlinks included) and must lie inside a configured `[[location]]`. The coordinator checks
// at submit; the node checks again before it touches a file, so a row written straight into the
// database is held to the same rule. Object-storage kinds plug into the same table later.

#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "kiln/status.hpp"

namespace kiln::storage {

struct Location {
  std::string name;  // [a-z0-9_-], unique; used as `NAME:relative/path`
  std::string url;   // as configured: file:///srv/media
  std::string root;  // the directory, resolved (symlinks followed) when it exists
};

/// A job's input and output, both resolved inside locations.
struct JobPaths {
  std::string input;
  std::string output;
};

class Locations {
 public:
  Locations() = default;
  explicit Locations(std::vector<Location> list) : list_(std::move(list)) {}

  bool empty() const { return list_.empty(); }
  const std::vector<Location>& list() const { return list_; }

  /// `ref` as an absolute path inside a location, or kPathNotAllowed saying why not: an unknown
  /// location name, a relative path, a `..` component, a path (or a symlink on it) that leads
  /// outside every location. The path need not exist: its existing part is resolved and the
  /// rest appended.
  Result<std::string> resolve(std::string_view ref, std::string_view what) const;

  /// Both paths of a job, resolved, and the rules between them: the output is not a location's
  /// root, and never equals or contains the input.
  Result<JobPaths> resolve_job(std::string_view input, std::string_view output) const;

 private:
  std::vector<Location> list_;
};

/// The `[[location]]` array of a config file (absent: none). Errors (kUsage) name the file and
/// the entry: a missing or duplicate name, a URL that is not `file:///absolute/dir`.
Result<Locations> parse_locations(const toml::table& root, std::string_view origin);

}  // namespace kiln::storage
