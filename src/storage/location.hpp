#pragma once
// Storage locations: the one place a job's paths may come from. A submitter names an input and
// an output as `file:///abs/path`, `/abs/path` or `NAME:relative/path`; each is resolved
// (symlinks included) and must lie inside a configured `[[location]]`. The coordinator checks
// at submit; the node checks again before it touches a file, so a row written straight into the
// database is held to the same rule.
//
// A location may also be an S3-compatible bucket (`url = "s3://BUCKET/PREFIX"`, with endpoint,
// region, path_style, profile, credential). Those are parsed and checked here, and reached with
// find() and an s3::S3Client; job paths do not resolve into them yet (resolve() refuses them).

#include <optional>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "kiln/status.hpp"
#include "storage/s3/s3_config.hpp"

namespace kiln::storage {

struct Location {
  std::string name;  // [a-z0-9_-], unique; used as `NAME:relative/path`
  std::string url;   // as configured: file:///srv/media or s3://bucket/prefix
  std::string root;  // file: the directory, resolved (symlinks followed) when it exists; s3: ""
  std::optional<s3::S3Config> s3;  // set for an s3:// location

  bool is_s3() const { return s3.has_value(); }
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
  /// The location named `name`, or null.
  const Location* find(std::string_view name) const;

  /// `ref` as an absolute path inside a location, or kPathNotAllowed saying why not: an unknown
  /// location name, a relative path, a `..` component, a path (or a symlink on it) that leads
  /// outside every location. The path need not exist: its existing part is resolved and the
  /// rest appended. An s3:// location's name or an s3:// URL is refused too (not for jobs yet).
  Result<std::string> resolve(std::string_view ref, std::string_view what) const;

  /// Both paths of a job, resolved, and the rules between them: the output is not a location's
  /// root, and never equals or contains the input.
  Result<JobPaths> resolve_job(std::string_view input, std::string_view output) const;

  /// Which location a resolved path lies in, and the path inside it: a file path under a file
  /// location's root, or an `s3://BUCKET/KEY` URL under an S3 location's bucket and prefix.
  /// The most specific location wins when they nest. nullopt: in none.
  struct Place {
    std::string location;
    std::string key;
  };
  std::optional<Place> locate(std::string_view resolved) const;

 private:
  std::vector<Location> list_;
};

/// The `[[location]]` array of a config file (absent: none). Errors (kUsage) name the file and
/// the entry: a missing or duplicate name, a URL that is not `file:///absolute/dir` or
/// `s3://BUCKET[/PREFIX]`, an S3 key on a file location, an invalid endpoint or part size.
Result<Locations> parse_locations(const toml::table& root, std::string_view origin);

}  // namespace kiln::storage
