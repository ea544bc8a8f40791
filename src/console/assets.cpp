#include "console/assets.hpp"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "console/headers.hpp"

namespace kiln::console {
namespace fs = std::filesystem;
namespace {

const char* type_of(const fs::path& p) {
  static const std::map<std::string, const char*> kTypes = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"}, {".png", "image/png"}, {".json", "application/json"},
      {".webmanifest", "application/manifest+json"}, {".txt", "text/plain; charset=utf-8"}};
  auto it = kTypes.find(p.extension().string());
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

std::string digest(const std::string& bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  std::string hex;
  for (int i = 0; i < 12; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

}  // namespace

Result<Assets> Assets::load(const std::string& dir) {
  std::error_code ec;
  if (dir.empty() || !fs::is_regular_file(fs::path(dir) / "index.html", ec))
    return Status(Code::kIo, fmt::format("console assets not found in '{}' (no index.html): install them with the binary "
                                         "or set [console] assets", dir));
  Assets a;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file() || it->is_symlink()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    Asset asset{buf.str(), type_of(it->path()), ""};
    asset.etag = "\"" + digest(asset.body) + "\"";
    a.files_[fs::relative(it->path(), dir).generic_string()] = std::move(asset);
  }
  if (ec) return Status(Code::kIo, fmt::format("reading console assets in '{}': {}", dir, ec.message()));
  return a;
}

const Asset* Assets::find(const std::string& rel) const {
  auto it = files_.find(rel);
  return it == files_.end() ? nullptr : &it->second;
}

void Assets::serve(const std::string& rel, const httplib::Request& req, httplib::Response& res) const {
  security_headers(res);
  const Asset* a = find(rel);
  if (!a) {
    res.status = 404;
    res.set_content("not found\n", "text/plain");
    return;
  }
  bool pinned = req.has_param("v") && "\"" + req.get_param_value("v") + "\"" == a->etag;
  res.set_header("Cache-Control", pinned ? "public, max-age=31536000, immutable" : "no-cache");
  res.set_header("ETag", a->etag);
  if (req.get_header_value("If-None-Match") == a->etag) {
    res.status = 304;
    return;
  }
  res.set_content(a->body, a->type);
}

std::string Assets::versioned_url(const std::string& rel) const {
  const Asset* a = find(rel);
  return "/console/assets/" + rel + (a ? "?v=" + a->etag.substr(1, a->etag.size() - 2) : "");
}

std::string find_assets_dir(const std::string& configured) {
  if (!configured.empty()) return configured;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  for (fs::path candidate : {exe.parent_path() / "console", exe.parent_path().parent_path() / "share/kiln/console"})
    if (fs::is_regular_file(candidate / "index.html", ec)) return candidate.string();
  return (exe.parent_path().parent_path() / "share/kiln/console").string();
}

}  // namespace kiln::console
