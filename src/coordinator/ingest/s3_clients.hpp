#pragma once
// One S3 client per s3:// location, made on first use (credentials are looked up then, so a
// coordinator starts without them and says what is missing when a rule needs them).
// Thread-safe: the poller, the actions and the API share one.

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "kiln/status.hpp"
#include "storage/location.hpp"
#include "storage/s3/s3_client.hpp"

namespace kiln::coordinator::ingest {

class S3Clients {
 public:
  explicit S3Clients(const storage::Locations& locations) : locations_(locations) {}

  /// The client of location `name` (an s3:// one); kUsage when it is not one or its
  /// credentials are missing (not cached: the next call tries again). The client lives as
  /// long as this object.
  Result<const storage::s3::S3Client*> get(const std::string& name);

 private:
  const storage::Locations& locations_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<storage::s3::S3Client>> clients_;
};

}  // namespace kiln::coordinator::ingest
