#pragma once
// Storage locations: the one place a job's paths may come from. A submitter names an input and
// an output as `file:///abs/path`, `/abs/path` or `NAME:relative/path`; each is resolved
// (symlinks included) and must lie inside a configured `[[location]]`. The coordinator checks
// at submit; the node checks again before it touches a file, so a row written straight into the
// database is held to the same rule.
//
// A location may also be an S3-compatible bucket (`url = "s3://BUCKET/PREFIX"`, with endpoint,
// region, path_style, profile, credential, presign_seconds, stream_input). A job path inside one is written
// `NAME:key/under/prefix` or `s3://BUCKET/KEY` and resolves to the canonical `s3://BUCKET/KEY`
// (the full key, no trailing '/'); s3_object() finds the location that holds such a URL. An S3
// location's prefix is a folder: `s3://b/in` and `s3://b/in/` both hold the keys under `in/`.

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
  /// s3: the result of a job published here lists presigned HTTPS URLs valid this long; 0: none.
  int presign_seconds = 0;
  /// s3: how a job reads an input from here. kNever: staged in the node's scratch directory
  /// first (a disk without room is a clear error); kAuto: staged when it fits in the scratch
  /// directory, read through a presigned URL when it does not; kAlways: always read through a
  /// presigned URL (ranged GETs, reconnecting), never staged. Images are always staged.
  enum class StreamInput { kNever, kAuto, kAlways };
  StreamInput stream_input = StreamInput::kNever;

  bool is_s3() const { return s3.has_value(); }
};

/// "never", "auto", "always".
const char* stream_input_name(Location::StreamInput mode);
/// The mode `name` names; kUsage listing the three otherwise.
Result<Location::StreamInput> parse_stream_input(const std::string& name, const std::string& where);

/// An object (or a prefix, for an output) inside an S3 location.
struct S3Object {
  const Location* location = nullptr;  // owned by the Locations it came from
  std::string key;                     // the full key, the location's prefix included
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

  /// `ref` as an absolute path inside a file location, or as `s3://BUCKET/KEY` inside an S3
  /// location; kPathNotAllowed saying why not: an unknown location name, a relative path, a `..`
  /// (or `.`, or empty) component, a path (or a symlink on it) that leads outside every location,
  /// an s3:// URL whose bucket and key lie in no S3 location. A file path need not exist: its
  /// existing part is resolved and the rest appended. S3 keys are taken as written (no %XX).
  Result<std::string> resolve(std::string_view ref, std::string_view what) const;

  /// Both paths of a job, resolved, and the rules between them: the output is not a location's
  /// root, and never equals or contains the input (an output is a folder: a directory, or the
  /// key prefix `KEY/` in a bucket).
  Result<JobPaths> resolve_job(std::string_view input, std::string_view output) const;

  /// The S3 location holding a resolved `s3://BUCKET/KEY` (the one with the longest prefix, so a
  /// location for `s3://b/out/` wins over one for the whole of `s3://b`), and the key.
  /// kPathNotAllowed when none does. The Location lives as long as this Locations.
  Result<S3Object> s3_object(std::string_view url) const;

  /// Which location a resolved path lies in, and the path inside it: a file path under a file
  /// location's root, or an `s3://BUCKET/KEY` URL under an S3 location's bucket and prefix.
  /// The most specific location wins when they nest. nullopt: in none.
  struct Place {
    std::string location;
    std::string key;
  };
  std::optional<Place> locate(std::string_view resolved) const;

 private:
  Result<std::string> resolve_s3(std::string_view url, std::string_view what) const;
  std::vector<Location> list_;
};

/// True for `s3://...`: a job path in object storage.
inline bool is_s3_url(std::string_view ref) { return ref.rfind("s3://", 0) == 0; }

/// The `[[location]]` array of a config file (absent: none). Errors (kUsage) name the file and
/// the entry: a missing or duplicate name, a URL that is not `file:///absolute/dir` or
/// `s3://BUCKET[/PREFIX]`, an S3 key on a file location, an invalid endpoint, part size or
/// presign_seconds, two S3 locations naming one bucket at different endpoints (an s3:// path
/// could not say which store it means).
Result<Locations> parse_locations(const toml::table& root, std::string_view origin);

}  // namespace kiln::storage
