#include "coordinator/ingest/s3_clients.hpp"

#include <fmt/format.h>

namespace kiln::coordinator::ingest {

Result<const storage::s3::S3Client*> S3Clients::get(const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto it = clients_.find(name); it != clients_.end()) return static_cast<const storage::s3::S3Client*>(it->second.get());
  const storage::Location* loc = locations_.find(name);
  if (!loc || !loc->s3) return Status(Code::kUsage, fmt::format("location '{}' is not an s3:// location", name));
  auto client = storage::s3::S3Client::create(*loc->s3);
  if (!client) return Status(client.status().code(), fmt::format("location '{}': {}", name, client.status().message()));
  auto* raw = client->get();
  clients_[name] = std::move(client).value();
  return static_cast<const storage::s3::S3Client*>(raw);
}

}  // namespace kiln::coordinator::ingest
