#include "storage/s3_clients.hpp"

#include <fmt/format.h>

namespace kiln::storage {

Result<std::shared_ptr<const s3::S3Client>> S3Clients::client(const Location& location) {
  if (!location.is_s3())
    return Status(Code::kInternal, fmt::format("location '{}' is not object storage", location.name));
  std::lock_guard lock(mu_);
  if (auto it = clients_.find(location.name); it != clients_.end()) return it->second;
  auto made = s3::S3Client::create(*location.s3, env_);
  if (!made)
    return Status(made.status().code(), fmt::format("location '{}': {}", location.name, made.status().message()));
  std::shared_ptr<const s3::S3Client> shared = std::move(made).value();
  clients_.emplace(location.name, shared);
  return shared;
}

Result<std::shared_ptr<const s3::S3Client>> S3Clients::client(const std::string& name) {
  const Location* location = locations_.find(name);
  if (!location || !location->is_s3())
    return Status(Code::kUsage, fmt::format("location '{}' is not an s3:// location", name));
  return client(*location);
}

Result<S3Clients::Opened> S3Clients::open(std::string_view url) {
  auto object = locations_.s3_object(url);
  if (!object) return object.status();
  auto c = client(*object->location);
  if (!c) return c.status();
  return Opened{std::move(c).value(), std::move(object).value()};
}

}  // namespace kiln::storage
