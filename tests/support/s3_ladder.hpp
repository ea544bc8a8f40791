#pragma once
// A published ladder in a bucket, as a reader sees it: the objects under an output, what its
// manifests name, and a local copy for check_ladder(). Links against kiln_core's S3 client.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "storage/s3/s3_client.hpp"
#include "support/s3rver.hpp"

namespace kiln::test {

/// A client for `bucket` on the test server (or at `endpoint`, e.g. a proxy in front of it):
/// path-style, s3rver's credentials, a few quick retries.
std::unique_ptr<storage::s3::S3Client> s3_client(const std::string& endpoint, const std::string& bucket);

/// The keys under `prefix`, relative to it, in key order.
std::vector<std::string> s3_keys(const storage::s3::S3Client& client, const std::string& prefix);

/// What a reader of the manifests published under `prefix` ("out/") would miss: one line for
/// each object that the multivariant playlist, a media playlist or the MPD names and that does
/// not exist (a manifest naming a missing media playlist counts too). Empty when every
/// published manifest is whole, and when no manifest is published at all.
std::vector<std::string> s3_missing_references(const storage::s3::S3Client& client, const std::string& prefix);

/// Every object under `prefix`, downloaded into `dir` with the same relative layout.
void s3_download_prefix(const storage::s3::S3Client& client, const std::string& prefix,
                        const std::filesystem::path& dir);

}  // namespace kiln::test
