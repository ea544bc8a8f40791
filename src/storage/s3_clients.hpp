#pragma once
// One S3 client per S3 location, made on first use and kept (a client holds its connections
// for reuse). The node and the coordinator (API, ingest) reach buckets through it. Credentials
// are looked up on first use, not at start, and a failure is not kept: the next call tries again.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "kiln/status.hpp"
#include "storage/location.hpp"
#include "storage/s3/s3_client.hpp"

namespace kiln::storage {

/// Thread-safe. `locations` must outlive it.
class S3Clients {
 public:
  explicit S3Clients(const Locations& locations, s3::Env env = s3::process_env())
      : locations_(locations), env_(std::move(env)) {}

  /// The client of S3 location `location` (one of `locations`). kUsage when its credentials
  /// cannot be found or a setting is invalid (the message says which location).
  Result<std::shared_ptr<const s3::S3Client>> client(const Location& location);
  /// The same by location name; kUsage when no S3 location has that name.
  Result<std::shared_ptr<const s3::S3Client>> client(const std::string& name);

  struct Opened {
    std::shared_ptr<const s3::S3Client> client;
    S3Object object;
  };
  /// The client and key for a resolved `s3://BUCKET/KEY`; kPathNotAllowed outside every S3
  /// location.
  Result<Opened> open(std::string_view url);

 private:
  const Locations& locations_;
  s3::Env env_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const s3::S3Client>> clients_;  // by location name
};

}  // namespace kiln::storage
