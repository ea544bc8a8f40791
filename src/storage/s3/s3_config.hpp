#pragma once
// Where an S3-compatible bucket is and how to address it: the `[[location]]` shape
// (`url = "s3://BUCKET/PREFIX"`, endpoint, region, path_style, profile, credential) and its
// resolution against the AWS environment variables into what the client needs.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/status.hpp"
#include "storage/s3/credentials.hpp"

namespace kiln::storage::s3 {

inline constexpr uint64_t kMiB = 1024 * 1024;
inline constexpr uint64_t kMinPartSize = 5 * kMiB;        // S3's floor for every part but the last
inline constexpr uint64_t kMaxPartSize = 5 * 1024 * kMiB;  // and its ceiling
inline constexpr int kMaxParts = 10000;

/// An endpoint URL taken apart: `http://127.0.0.1:9000`, `https://s3.eu-west-1.amazonaws.com`.
struct S3Endpoint {
  std::string scheme;  // "http" or "https"
  std::string host;    // an IPv6 literal keeps its brackets: "[::1]"
  int port = 0;        // 0: the scheme's default

  /// What the Host header carries: "host" or "host:port".
  std::string authority() const;
  /// "scheme://authority", for messages and URLs.
  std::string url() const;
};

/// Parses an endpoint URL (scheme http or https, a host, an optional port, no path, query or
/// user info). kUsage saying what is wrong otherwise.
Result<S3Endpoint> parse_endpoint(std::string_view url);

/// True for an IPv4 or IPv6 literal, or "localhost": hosts where virtual-host addressing
/// (BUCKET.host) cannot resolve, so the AWS SDKs use path-style there.
bool host_needs_path_style(std::string_view host);

/// One S3 location as configured. Empty strings mean "from the environment, else the default".
struct S3Config {
  std::string bucket;
  std::string prefix;            // without a leading '/'; "" for the whole bucket
  std::string endpoint;          // "": AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS for the region
  std::string region;            // "": AWS_REGION, AWS_DEFAULT_REGION, else us-east-1
  std::optional<bool> path_style;  // unset: automatic (see host_needs_path_style)
  CredentialSource credentials;
  uint64_t part_size = 8 * kMiB;  // multipart part size; objects above it are uploaded in parts
  int concurrency = 4;            // parts in flight at once

  /// `prefix` joined with `relative` ("videos/" + "a.mp4"), never a leading '/'.
  std::string key(std::string_view relative) const;
};

/// `s3://BUCKET` or `s3://BUCKET/PREFIX` into bucket and prefix (a prefix keeps what it says;
/// "s3://b/p" and "s3://b/p/" differ as S3 prefixes do). kUsage for another scheme, an empty
/// or invalid bucket name (3-63 of a-z 0-9 . -), or '..' / '//' in the prefix.
Result<S3Config> parse_s3_url(std::string_view url);

/// Everything resolved: the endpoint, region, addressing and credentials the client signs with.
struct S3Target {
  S3Endpoint endpoint;
  std::string region;
  bool path_style = false;
  std::string bucket;
  Credentials credentials;
};

/// Resolves `config` against `env` (see the fields' comments and credentials.hpp for order).
Result<S3Target> resolve_target(const S3Config& config, const Env& env);

}  // namespace kiln::storage::s3
