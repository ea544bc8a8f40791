#include "support/s3_ladder.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace kiln::test {
namespace fs = std::filesystem;
using storage::s3::S3Client;

std::unique_ptr<S3Client> s3_client(const std::string& endpoint, const std::string& bucket) {
  storage::s3::ClientOptions o;
  o.target.endpoint = *storage::s3::parse_endpoint(endpoint);
  o.target.region = "us-east-1";
  o.target.path_style = true;
  o.target.bucket = bucket;
  o.target.credentials = {S3rver::kAccessKey, storage::s3::Secret(S3rver::kSecret), storage::s3::Secret(), "test"};
  o.retry = {3, std::chrono::milliseconds(10), std::chrono::milliseconds(50)};
  return std::make_unique<S3Client>(o);
}

std::vector<std::string> s3_keys(const S3Client& client, const std::string& prefix) {
  auto listed = client.list(prefix);
  EXPECT_TRUE(listed) << listed.status().message();
  std::vector<std::string> out;
  if (listed)
    for (const auto& o : *listed) out.push_back(o.key.substr(prefix.size()));
  return out;
}

namespace {

std::string dir_of(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash + 1);
}

/// The URIs a playlist names: lines that are not tags, and URI="..." attributes.
std::vector<std::string> playlist_uris(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::regex uri("URI=\"([^\"]+)\"");
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] != '#') {
      out.push_back(line);
      continue;
    }
    std::smatch m;
    if (std::regex_search(line, m, uri)) out.push_back(m[1]);
  }
  return out;
}

/// Every object the MPD names: each Representation's init and each of its media segments.
std::vector<std::string> mpd_objects(const std::string& mpd) {
  std::vector<std::string> out;
  std::regex rep("<Representation id=\"([^\"]+)\"([\\s\\S]*?)</Representation>");
  std::regex init("initialization=\"([^\"]+)\"");
  std::regex media("media=\"([^\"]+)\"");
  std::regex s("<S (?:t=\"\\d+\" )?d=\"\\d+\"(?: r=\"(\\d+)\")? />");
  auto fill = [](std::string tmpl, const std::string& id, int number) {
    tmpl = std::regex_replace(tmpl, std::regex("\\$RepresentationID\\$"), id);
    char n[16];
    std::snprintf(n, sizeof n, "%05d", number);
    return std::regex_replace(tmpl, std::regex("\\$Number%05d\\$"), n);
  };
  for (auto it = std::sregex_iterator(mpd.begin(), mpd.end(), rep); it != std::sregex_iterator(); ++it) {
    const std::string id = (*it)[1], body = (*it)[2];
    std::smatch i, m;
    if (body.find("http://dashif.org/thumbnail_tile") != std::string::npos) {
      // The storyboard's template sits on its adaptation set: its first sprite must exist.
      std::smatch t;
      if (!std::regex_search(mpd, t, std::regex("contentType=\"image\"[^>]*>\\s*<SegmentTemplate media=\"([^\"]+)\"")))
        out.push_back("<no SegmentTemplate for the thumbnails>");
      else
        out.push_back(std::regex_replace(std::string(t[1]), std::regex("\\$Number%04d\\$"), "0001"));
      continue;
    }
    if (!std::regex_search(body, i, init) || !std::regex_search(body, m, media)) {
      out.push_back("<no SegmentTemplate for " + id + ">");
      continue;
    }
    out.push_back(fill(i[1], id, 0));
    int segments = 0;
    for (auto t = std::sregex_iterator(body.begin(), body.end(), s); t != std::sregex_iterator(); ++t)
      segments += 1 + ((*t)[1].matched ? std::stoi((*t)[1]) : 0);
    for (int n = 1; n <= segments; ++n) out.push_back(fill(m[1], id, n));
  }
  return out;
}

}  // namespace

std::vector<std::string> s3_missing_references(const S3Client& client, const std::string& prefix) {
  std::vector<std::string> missing;
  auto keys = s3_keys(client, prefix);
  const std::set<std::string> have(keys.begin(), keys.end());
  auto check = [&](const std::string& manifest, const std::string& rel) {
    if (!have.count(rel)) missing.push_back(manifest + " names missing " + rel);
    return have.count(rel) > 0;
  };
  if (have.count("master.m3u8")) {
    auto master = client.get(prefix + "master.m3u8");
    if (master) {
      for (const auto& playlist : playlist_uris(*master)) {
        if (!check("master.m3u8", playlist)) continue;
        auto text = client.get(prefix + playlist);
        if (!text) {
          missing.push_back(playlist + " vanished: " + text.status().message());
          continue;
        }
        for (const auto& uri : playlist_uris(*text)) check(playlist, dir_of(playlist) + uri);
      }
    }
  }
  if (have.count("manifest.mpd")) {
    auto mpd = client.get(prefix + "manifest.mpd");
    if (mpd)
      for (const auto& rel : mpd_objects(*mpd)) check("manifest.mpd", rel);
  }
  return missing;
}

void s3_download_prefix(const S3Client& client, const std::string& prefix, const fs::path& dir) {
  for (const auto& rel : s3_keys(client, prefix)) {
    fs::create_directories((dir / rel).parent_path());
    auto got = client.download_to_file(prefix + rel, (dir / rel).string());
    EXPECT_TRUE(got) << rel << ": " << got.status().message();
  }
}

}  // namespace kiln::test
